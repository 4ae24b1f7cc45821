"""What time a question asks about, read against a reference date: the day the bot takes as "now"
(today, or the date an archived question was asked).

Four kinds, each changing which answering source leads (`bot.timeline.arrange`):
- "window": the question names a recent stretch of time ("this week", "yesterday", "this month"):
  sources published in it lead.
- "present": it asks about a present state ("Who is the chief of staff?", "currently", "latest"):
  the newest source that answers wins and older answers are history.
- "period": it names a past period or asks for history ("in 2020", "last year", "former"): no source
  supersedes another, and different answers are shown side by side.
- "open": none of these (a past event without a time): the judge's order, conflicts shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

WINDOWS = {  # cue -> how many days before the reference date its window starts
    "today": 1,
    "tonight": 1,
    "this morning": 1,
    "yesterday": 2,
    "this week": 7,
    "this weekend": 7,
    "last week": 14,
    "past week": 7,
    "this month": 31,
    "past month": 31,
    "last month": 62,
}
_WINDOW = re.compile(r"\b(" + "|".join(WINDOWS) + r")\b", re.I)
_PERIOD = re.compile(
    r"\b(last year|years? ago|former(ly)?|previous(ly)?|used to|originally|history|historically|"
    r"(in|during|since|before|until|by|of) (the )?(19|20)\d\d|(19|20)\d\d)\b",
    re.I,
)
_PRESENT = re.compile(
    r"\b(currently|current|now|nowadays|these days|at present|presently|latest|most recent|newest|still|"
    r"recently|upcoming|next (week|month|year))\b",
    re.I,
)
# "Who is ...?", "Which country has ...?", "How many ... are ...?": a present-tense question.
_PRESENT_TENSE = re.compile(
    r"^\W*(who|what|which|where|how many|how much)\b[^?]*?\b(is|are|has|have)\b", re.I
)
_PAST_TENSE = re.compile(r"\b(was|were|did|had)\b", re.I)


@dataclass(frozen=True)
class QuestionTime:
    reference: date  # "now" for this question: sources published after it are not used
    kind: str  # "window" | "present" | "period" | "open"
    cue: str = ""  # the words that decided the kind, for the log and the answer's JSON
    window_start: date | None = None  # "window": sources published from this day on lead

    def in_window(self, published: date | None) -> bool:
        return published is not None and self.window_start is not None and published >= self.window_start


def read_question_time(question: str, reference: date, present_tense: bool = False) -> QuestionTime:
    """The kind of time `question` asks about; a named past period outranks every other cue.
    `present_tense`: the parse found the question in the present tense (`bot.judge.question`)."""
    if found := _PERIOD.search(question):
        return QuestionTime(reference, "period", found.group(0).lower())
    if found := _WINDOW.search(question):
        cue = found.group(0).lower()
        return QuestionTime(reference, "window", cue, reference - timedelta(days=WINDOWS[cue]))
    if found := _PRESENT.search(question):
        return QuestionTime(reference, "present", found.group(0).lower())
    if present_tense:
        return QuestionTime(reference, "present", "present tense")
    return QuestionTime(reference, "open")
