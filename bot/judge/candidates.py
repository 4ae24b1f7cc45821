"""The sentences a question is judged against: every sentence of the retrieved passages."""

from __future__ import annotations

from dataclasses import dataclass

from index.entities import EntitySpan
from index.models import Hit, Span
from index.retriever import Retriever


@dataclass(frozen=True)
class Candidate:
    """One sentence of a retrieved passage, with what the judge reads about it."""

    hit: Hit
    rank: int  # of its passage in the retrieval
    span: Span
    text: str
    entities: tuple[EntitySpan, ...]  # named entities inside the sentence, document offsets


def candidates(hits: list[Hit], retriever: Retriever) -> list[Candidate]:
    """Every sentence of `hits`, in retrieval and reading order, each once (neighbouring passages
    share sentences)."""
    found, seen = [], set()
    for rank, hit in enumerate(hits):
        text = retriever.document(hit.chunk.doc_id).text
        for span in hit.chunk.sentences:
            if (hit.chunk.doc_id, span.start) in seen:
                continue
            seen.add((hit.chunk.doc_id, span.start))
            entities = tuple(retriever.entities_in(hit.chunk.doc_id, span.start, span.end))
            found.append(Candidate(hit, rank, span, text[span.start : span.end], entities))
    return found
