"""The answer and its citations: what the CLI prints, Telegram formats and the evals score."""

from __future__ import annotations

import datetime

from pydantic import Field

from index.models import Frozen, iso_day


class Citation(Frozen):
    """A verbatim span of a source that one or more answer sentences rest on."""

    n: int = Field(description="the number of the [n] marker in the answer")
    source: str = Field(description="path of the source file under sources/")
    title: str
    publisher: str = ""
    date: str = ""
    url: str = ""
    quote: str = Field(description="document text[start:end], verbatim")
    start: int
    end: int

    @property
    def published(self) -> datetime.date | None:
        return iso_day(self.date)


class Passage(Frozen):
    """A passage the answer was chosen from, in the order the answerer ranked them."""

    source: str
    start: int
    end: int
    score: float = Field(description="retrieval score plus the judge's score of its best sentence")


class Answer(Frozen):
    """The reply to one question."""

    question: str
    resolved_question: str = Field(description="the question searched for, after follow-up resolution")
    topic: str | None = Field(
        default=None, description="the earlier question a pronoun follow-up continues, searched with it"
    )
    answer: str = Field(description="answer text with [n] markers, or the abstention / problem message")
    abstained: bool
    citations: list[Citation] = []
    related_sources: list[str] = Field(default=[], description="titles named when abstaining")
    passages: list[Passage] = Field(default=[], description="the passages judged, best first")
    index_version: str | None = None
    composer: str = "extractive"
    confidence: float = Field(
        default=0.0, description="calibrated probability that the best sentence answers the question"
    )
    abstain_reasons: dict[str, int] = Field(
        default={}, description="when abstaining: why the best sentences do not answer, counted by reason"
    )
    dropped_sentences: int = Field(default=0, description="generated sentences the check removed")
    drop_reasons: dict[str, int] = {}
    seconds: float = 0.0
    problem: str | None = Field(default=None, description="set when the question itself could not be used")
    language: str = Field(
        default="en", description="the question's language (ISO 639-1): the bot's own words are in it"
    )
    as_of: str = Field(default="", description="the reference date: sources published after it were not used")
    question_time: str = Field(
        default="", description="what time the question asks about: window, present, period or open"
    )
    conflict: bool = Field(default=False, description="sources of the same time give different answers")
    superseded: int = Field(
        default=0, description="older sources with another answer, left out because a newer one answers"
    )
