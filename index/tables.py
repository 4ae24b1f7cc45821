"""A snapshot's rows, read when a question needs them: a million-chunk archive opens in seconds.

A folder snapshot keeps its documents, chunks and entities as JSON lines, with the byte offset of
every line in a `.npy` file beside them. Loading maps the files into memory and parses nothing;
`JsonRows` parses a line when it is asked for (about 20 microseconds a chunk). Parsing every chunk
of a 200,000-chunk index at load took 5.3 of its 8.9 s.

`Layout` holds what relates the rows, as arrays written at build time: each chunk's document and
sentence rows, each document's chunks, sentences and publication day. The retriever reads those
instead of walking every chunk at load.
"""

from __future__ import annotations

import json
import mmap
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Generic, TypeVar, overload

import numpy as np

from index.entities import EntitySpan
from index.models import Chunk, Document


def mapped_array(path: Path) -> np.ndarray:
    """A `.npy` file memory-mapped read-only, as a plain ndarray: `np.memmap`'s subclass hooks run at
    every slice, and an answer slices these arrays thousands of times (5% of its time by cProfile,
    on the main set's questions)."""
    return np.asarray(np.load(path, allow_pickle=False, mmap_mode="r"))


def release_pages(array: np.ndarray) -> None:
    """Drop the pages of an array `mapped_array` read from this process's resident set (they stay in
    the page cache, read again if touched): a build that has copied every row of the previous
    snapshot's vectors would otherwise count them in its memory until it ends. No-op for others."""
    mapped = _memmap_of(array)
    if mapped is not None and hasattr(mmap, "MADV_DONTNEED"):
        mapped._mmap.madvise(mmap.MADV_DONTNEED)  # type: ignore[attr-defined]


def mapped_file(array: np.ndarray) -> tuple[Path, int] | None:
    """The `.npy` file an array from `mapped_array` is all of, and the byte offset of its first row;
    None for any other array (in memory, or a part of a file)."""
    mapped = _memmap_of(array)
    if mapped is None or mapped.filename is None or not array.flags.c_contiguous:
        return None
    path = Path(mapped.filename)
    whole = array.ctypes.data == mapped.ctypes.data and array.nbytes == mapped.nbytes
    if not whole or path.suffix != ".npy" or path.stat().st_size != mapped.offset + mapped.nbytes:
        return None
    return path, mapped.offset


def _memmap_of(array: np.ndarray) -> np.memmap | None:
    base: object = array
    while base is not None and not isinstance(base, np.memmap):
        base = getattr(base, "base", None)
    return base if base is not None and isinstance(getattr(base, "_mmap", None), mmap.mmap) else None


Row = TypeVar("Row")
SentenceKey = tuple[str, int, int]  # document id, start, end
PARSED_ROWS_KEPT = 4096  # recently parsed rows kept per table: the judge reads the same few often


def write_lines(path: Path, lines: Iterable[str]) -> np.ndarray:
    """Write one JSON document per line; returns the byte offset of each line and of the end."""
    offsets = [0]
    with open(path, "wb") as handle:
        for line in lines:
            data = line.encode("utf-8") + b"\n"
            handle.write(data)
            offsets.append(offsets[-1] + len(data))
    return np.array(offsets, dtype=np.int64)


class JsonRows(Sequence[Row], Generic[Row]):
    """The lines of a JSON-lines file as a sequence, each parsed by `parse` when it is read."""

    def __init__(self, path: Path, offsets: np.ndarray, parse: Callable[[bytes], Row]) -> None:
        self._offsets = offsets
        self._data: mmap.mmap | bytes = b""  # an empty file cannot be mapped; it has no rows anyway
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            if size:
                self._data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if int(offsets[-1]) != size:
            raise ValueError(f"{path.name}: its line offsets do not match its size")
        self._parsed = lru_cache(maxsize=PARSED_ROWS_KEPT)(lambda row: parse(self._line(row)))

    def _line(self, row: int) -> bytes:
        return self._data[int(self._offsets[row]) : int(self._offsets[row + 1])]

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, row: int) -> Row: ...

    @overload
    def __getitem__(self, row: slice) -> list[Row]: ...

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if not -len(self) <= row < len(self):
            raise IndexError(row)
        return self._parsed(row % len(self))

    def __iter__(self) -> Iterator[Row]:
        return (self[row] for row in range(len(self)))


