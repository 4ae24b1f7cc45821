"""Relative dates in a source ("on Wednesday", "yesterday", "last month", "three days ago"), resolved
against the source's publication date, so that an answer to "when" can say which day it was.

A weekday is the last such day on or before publication, unless the sentence speaks of the future
("will", "is set to", "next"): then the next one after it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NUMBERS = {w: i for i, w in enumerate("one two three four five six seven eight nine ten".split(), 1)}
_UNITS = {"day": 1, "week": 7}
_RELATIVE = re.compile(
    r"\b(?:(?P<day>yesterday|today|tonight|tomorrow)"
    r"|(?P<which>last|next|this) (?P<unit>week|month|year)"
    r"|(?P<mod>last |next |this )?(?P<weekday>" + "|".join(WEEKDAYS) + r")"
    r"|(?P<count>\d+|" + "|".join(NUMBERS) + r") (?P<span>days?|weeks?) (?P<dir>ago|later|earlier))\b",
    re.I,
)
_FUTURE = re.compile(
    r"\b(will|shall|is set to|are set to|plans? to|is due|are due|scheduled|upcoming)\b", re.I
)


@dataclass(frozen=True)
class Resolved:
    expression: str  # as the source wrote it
    day: date  # the day it names, or the first day of the week, month or year it names
    precision: str  # "day" | "week" | "month" | "year"


def resolve_relative(sentence: str, published: date) -> list[Resolved]:
    """Every relative date expression of `sentence`, resolved against `published`."""
    future = bool(_FUTURE.search(sentence))
    found = []
    for match in _RELATIVE.finditer(sentence):
        resolved = _resolve(match, published, future)
        if resolved is not None:
            found.append(Resolved(match.group(0), *resolved))
    return found


def _resolve(match: re.Match, published: date, future: bool) -> tuple[date, str] | None:
    groups = {k: (v or "").lower().strip() for k, v in match.groupdict().items()}
    if groups["day"]:
        shift = {"yesterday": -1, "today": 0, "tonight": 0, "tomorrow": 1}[groups["day"]]
        return published + timedelta(days=shift), "day"
    if groups["unit"]:
        return _calendar_unit(published, groups["which"], groups["unit"])
    if groups["weekday"]:
        return _weekday(published, WEEKDAYS.index(groups["weekday"]), groups["mod"], future), "day"
    count = int(groups["count"]) if groups["count"].isdigit() else NUMBERS[groups["count"]]
    days = count * _UNITS[groups["span"].rstrip("s")]
    return published + timedelta(days=days if groups["dir"] == "later" else -days), "day"


def _weekday(published: date, weekday: int, modifier: str, future: bool) -> date:
    if modifier == "next" or (future and modifier != "last"):
        return published + timedelta(days=(weekday - published.weekday()) % 7 or 7)
    back = (published.weekday() - weekday) % 7
    return published - timedelta(days=back or (7 if modifier == "last" else 0))


def _calendar_unit(published: date, which: str, unit: str) -> tuple[date, str]:
    step = {"last": -1, "this": 0, "next": 1}[which]
    if unit == "week":
        monday = published - timedelta(days=published.weekday())
        return monday + timedelta(weeks=step), "week"
    if unit == "month":
        months = published.year * 12 + published.month - 1 + step
        return date(months // 12, months % 12 + 1, 1), "month"
    return date(published.year + step, 1, 1), "year"
