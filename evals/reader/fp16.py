"""Store a float32 ONNX graph's large weights as float16, cast back to float32 at load.

Halves the file (the reader ships ≤ 30 MB) while the arithmetic stays float32: onnxruntime
folds the casts into float32 constants when it builds the session, so scores match the
torch model to within float16 rounding of the weights.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MIN_ELEMENTS = 1024  # small tensors (biases, norms) stay float32


def to_fp16_storage(src: Path, dst: Path) -> None:
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != onnx.TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(init)
        if arr.size < MIN_ELEMENTS:
            continue
        name = init.name
        half = numpy_helper.from_array(arr.astype(np.float16), name=f"{name}__fp16")
        init.CopyFrom(half)
        casts.append(helper.make_node("Cast", [f"{name}__fp16"], [name], to=onnx.TensorProto.FLOAT))
    for node in reversed(casts):
        graph.node.insert(0, node)
    onnx.save(model, str(dst))