class KeyedRows(Mapping[str, Row], Generic[Row]):
    """Rows named by keys (document ids), in the order of `keys`."""

    def __init__(self, keys: Sequence[str], rows: Sequence[Row]) -> None:
        if len(keys) != len(rows):
            raise ValueError("keys and rows differ in number")
        self._rows = rows
        self._row_of = {key: row for row, key in enumerate(keys)}

    def __getitem__(self, key: str) -> Row:
        return self._rows[self._row_of[key]]

    def __contains__(self, key: object) -> bool:
        return key in self._row_of

    def __iter__(self) -> Iterator[str]:
        return iter(self._row_of)

    def __len__(self) -> int:
        return len(self._row_of)


def parse_document(line: bytes) -> Document:
    return Document.model_validate_json(line)


def parse_chunk(line: bytes) -> Chunk:
    return Chunk.model_validate_json(line)


def entities_line(doc_id: str, spans: list[EntitySpan]) -> str:
    return json.dumps({"doc": doc_id, "spans": spans})


def parse_entities(line: bytes) -> list[EntitySpan]:
    return [(int(s), int(e), str(label)) for s, e, label in json.loads(line)["spans"]]


@dataclass(frozen=True)
class Layout:
    """How a snapshot's rows relate, as arrays. Documents are numbered in `doc_ids` order.
    Grouped rows are stored as offsets and rows: group i is `rows[offsets[i]:offsets[i + 1]]`."""

    doc_ids: tuple[str, ...]
    chunk_document: np.ndarray  # per chunk, its document's number
    chunk_sentence_offsets: np.ndarray  # per chunk, its sentences' rows in `chunk_sentences`
    chunk_sentences: np.ndarray
    sentence_spans: np.ndarray  # per sentence row: document number, start, end
    document_chunk_offsets: np.ndarray  # per document, its chunks (rows, in order)
    document_chunks: np.ndarray
    document_sentence_offsets: np.ndarray  # per document, its sentence rows by position
    document_sentences: np.ndarray
    document_days: np.ndarray  # per document, its publication day (ordinal; date.min's when undated)

    ARRAYS = (
        "chunk_document",
        "chunk_sentence_offsets",
        "chunk_sentences",
        "sentence_spans",
        "document_chunk_offsets",
        "document_chunks",
        "document_sentence_offsets",
        "document_sentences",
        "document_days",
    )

    @classmethod
    def of(
        cls,
        documents: Mapping[str, Document],
        chunks: Sequence[Chunk],
        sentence_rows: Mapping[SentenceKey, int],
    ) -> Layout:
        """The layout of rows held in memory (a build's, or a store's that has no layout files)."""
        number = {doc_id: i for i, doc_id in enumerate(documents)}
        chunk_document = np.fromiter((number[c.doc_id] for c in chunks), dtype=np.int64, count=len(chunks))
        counts = np.fromiter((len(c.sentences) for c in chunks), dtype=np.int64, count=len(chunks))
        chunk_sentences = np.fromiter(
            (sentence_rows[(c.doc_id, s.start, s.end)] for c in chunks for s in c.sentences), dtype=np.int64
        )
        spans = np.zeros((len(sentence_rows), 3), dtype=np.int64)
        for (doc_id, start, end), row in sentence_rows.items():
            spans[row] = (number[doc_id], start, end)
        days = [(doc.published or date.min).toordinal() for doc in documents.values()]
        by_position = np.lexsort((spans[:, 2], spans[:, 1], spans[:, 0]))
        return cls(
            tuple(documents),
            chunk_document,
            _offsets(counts),
            chunk_sentences,
            spans,
            _offsets(np.bincount(chunk_document, minlength=len(number))),
            np.argsort(chunk_document, kind="stable"),
            _offsets(np.bincount(spans[:, 0], minlength=len(number))),
            by_position,
            np.array(days, dtype=np.int64),
        )

    def save(self, folder: Path) -> None:
        for name in self.ARRAYS:
            np.save(folder / f"layout_{name}.npy", getattr(self, name))

    @classmethod
    def load(cls, folder: Path, doc_ids: Sequence[str]) -> Layout:
        """The layout files of a snapshot folder, memory-mapped."""
        arrays = {name: mapped_array(folder / f"layout_{name}.npy") for name in cls.ARRAYS}
        layout = cls(tuple(doc_ids), **arrays)
        if len(layout.document_days) != len(doc_ids):
            raise ValueError("the layout's documents differ from the manifest's")
        return layout

    @cached_property
    def document_number(self) -> dict[str, int]:
        return {doc_id: i for i, doc_id in enumerate(self.doc_ids)}

    def chunks_of(self, doc_id: str) -> np.ndarray:
        """Rows of the document's chunks, in order (empty for an unknown document)."""
        return _group(self.document_chunk_offsets, self.document_chunks, self.document_number.get(doc_id))

    def sentences_of(self, doc_id: str) -> np.ndarray:
        """Rows of the document's sentences, by position (empty for an unknown document)."""
        return _group(
            self.document_sentence_offsets, self.document_sentences, self.document_number.get(doc_id)
        )


