"""Split a document into sentence-aware chunks that stay inside one section.

A chunk is a run of whole sentences from consecutive paragraphs under one heading, up to `size`
characters, and it repeats the last `overlap` sentences of the chunk before it. A chunk never
spans page furniture, so its [start, end) span can be quoted as it is.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass

from index.cleaning import Block, content_blocks
from index.models import Chunk, Document, Span

# Bump when a change to `index.cleaning` or to this module changes the chunks of a text: the next
# build then re-chunks every source (reusing the vectors of every text it embedded before).
CHUNKER_VERSION = 3
DEFAULT_CHUNK_SIZE = 800  # characters
DEFAULT_CHUNK_OVERLAP = 1  # sentences
QUOTED_TITLE_CHARS = 200  # a quoted title ("Managing Decline? NATO's ...") is shorter than this

# A sentence ends at . ! or ? (plus closing quotes/brackets) before whitespace and a capital,
# digit or opening quote; the period of a known abbreviation or an initial does not end one.
_BOUNDARY = re.compile(r"""[.!?]["'”’)\]]*\s+(?=["'“‘(\[]?[A-Z0-9\u0080-\uffff])""")
_ABBREVIATIONS = {
    "dr",
    "mr",
    "mrs",
    "ms",
    "prof",
    "st",
    "no",
    "vs",
    "etc",
    "e.g",
    "i.e",
    "u.s",
    "gen",
    "jr",
    "sr",
}


@dataclass(frozen=True)
class _Sentence:
    start: int
    end: int
    block: int  # index of its paragraph in the block list


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans of text[start:end], in absolute offsets, without surrounding whitespace."""
    end = len(text) if end is None else end
    spans, begin = [], start
    for match in _BOUNDARY.finditer(text, start, end):
        # Look back a bounded window, never to `begin`: one stray quote mark must not make a long
        # text one sentence, or the scan quadratic (a 400 kB source took 24 s).
        window = max(begin, match.start() - QUOTED_TITLE_CHARS)
        word = text[window : match.start() + 1].split()[-1].rstrip(".").lower()
        if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
            continue
        if (
            text.count('"', window, match.start()) % 2
        ):  # inside a quoted title: "Managing Decline? NATO's ..."
            continue
        spans.append(_trimmed(text, begin, match.end()))
        begin = match.end()
    if text[begin:end].strip():
        spans.append(_trimmed(text, begin, end))
    return spans


def _trimmed(text: str, start: int, end: int) -> Span:
    segment = text[start:end]
    return Span(
        start=start + len(segment) - len(segment.lstrip()), end=end - (len(segment) - len(segment.rstrip()))
    )


def chunk_document(
    doc: Document, size: int = DEFAULT_CHUNK_SIZE, overlap: int = DEFAULT_CHUNK_OVERLAP
) -> list[Chunk]:
    """Chunk `doc`; ids are stable for the same text in the same document.

    Args:
        size: soft limit in characters (a single longer sentence still makes one chunk).
        overlap: sentences repeated from the previous chunk of the same section.
    """
    chunks: list[Chunk] = []
    seen: Counter[str] = Counter()
    for heading, sentences in _sections(doc.text, content_blocks(doc.text)):
        for group in _pack(sentences, size, overlap):
            start, end = group[0].start, group[-1].end
            text = doc.text[start:end]
            digest = hashlib.sha256(f"{heading}\n{text}".encode()).hexdigest()[:16]
            seen[digest] += 1
            suffix = f"-{seen[digest]}" if seen[digest] > 1 else ""
            chunks.append(
                Chunk(
                    id=f"{doc.id}#{digest}{suffix}",
                    doc_id=doc.id,
                    heading=heading,
                    start=start,
                    end=end,
                    text=text,
                    sentences=tuple(Span(start=s.start, end=s.end) for s in group),
                )
            )
    return chunks


def _sections(text: str, blocks: list[Block]) -> list[tuple[str, list[_Sentence]]]:
    """Group paragraph sentences into runs of unbroken content, each with its heading."""
    sections: list[tuple[str, list[_Sentence]]] = []
    heading, current_run = "", None
    for index, block in enumerate(blocks):
        if block.kind == "heading":
            heading = text[block.start : block.end]
            continue
        if block.run != current_run:
            sections.append((heading, []))
            current_run = block.run
        sections[-1][1].extend(
            _Sentence(s.start, s.end, index) for s in split_sentences(text, block.start, block.end)
        )
    return [(h, s) for h, s in sections if s]


def _pack(sentences: list[_Sentence], size: int, overlap: int) -> list[list[_Sentence]]:
    groups: list[list[_Sentence]] = []
    current: list[_Sentence] = []
    for sentence in sentences:
        length = sentence.end - current[0].start if current else 0
        new_paragraph = bool(current) and sentence.block != current[-1].block
        if current and (length > size or (new_paragraph and length > size // 2)):
            groups.append(current)
            current = current[-overlap:] if overlap and not new_paragraph else []
        current.append(sentence)
    if current:
        groups.append(current)
    return groups
