"""When to refuse: a logistic model over how completely the evidence covers the question.

The features (see ExtractiveAnswerer._features) say whether the question's terms,
numbers and names occur in the best sentence, its neighbour and its article, and
whether the expected answer type is there. The weights and the threshold are fitted
on the seed QA set by ``python -m evals.calibrate``, which writes calibration.json;
nothing here is guessed by hand.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class LogisticModel:
    """sigmoid(bias + sum of weight x standardised feature): the refusal and answerability models."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def probability(self, features: dict[str, float]) -> float:
        """Estimated probability that the articles answer the question."""
        z = self.bias
        for name, mu, sd, w in zip(self.features, self.mean, self.scale, self.weights, strict=True):
            z += w * (float(features.get(name, 0.0)) - mu) / (sd or 1.0)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def to_json(self) -> dict:
        return {
            "features": list(self.features),
            "mean": list(self.mean),
            "scale": list(self.scale),
            "weights": list(self.weights),
            "bias": self.bias,
        }

    @staticmethod
    def fields_from_json(data: dict) -> dict:
        return {
            "features": tuple(data["features"]),
            "mean": tuple(float(x) for x in data["mean"]),
            "scale": tuple(float(x) for x in data["scale"]),
            "weights": tuple(float(x) for x in data["weights"]),
            "bias": float(data["bias"]),
        }


@dataclass(frozen=True)
class RefusalModel(LogisticModel):
    threshold: float = 0.0

    def to_json(self) -> dict:
        return {**super().to_json(), "refusal_threshold": self.threshold}

    @classmethod
    def from_json(cls, data: dict) -> RefusalModel:
        return cls(**cls.fields_from_json(data), threshold=float(data["refusal_threshold"]))


def load_calibration() -> dict:
    text = (
        resources.files("assistant.answering")
        .joinpath("calibration.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


def default_model() -> RefusalModel:
    return RefusalModel.from_json(load_calibration())
