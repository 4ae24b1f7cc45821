"""From the model's probabilities to a decision: answer with the best sentences, or abstain and
say why, in counts by reason, so a refusal can be read without the model."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from bot.judge.candidates import Candidate
from bot.judge.features import FEATURES

KEEP_WITHIN = 0.15  # further sentences must be this close to the best one's probability
REASONS_OF_TOP = 10  # refusal reasons are counted over the best candidates
_COLUMN = {name: i for i, name in enumerate(FEATURES)}

UNKNOWN = "names something the sources never mention"
WRONG_KIND = "holds no answer of the kind asked for"
OFF_TOPIC = "is not about what was asked"
NOTHING_ASKED = "the question has nothing to look for"


@dataclass(frozen=True)
class Judgement:
    ranked: list[tuple[Candidate, float]]  # candidates by probability, best first
    threshold: float
    reasons: Counter = field(default_factory=Counter)  # why, when it abstains

    @property
    def confidence(self) -> float:
        return self.ranked[0][1] if self.ranked else 0.0

    @property
    def answers(self) -> bool:
        return self.confidence >= self.threshold

    def evidence(self) -> list[Candidate]:
        """The sentences an answer may quote: above the threshold and near the best one."""
        floor = max(self.threshold, self.confidence - KEEP_WITHIN)
        return [c for c, p in self.ranked if p >= floor]


def decide(
    found: list[Candidate], rows: np.ndarray, probabilities: np.ndarray, threshold: float
) -> Judgement:
    order = np.argsort(-probabilities, kind="stable")
    ranked = [(found[i], float(probabilities[i])) for i in order]
    judgement = Judgement(ranked, threshold)
    if judgement.answers:
        return judgement
    reasons = Counter(refusal_reason(rows[i]) for i in order[:REASONS_OF_TOP])
    return Judgement(ranked, threshold, reasons or Counter({NOTHING_ASKED: 1}))


def refusal_reason(row: np.ndarray) -> str:
    """Why a sentence does not answer, read from its features, most telling first."""
    if row[_COLUMN["unknown_noun"]] or not row[_COLUMN["entities_found"]]:
        return UNKNOWN
    wants_entity = 1.0 - row[_COLUMN["answer_not_entity"]]
    if wants_entity >= 0.5 and row[_COLUMN["type_match"]] < 0.5 * wants_entity:
        return WRONG_KIND
    return OFF_TOPIC
