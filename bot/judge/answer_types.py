"""The kinds of entity a question's answer may be, learned from SQuAD 1.1 (see `evals.fit_types`).

For each question key (wh-word and focus noun, `QuestionAnalysis.key`) the table holds how often
the answer was a PERSON, an ORG, a DATE, ... or no entity at all (NONE). "which automaker" may be
missing from the table while "which company" is there: an unseen focus noun borrows from the focus
nouns closest to it in the embedder's space, and a question without a focus uses its wh-word alone.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from bot.judge.question import QuestionAnalysis

log = logging.getLogger(__name__)

TABLE_FILE = Path(__file__).with_name("answer_types.json")
VECTORS_FILE = Path(__file__).with_name("answer_type_vectors.npy")
NONE = "NONE"
PRIOR_WEIGHT = 2.0  # pseudo-counts of the wh-word's distribution added to a focus noun's counts
NEIGHBOURS = 5
MIN_NEIGHBOUR_SIMILARITY = 0.5  # below this, a focus noun is not like any the table knows
NEIGHBOUR_COUNTS = 4.0  # what the neighbours' shares weigh, in questions, against the wh-word's prior


@dataclass(frozen=True)
class AnswerTypes:
    labels: tuple[str, ...]
    counts: dict[str, np.ndarray]  # question key -> answer label counts
    model: str  # the embedder the focus vectors came from
    focus_words: tuple[str, ...]
    focus_vectors: np.ndarray

    def distribution(
        self, analysis: QuestionAnalysis, embed: Callable[[list[str]], np.ndarray]
    ) -> np.ndarray:
        """P(answer label | question), over `labels`."""
        prior = self._smoothed(self.counts.get(f"{analysis.wh}|"), self._overall())
        if not analysis.focus:
            return prior
        counts = self.counts.get(analysis.key)
        if counts is None:
            counts = self._neighbour_counts(analysis, embed)
        return prior if counts is None else self._smoothed(counts, prior)

    def _neighbour_counts(self, analysis: QuestionAnalysis, embed) -> np.ndarray | None:
        rows = [i for i, word in enumerate(self.focus_words) if word.startswith(f"{analysis.wh}|")]
        if not rows:
            return None
        vector = embed([analysis.focus])[0]
        similarity = self.focus_vectors[rows].astype(np.float32) @ vector
        best = np.argsort(-similarity)[:NEIGHBOURS]
        best = best[similarity[best] >= MIN_NEIGHBOUR_SIMILARITY]
        if not len(best):
            return None
        neighbours = [self.counts[self.focus_words[rows[i]]] for i in best]
        shares = [c / c.sum() for c in neighbours]
        return np.average(shares, axis=0, weights=similarity[best]) * NEIGHBOUR_COUNTS

    def _overall(self) -> np.ndarray:
        total = np.sum([c for key, c in self.counts.items() if key.endswith("|")], axis=0)
        return total / total.sum()

    @staticmethod
    def _smoothed(counts: np.ndarray | None, prior: np.ndarray) -> np.ndarray:
        if counts is None:
            return prior
        return (counts + PRIOR_WEIGHT * prior) / (counts.sum() + PRIOR_WEIGHT)


@lru_cache(maxsize=1)
def load_answer_types(model: str) -> AnswerTypes:
    """The shipped table; its focus-noun neighbours only work for the embedder they were made with."""
    table = json.loads(TABLE_FILE.read_text(encoding="utf-8"))
    words = tuple(table["focus_words"])
    vectors = np.load(VECTORS_FILE) if table["model"] == model else np.zeros((0, 0), dtype=np.float16)
    if table["model"] != model:
        log.warning(
            "answer-type neighbours were fitted with %s, not %s: unseen nouns use the wh-word",
            table["model"],
            model,
        )
        words = ()
    return AnswerTypes(
        labels=tuple(table["labels"]),
        counts={key: np.asarray(c, dtype=np.float64) for key, c in table["counts"].items()},
        model=table["model"],
        focus_words=words,
        focus_vectors=vectors,
    )
