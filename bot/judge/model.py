"""The fitted answerability model: features of a (question, sentence) pair -> the probability
that the sentence answers the question. Fitted by `python -m evals fit-judge` (`evals.fit_judge`),
which writes `answer_model.json`; inference here is numpy only.

Two kinds are compared when fitting and the better on held-out data ships: a logistic regression
on standardised features, and gradient-boosted trees (scikit-learn's histogram boosting, exported
as arrays). Either one's raw score is calibrated with Platt scaling on held-out articles, so the
probability can be read as "how often a sentence scored like this held the answer".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

import numpy as np

from bot.judge.features import FEATURES

MODEL_FILE = Path(__file__).with_name("answer_model.json")


@dataclass(frozen=True)
class AnswerModel:
    kind: str  # "logistic" or "trees"
    params: dict
    calibration: tuple[float, float]  # Platt scaling: p = sigmoid(a * score + b)
    threshold: float = 0.5  # answer when the best sentence's probability reaches this
    floor: float = 0.0  # the "rules" policy: a sentence the rules accept must reach this probability
    kind_floor: float = 0.0  # the "rules" policy: the least `decision.kind_probability` of an answer
    about: dict = field(default_factory=dict)  # how it was fitted and its held-out metrics

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        a, b = self.calibration
        return 1.0 / (1.0 + np.exp(-(a * self.score(rows) + b)))

    def score(self, rows: np.ndarray) -> np.ndarray:
        if self.kind == "logistic":
            mean, scale, weights = self._arrays
            return ((rows - mean) / scale) @ weights + self.params["bias"]
        return _tree_scores(self.params["baseline"], self._arrays, rows)

    @cached_property
    def _arrays(self) -> list:
        """The parameters as numpy arrays: converted from JSON's lists once, not at every question."""
        if self.kind == "logistic":
            return [np.asarray(self.params[key], dtype=np.float64) for key in ("mean", "scale", "weights")]
        return [
            (
                np.asarray(tree["feature"]),
                np.asarray(tree["threshold"]),
                np.asarray(tree["left"]),
                np.asarray(tree["right"]),
                np.asarray(tree["leaf"], dtype=bool),
                np.asarray(tree["value"]),
                tree["depth"],
            )
            for tree in self.params["trees"]
        ]


def _tree_scores(baseline: float, trees: list, rows: np.ndarray) -> np.ndarray:
    """Sum of every tree's leaf value for each row (scikit-learn's HistGradientBoosting layout:
    a node is a leaf or sends a row left when its feature is <= the threshold; NaN goes its
    `missing_go_to_left` way, never reached here since features are never NaN)."""
    total = np.full(len(rows), baseline, dtype=np.float64)
    every_row = np.arange(len(rows))
    for feature, threshold, left, right, leaf, value, depth in trees:
        node = np.zeros(len(rows), dtype=np.int64)
        for _ in range(depth):
            inner = ~leaf[node]
            if not inner.any():
                break
            goes_left = rows[every_row, feature[node]] <= threshold[node]
            node = np.where(inner, np.where(goes_left, left[node], right[node]), node)
        total += value[node]
    return total


@lru_cache(maxsize=1)
def load_model(path: Path = MODEL_FILE) -> AnswerModel:
    data = json.loads(path.read_text(encoding="utf-8"))
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path} was fitted on other features: run `python -m evals fit-judge`")
    calibration = (float(data["calibration"][0]), float(data["calibration"][1]))
    return AnswerModel(
        data["kind"],
        data["params"],
        calibration,
        float(data["threshold"]),
        float(data.get("floor", 0.0)),
        float(data.get("kind_floor", 0.0)),
        data["about"],
    )
