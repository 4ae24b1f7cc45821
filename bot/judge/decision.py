"""From the features and the model's probabilities to a decision: answer with the best sentences, or
abstain and say why, in counts by reason, so a refusal can be read without the model.

Three policies (`RAGBOT_JUDGE`):
- "reader": the rules' first `READ_TOP` candidates are read by the reader, a
  cross-encoder that reads question and sentence together (`bot.judge.reader`). Of those the rules'
  vetoes let through, the one the reader finds likeliest to answer comes first; the answer is
  refused when the model gives every one of them less than its floor (as for "rules").
  It chooses the answering sentence far better on SQuAD, but not on news or the seed sets, and
  refuses less of what the sources cannot answer: see the README's numbers.
- "rules" (the default): a sentence answers when the hand-written rules accept it (`rule_answers`)
  and it holds an answer of the kind asked for (`kind_probability` reaches the fitted kind floor: a
  "which country" question is not answered by a sentence naming no country the question does not
  already name), ranked by the rules' support score, unless the model gives every such sentence
  less than its fitted floor (a probability the rules' right answers almost never have); the
  model's calibrated probability is reported as confidence.
- "model": a sentence answers when the model's probability reaches the fitted threshold, ranked
  by that probability. On real news it refuses far more of what the sources cannot answer; on the
  seed eval sets it loses answers the rules were written for. See the README's numbers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from bot.judge.candidates import Candidate
from bot.judge.features import FEATURES

POLICIES = ("reader", "rules", "model")
KEEP_WITHIN = {"reader": 0.15, "rules": 0.12, "model": 0.15}  # further sentences must score this close
READ_TOP = 12  # candidates the reader reads, in the rules' order: each is a pass of the cross-encoder
ANSWER_BONUS = 0.2  # "rules": a sentence the rules accept ranks its passage above those they refuse
REASONS_OF_TOP = 10  # refusal reasons are counted over the best candidates
WRONG_KIND_BELOW = 0.5  # a refused sentence this unlikely to hold the kind asked for is said to lack it
_COLUMN = {name: i for i, name in enumerate(FEATURES)}

UNKNOWN = "names something the sources never mention"
WRONG_KIND = "holds no answer of the kind asked for"
OFF_TOPIC = "is not about what was asked"
NOTHING_ASKED = "the question has nothing to look for"
UNLIKELY = "the fitted model finds it very unlikely to answer"


@dataclass(frozen=True)
class Judgement:
    ranked: list[tuple[Candidate, float]]  # candidates by the policy's score, best first
    evidence: list[Candidate]  # the sentences an answer may quote, best first; empty: abstain
    confidence: float  # the model's probability that the best sentence answers
    reasons: Counter = field(default_factory=Counter)  # why, when it abstains
    # The accepted sentences the calibrated model also gives at least its threshold, best first: sure
    # enough to weigh one source's answer against another's (`bot.timeline.arrange`).
    probable: list[Candidate] = field(default_factory=list)

    @property
    def answers(self) -> bool:
        return bool(self.evidence)


def decide(
    found: list[Candidate],
    rows: np.ndarray,
    probabilities: np.ndarray,
    threshold: float,
    policy: str,
    floor: float = 0.0,
    reads: np.ndarray | None = None,
    kind_floor: float = 0.0,
) -> Judgement:
    """`threshold`: the "model" policy's; `floor` and `kind_floor`: the "rules" policy's (`floor` the
    "reader" policy's too); `reads`: the reader's probabilities, NaN where it did not read (see the
    module docstring)."""
    if not found:
        return Judgement([], [], 0.0, Counter({NOTHING_ASKED: 1}))
    if policy == "reader":
        assert reads is not None, "the reader policy needs the reader's probabilities"
        return _decide_by_reader(found, rows, probabilities, threshold, floor, reads)
    if policy == "rules":
        accepted, scores = rules_accept(rows, kind_floor), _rules_scores(rows)
    else:
        accepted, scores = probabilities >= threshold, probabilities
    order = np.argsort(-scores, kind="stable")
    ranked = [(found[i], float(scores[i])) for i in order]
    answering = [i for i in order if accepted[i]]
    if answering and policy == "rules" and probabilities[accepted].max() < floor:
        # The rules accept sentences, but the model all but rules out every one of them.
        return Judgement(ranked, [], float(probabilities.max()), Counter({UNLIKELY: len(answering)}))
    if not answering:
        reasons = Counter(refusal_reason(rows[i], kind_floor) for i in order[:REASONS_OF_TOP])
        return Judgement(ranked, [], float(probabilities.max()), reasons)
    best = scores[answering[0]]
    evidence = [found[i] for i in answering if scores[i] >= best - KEEP_WITHIN[policy]]
    probable = [found[i] for i in answering if probabilities[i] >= threshold]
    return Judgement(ranked, evidence, float(probabilities[answering[0]]), probable=probable)


def rules_accept(rows: np.ndarray, kind_floor: float) -> np.ndarray:
    """The sentences the "rules" policy may quote, before the model's floor: the hand-written rules
    accept them and they hold an answer of the kind asked for."""
    return (rows[:, _COLUMN["rule_answers"]] > 0) & (kind_probability(rows) >= kind_floor)


def rules_order(rows: np.ndarray) -> np.ndarray:
    """Candidates by the rules' score, best first: those they accept, then by their support."""
    return np.argsort(-_rules_scores(rows), kind="stable")


def _rules_scores(rows: np.ndarray) -> np.ndarray:
    return rows[:, _COLUMN["rule_support"]] + ANSWER_BONUS * (rows[:, _COLUMN["rule_answers"]] > 0)


def readable(rows: np.ndarray) -> np.ndarray:
    """Candidates the reader may choose: every name the question uses is in the sentence's section,
    and it asks about nothing the sources never mention (the rules' vetoes that the reader, reading
    one sentence, cannot see)."""
    return (rows[:, _COLUMN["entities_found"]] > 0) & (rows[:, _COLUMN["unknown_noun"]] == 0)


def _decide_by_reader(found, rows, probabilities, threshold, floor, reads) -> Judgement:
    order, scores = rules_order(rows), _rules_scores(rows)
    ranked = [(found[i], float(scores[i])) for i in order]
    eligible = readable(rows) & ~np.isnan(reads)
    if not eligible.any():
        reasons = Counter(refusal_reason(rows[i]) for i in order[:REASONS_OF_TOP])
        return Judgement(ranked, [], float(probabilities.max()), reasons)
    by_reader = sorted(np.flatnonzero(eligible), key=lambda i: -reads[i])
    best = by_reader[0]
    if probabilities[eligible].max() < floor:
        return Judgement(ranked, [], float(probabilities.max()), Counter({UNLIKELY: len(by_reader)}))
    evidence = [found[i] for i in by_reader if reads[i] >= reads[best] - KEEP_WITHIN["reader"]]
    probable = [found[i] for i in by_reader if probabilities[i] >= threshold and found[i] in evidence]
    return Judgement(ranked, evidence, float(probabilities[best]), probable=probable)


def kind_probability(rows: np.ndarray) -> np.ndarray:
    """The probability that each sentence holds an answer of the kind asked for: that the answer is
    no named entity at all, plus that it is of a kind among the entities the sentence holds and the
    question does not name (`bot.judge.features.type_match`)."""
    return rows[..., _COLUMN["answer_not_entity"]] + rows[..., _COLUMN["type_match"]]


def refusal_reason(row: np.ndarray, kind_floor: float = 0.0) -> str:
    """Why a sentence does not answer, read from its features, most telling first."""
    if row[_COLUMN["unknown_noun"]] or not row[_COLUMN["entities_found"]]:
        return UNKNOWN
    if kind_probability(row) < max(kind_floor, WRONG_KIND_BELOW):
        return WRONG_KIND
    return OFF_TOPIC