def carried_rows(before: Layout, now: Layout, unchanged: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per chunk row and per sentence row of `now`, its row in `before` (-1 for the others): the rows
    of the documents `unchanged` between them, whose chunks and sentences are the same, in order."""
    chunks = np.full(len(now.chunk_document), -1, dtype=np.int64)
    sentences = np.full(len(now.sentence_spans), -1, dtype=np.int64)
    for doc_id in unchanged:
        chunks_before, chunks_now = before.chunks_of(doc_id), now.chunks_of(doc_id)
        sentences_before, sentences_now = before.sentences_of(doc_id), now.sentences_of(doc_id)
        if len(chunks_before) == len(chunks_now) and len(sentences_before) == len(sentences_now):
            chunks[chunks_now] = chunks_before
            sentences[sentences_now] = sentences_before
    return chunks, sentences


LAYOUT_FILES = tuple(f"layout_{name}.npy" for name in Layout.ARRAYS)


class SentenceRows(Mapping[SentenceKey, int]):
    """(document id, start, end) -> sentence row, read from a layout one document at a time."""

    def __init__(self, layout: Layout) -> None:
        self._layout = layout
        self._by_document: dict[str, dict[tuple[int, int], int]] = {}

    def _rows_of(self, doc_id: str) -> dict[tuple[int, int], int]:
        rows = self._by_document.get(doc_id)
        if rows is None:
            spans = self._layout.sentence_spans
            rows = {(int(spans[r, 1]), int(spans[r, 2])): int(r) for r in self._layout.sentences_of(doc_id)}
            self._by_document[doc_id] = rows
        return rows

    def __getitem__(self, key: SentenceKey) -> int:
        doc_id, start, end = key
        return self._rows_of(doc_id)[(start, end)]

    def __iter__(self) -> Iterator[SentenceKey]:
        doc_ids = self._layout.doc_ids
        for doc, start, end in self._layout.sentence_spans.tolist():
            yield doc_ids[doc], start, end

    def __len__(self) -> int:
        return len(self._layout.sentence_spans)


def _offsets(counts: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def _group(offsets: np.ndarray, rows: np.ndarray, number: int | None) -> np.ndarray:
    if number is None:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(rows[offsets[number] : offsets[number + 1]])
