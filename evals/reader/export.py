"""Export a trained ReaderNet to ONNX and quantise it to int8 for onnxruntime."""

from __future__ import annotations

from pathlib import Path

FP32_NAME = "reader-fp32.onnx"
INT8_NAME = "reader-int8.onnx"


def export_reader(net, out: Path, max_length: int) -> Path:
    """Write ``reader-fp32.onnx`` and ``reader-int8.onnx`` (dynamic int8 weights) in ``out``."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    net.eval()
    embeds = torch.zeros(2, 16, net.pos.weight.shape[1])
    mask = torch.ones(2, 16)
    fp32 = out / FP32_NAME
    torch.onnx.export(
        net,
        (embeds, mask),
        str(fp32),
        input_names=["embeds", "mask"],
        output_names=["token_logits", "passage_logit"],
        dynamic_axes={
            "embeds": {0: "batch", 1: "length"},
            "mask": {0: "batch", 1: "length"},
            "token_logits": {0: "batch", 1: "length"},
            "passage_logit": {0: "batch"},
        },
        opset_version=17,
        dynamo=False,
    )
    int8 = out / INT8_NAME
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    return int8
