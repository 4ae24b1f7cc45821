"""A snapshot read on demand: rows parsed when read, layout arrays, checksums verified once."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from index.build import BuildSettings, rebuild
from index.errors import IndexCorrupt
from index.models import Chunk, Span
from index.retriever import Retriever
from index.store import DATA_FILES, VERIFIED_FILE, Snapshot, current_version, load_snapshot, sentence_table
from index.tables import JsonRows, Layout, parse_chunk, write_lines


def _chunk(doc: str, start: int, end: int, sentences: list[tuple[int, int]]) -> Chunk:
    return Chunk(
        id=f"{doc}#{start}",
        doc_id=doc,
        heading="",
        start=start,
        end=end,
        text="x" * (end - start),
        sentences=tuple(Span(start=a, end=b) for a, b in sentences),
    )


@pytest.mark.unit
def test_json_rows_parse_the_line_asked_for(tmp_path):
    chunks = [_chunk("a", 0, 10, [(0, 10)]), _chunk("b", 0, 4, [(0, 2), (2, 4)]), _chunk("a", 10, 12, [])]
    offsets = write_lines(tmp_path / "chunks.jsonl", (c.model_dump_json() for c in chunks))
    rows = JsonRows(tmp_path / "chunks.jsonl", offsets, parse_chunk)
    assert len(rows) == 3 and rows[1] == chunks[1] and rows[-1] == chunks[2]
    assert rows[np.int64(0)] == chunks[0] and rows[1:] == chunks[1:] and list(rows) == chunks
    with pytest.raises(IndexError):
        rows[3]
    with pytest.raises(ValueError, match="offsets"):  # a file cut short is not read as fewer rows
        JsonRows(tmp_path / "chunks.jsonl", offsets[:-1], parse_chunk)
    empty = write_lines(tmp_path / "empty.jsonl", [])
    assert len(JsonRows(tmp_path / "empty.jsonl", empty, parse_chunk)) == 0


@pytest.mark.integration
def test_a_loaded_snapshot_reads_the_same_rows_and_layout_as_one_in_memory(seed_build, embedder):
    loaded = load_snapshot(seed_build.index_dir)
    chunks = list(loaded.chunks)
    documents = {doc_id: loaded.documents[doc_id] for doc_id in loaded.documents}
    rows = sentence_table(chunks)
    assert dict(loaded.sentence_rows) == rows and len(loaded.sentence_rows) == len(rows)
    in_memory = Snapshot(
        loaded.manifest,
        documents,
        chunks,
        np.asarray(loaded.chunk_vectors),
        np.asarray(loaded.sentence_vectors),
        loaded.dense_index,
        {doc_id: loaded.entities[doc_id] for doc_id in documents},
        rows,
        None,
        loaded.lexical,
        loaded.proper_terms,
    )
    assert in_memory.layout is not None and loaded.layout is not None
    for name in Layout.ARRAYS:
        assert np.array_equal(getattr(in_memory.layout, name), getattr(loaded.layout, name)), name
    assert any(loaded.entities[doc_id] for doc_id in documents)
    lazy, eager = Retriever(loaded, embedder), Retriever(in_memory, embedder)
    for question in ("Why did Albanese skip the summit?", "Who went to The Hague instead?"):
        assert lazy.search(question) == eager.search(question)
    hit = lazy.search("Richard Marles")[0].chunk
    assert lazy.widened(hit, 2000) == eager.widened(hit, 2000)
    assert lazy.section_words(hit.doc_id, hit.heading) == eager.section_words(hit.doc_id, hit.heading)
    spans = lazy.sentences_after(hit.doc_id, hit.start)
    assert spans and spans[0][0] >= hit.start and spans == sorted(spans)
    assert spans == sorted({(s, e) for (d, s, e) in rows if d == hit.doc_id and s >= hit.start})


def _current_folder(settings: BuildSettings):
    return settings.index_dir / "versions" / current_version(settings.index_dir)


def _age(folder, seconds: float) -> None:
    """Set every file's modification time `seconds` back, as if it was written that long ago."""
    past = time.time() - seconds
    for path in folder.iterdir():
        os.utime(path, (past, past))


@pytest.mark.integration
def test_a_verified_file_damaged_later_is_still_caught(fresh_build: BuildSettings, embedder):
    rebuild(fresh_build, embedder)
    folder = _current_folder(fresh_build)
    verified = json.loads((folder / VERIFIED_FILE).read_text(encoding="utf-8"))
    assert set(DATA_FILES) <= set(verified)  # the store vouches for the files it wrote and hashed
    load_snapshot(fresh_build.index_dir)
    damaged = folder / "chunks.jsonl"
    data = bytearray(damaged.read_bytes())
    data[10] ^= 1  # the same size: only the checksum can tell
    damaged.write_bytes(bytes(data))
    with pytest.raises(IndexCorrupt, match="chunks.jsonl is damaged"):
        load_snapshot(fresh_build.index_dir)
    _age(
        folder, 60
    )  # and a damaged file whose time looks old is hashed: its stamp is not the one vouched for
    with pytest.raises(IndexCorrupt, match="chunks.jsonl is damaged"):
        load_snapshot(fresh_build.index_dir)


@pytest.mark.integration
def test_a_truncated_or_missing_file_is_caught_without_hashing(fresh_build: BuildSettings, embedder):
    rebuild(fresh_build, embedder)
    folder = _current_folder(fresh_build)
    _age(folder, 60)
    load_snapshot(fresh_build.index_dir)
    (folder / VERIFIED_FILE).write_text("not json", encoding="utf-8")  # a damaged cache is ignored
    load_snapshot(fresh_build.index_dir)
    offsets = folder / "chunks_offsets.npy"
    offsets.write_bytes(offsets.read_bytes()[:-8])
    with pytest.raises(IndexCorrupt, match="missing or damaged"):
        load_snapshot(fresh_build.index_dir)
    offsets.unlink()
    with pytest.raises(IndexCorrupt, match="missing or damaged"):
        load_snapshot(fresh_build.index_dir)
