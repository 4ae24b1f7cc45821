"""Data that crosses module boundaries: documents, chunks, hits and build reports."""

from __future__ import annotations

import datetime

from pydantic import BaseModel, ConfigDict, Field


def iso_day(text: str) -> datetime.date | None:
    """A `date` metadata field as a date; None when it is missing or not a full ISO date."""
    try:
        return datetime.date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Document(Frozen):
    """A source file turned into text, with the metadata written beside it."""

    id: str = Field(description="path under the sources directory, with forward slashes")
    text: str = Field(description="the text quotes are taken from (the file itself for .txt/.md)")
    sha256: str
    title: str
    publisher: str = ""
    author: str = ""
    date: str = ""
    url: str = ""
    language: str = ""

    @property
    def published(self) -> datetime.date | None:
        return iso_day(self.date)


class Span(Frozen):
    """A [start, end) range of characters in a document's text."""

    start: int
    end: int


class Chunk(Frozen):
    """A run of whole sentences from one section of a document."""

    id: str = Field(description="stable: document id + hash of the text + occurrence")
    doc_id: str
    heading: str
    start: int
    end: int
    text: str = Field(description="verbatim document text[start:end]")
    sentences: tuple[Span, ...]


class Hit(Frozen):
    """A chunk found for a query, with the scores that ranked it."""

    chunk: Chunk
    score: float = Field(description="fused rank score, higher is better")
    dense: float = Field(description="cosine similarity of query and chunk")
    lexical: float = Field(description="BM25 score, 0 when no term matched")


class BuildReport(Frozen):
    """What a build did; `python -m index build --json` prints it."""

    documents: int
    chunks: int
    added: list[str]
    updated: list[str]
    removed: list[str]
    embedded_chunks: int
    embedded_sentences: int
    embedded_multilingual: int = 0  # sentences embedded by the multilingual encoder
    skipped: list[dict[str, str]]
    full_rebuild: bool
    version: str
    seconds: float
    phases: dict[str, float] = {}  # seconds per step ("embed", "entities", "store", ...)
