"""The answer a sentence gives, as a set of comparable values: the names and figures of the kind the
question asks for that the question does not itself contain. "Who is the chief of staff?" over
"Susie Wiles will serve as chief of staff" gives {"susie wiles"}; two sources whose values share
nothing give different answers.
"""

from __future__ import annotations

import re

from bot.judge.candidates import Candidate
from bot.judge.rules import person_names

MIN_KIND_PROBABILITY = 0.15  # an entity label the question asks for at least this likely
NUMERIC = {"CARDINAL", "MONEY", "PERCENT", "QUANTITY"}
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LEADING = re.compile(r"^(the|a|an)\s+|'s$|’s$")


def answer_values(candidate: Candidate, named: tuple[str, ...], kinds: dict[str, float]) -> frozenset[str]:
    """The sentence's entities of a kind in `kinds` (label -> probability) and not in `named` (the
    question's own names, lower-cased), normalised; figures as their digits."""
    wanted = {label for label, p in kinds.items() if p >= MIN_KIND_PROBABILITY and label != "NONE"}
    offset = candidate.span.start
    values: set[str] = set()
    for start, end, label in candidate.entities:
        if label in wanted:
            values.add(_normalised(candidate.text[start - offset : end - offset].lower().strip(), label))
    if "PERSON" in wanted:  # the small English pipeline misses names that a title or "X, who" marks
        values.update(_normalised(n.lower(), "PERSON") for n in person_names(candidate.text))
    values = {v for v in values if v and not any(v in name or name in v for name in named)}
    return frozenset(values)


def _normalised(text: str, label: str) -> str:
    if label in NUMERIC and (digits := _NUMBER.findall(text)):
        return " ".join(d.replace(",", "") for d in digits)
    return " ".join(_LEADING.sub("", text).split())


def same_answer(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two value sets can be the same answer: either is empty (nothing to compare), or a value
    of one is, or contains, a value of the other ("marles" and "richard marles")."""
    if not a or not b:
        return True
    return any(_contains(x, y) or _contains(y, x) for x in a for y in b)


def _contains(outer: str, inner: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(inner)}(?!\w)", outer) is not None
