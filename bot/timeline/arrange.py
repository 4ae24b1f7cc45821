"""Which answering sources an answer quotes, by date: the newest leads where the question asks about
now, and an older source that says something else is either history (left out) or a conflict
(quoted beside the lead, both dated), never dropped silently when the two are of the same time.

Only sentences the calibrated model is sure enough of (the judge's `probable`) take part: a loose
match in a newer source must not push out a real answer in an older one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from bot.judge.candidates import Candidate
from bot.timeline.question_time import QuestionTime
from bot.timeline.values import same_answer

SAME_TIME_DAYS = 2  # answers published this close together describe one moment: a difference conflicts


@dataclass(frozen=True)
class Arranged:
    evidence: list[Candidate]  # the lead sentence first, then the others still quotable
    conflicting: list[Candidate] = field(default_factory=list)  # another answer, of the same time
    superseded: int = 0  # older sources with another answer, left out: the question asks about now
    why: str = ""


def arrange(
    evidence: list[Candidate],
    probable: list[Candidate],
    time: QuestionTime,
    published: Callable[[str], date | None],
    values: Callable[[Candidate], frozenset[str]],
) -> Arranged:
    """`evidence`: the sentences the judge would quote, best first; `probable`: the sentences sure
    enough to compare, best first; `published(doc_id)`: a source's date; `values(c)`: the answer `c`
    gives (`bot.timeline.values`)."""
    if not evidence or not probable:
        return Arranged(evidence, why="no sentence sure enough to compare sources by date")
    recency = time.kind in ("present", "window")
    pool = probable
    if time.kind == "window" and (inside := [c for c in pool if time.in_window(published(_doc(c)))]):
        pool = inside
    lead = _newest(pool, published) if recency else evidence[0]
    lead_values, lead_date = values(lead), published(_doc(lead))
    left_out: set[str] = set()
    conflicting: list[Candidate] = []
    for other in _best_per_document(pool, exclude=_doc(lead)):
        if same_answer(values(other), lead_values):
            continue
        if recency and _older(published(_doc(other)), lead_date):
            left_out.add(_doc(other))
        elif not conflicting:
            conflicting.append(other)
            left_out.add(_doc(other))
    kept = [lead] + [c for c in evidence if c is not lead and _doc(c) not in left_out]
    superseded = len(left_out) - len(conflicting)
    return Arranged(kept, conflicting, superseded, _why(time, lead_date, superseded, conflicting))


def _doc(candidate: Candidate) -> str:
    return candidate.hit.chunk.doc_id


def _newest(pool: list[Candidate], published: Callable[[str], date | None]) -> Candidate:
    """The best sentence of the newest dated source (undated sources count as oldest)."""
    return max(pool, key=lambda c: (published(_doc(c)) or date.min, -pool.index(c)))


def _best_per_document(pool: list[Candidate], exclude: str) -> list[Candidate]:
    best: dict[str, Candidate] = {}
    for candidate in pool:
        best.setdefault(_doc(candidate), candidate)
    best.pop(exclude, None)
    return list(best.values())


def _older(other: date | None, lead: date | None) -> bool:
    if lead is None:
        return False
    return other is None or (lead - other).days > SAME_TIME_DAYS


def _why(time: QuestionTime, lead: date | None, superseded: int, conflicting: list[Candidate]) -> str:
    parts = [f"question time {time.kind}" + (f" ({time.cue!r})" if time.cue else "")]
    if time.kind in ("present", "window"):
        parts.append(f"newest answering source {lead.isoformat() if lead else 'undated'}")
    if superseded:
        parts.append(f"{superseded} older source(s) with another answer left out")
    if conflicting:
        parts.append("another source of the same time gives a different answer")
    return "; ".join(parts)
