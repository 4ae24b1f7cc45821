"""Metric definitions. Pure functions over ranks, spans and texts.

Retrieval (answerable cases)
- hit@k: the first passage overlapping any gold span is ranked k or better. MRR: mean 1/rank
  (0 when no passage in the top 10 overlaps).
- recall@k: share of a case's gold spans overlapped by the top k passages (multi-passage cases).

Grounding
- quote validity: share of citations whose quote is the source text at its offsets (must be 1).
- citation recall ("answered with gold evidence"): an answered, answerable case cites at least
  one span overlapping a gold span. Unlike RAGAS context recall it needs no LLM judge: gold spans
  are written by hand, so overlap is exact.
- citation precision: share of citations that overlap a gold span or contain a key fact; in the
  spirit of ALCE's citation precision (is this citation needed and supporting?), judged by span
  overlap instead of an NLI model.
- key-fact accuracy: the answer contains every key fact ("a|b" = either). RAGAS faithfulness asks
  an LLM whether claims follow from the context; an extractive answer quotes the context verbatim,
  so faithfulness is guaranteed by quote validity and the open question is whether it is the
  *right* text, which key facts measure.
- sentences cited: share of answer sentences ending in a [n] marker.

Abstention
- precision: abstentions that were on unanswerable cases / all abstentions (bad-input replies aside).
- recall: unanswerable cases abstained / unanswerable cases.
- false-abstention rate: answerable cases abstained / answerable cases.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_MARKER_END = re.compile(r"\[\d+\]\s*$")


def overlaps(a_source: str, a_start: int, a_end: int, b_source: str, b_start: int, b_end: int) -> bool:
    return a_source == b_source and a_start < b_end and b_start < a_end


def first_relevant_rank(relevance: Sequence[bool]) -> int | None:
    """1-based rank of the first relevant item, or None."""
    return next((i + 1 for i, relevant in enumerate(relevance) if relevant), None)


def hit_at(rank: int | None, k: int) -> float:
    return float(rank is not None and rank <= k)


def reciprocal_rank(rank: int | None) -> float:
    return 1.0 / rank if rank else 0.0


def share(flags: Iterable[bool]) -> float | None:
    """Mean of booleans; None for an empty list (a metric with no cases is not 0)."""
    values = list(flags)
    return sum(values) / len(values) if values else None


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the defined values (a case a metric does not apply to is None); None if there are none."""
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def fact_present(fact: str, text: str) -> bool:
    """A key fact is in the text when any of its "|"-separated alternatives is (case-insensitive)."""
    lowered = text.lower()
    return any(alternative.strip().lower() in lowered for alternative in fact.split("|"))


def sentences_cited(answer_text: str) -> float:
    """Share of the answer's sentences that end with a citation marker."""
    pieces = [p for p in re.split(r"(?<=\])\s+", answer_text.strip()) if p]
    return share(bool(_MARKER_END.search(p)) for p in pieces) or 0.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) by linear interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
