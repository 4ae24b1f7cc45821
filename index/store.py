"""The index on disk: versioned snapshots published atomically, verified on load.

    <index_dir>/CURRENT                 name of the snapshot being served
    <index_dir>/versions/<version>/     one complete snapshot:
        manifest.json                   model, dimension, chunking, documents and their hashes,
                                        format version and a checksum of every other file
        documents.jsonl, chunks.jsonl   the document texts (quotes come from here) and chunks, with
        *_offsets.npy                   the byte offset of each line: rows are parsed when read
        layout_*.npy                    how chunks, sentences and documents relate (`index.tables`)
        chunk_vectors.npy               chunk embeddings, row = chunk row
        sentence_vectors.npy            sentence embeddings, row = `Snapshot.sentence_rows`
        sentence_vectors_xl.npy         the same sentences by the multilingual encoder (when on)
        entities.jsonl                  named-entity spans of each document (see `index.entities`)
        verified.json                   which files' checksums were verified, by size and time (a cache)
        index.faiss                     FAISS index over the chunk vectors (ids = chunk rows)
        bm25_*, chunk_term*.npy         the lexical index, memory-mapped (see `index.bm25`)
        proper_terms.json               stems the sources write as names (see `index.lexical`)
        name_counts.json                what they were found from, read by the next build only

A build writes a new snapshot beside the old ones and then swaps CURRENT with an atomic rename,
so a build killed halfway leaves the previous snapshot serving. A load checks every file's size
against the manifest and its checksum unless `verified.json` says the same file (size, modification
time, inode) was verified before, as git trusts its index: hashing a 1M-chunk snapshot's 7 GB took
longer than everything else its load does.

`SnapshotStore` is what the build and the served index need of any store: this folder
(`FolderStore`, the default) or a Milvus collection set (`index.milvus_store.MilvusStore`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from index import bm25
from index.ann import build_faiss_index, extended_faiss_index, live_entries, set_search_depth
from index.entities import EntitySpan
from index.errors import REBUILD_HINT, IndexCorrupt, IndexNotBuilt, IndexWriteFailed
from index.lexical import NameCounts
from index.lock import build_lock
from index.models import Chunk, Document
from index.stamps import RACY_NS, load_cache, save_cache
from index.tables import (
    LAYOUT_FILES,
    JsonRows,
    KeyedRows,
    Layout,
    SentenceRows,
    carried_rows,
    entities_line,
    mapped_array,
    mapped_file,
    parse_chunk,
    parse_document,
    parse_entities,
    write_lines,
)

log = logging.getLogger(__name__)

FORMAT_VERSION = 4
KEEP_SNAPSHOTS = 3
PROPER_TERMS_FILE = "proper_terms.json"
NAME_COUNTS_FILE = "name_counts.json"  # not in snapshots written before it: their next build counts all
VERIFIED_FILE = "verified.json"
LINE_FILES = {"documents": "documents.jsonl", "chunks": "chunks.jsonl", "entities": "entities.jsonl"}
DATA_FILES = (
    *LINE_FILES.values(),
    *(f"{kind}_offsets.npy" for kind in LINE_FILES),
    *LAYOUT_FILES,
    "chunk_vectors.npy",
    "sentence_vectors.npy",
    "index.faiss",
    PROPER_TERMS_FILE,
    *bm25.FILE_NAMES,
)
MULTILINGUAL_FILE = "sentence_vectors_xl.npy"


class Manifest(BaseModel):
    """What a snapshot was built from; a mismatch in model or chunking forces a full rebuild."""

    format_version: int = FORMAT_VERSION
    version: str
    created: float
    model: str
    dimension: int
    chunk_size: int
    chunk_overlap: int
    index_type: str
    annotator: str = Field(default="", description="the spaCy pipeline that found the entities")
    multilingual: str = Field(default="", description="the multilingual encoder, or '' when off")
    analyzer: str = Field(default="", description="`index.lexical.analyzer_fingerprint` of the stems")
    chunker: int = Field(default=0, description="`index.chunking.CHUNKER_VERSION` of the chunks")
    embedding_text: int = Field(
        default=1, description="`index.build.EMBEDDING_TEXT_VERSION` of the texts embedded and stemmed"
    )
    documents: dict[str, str]  # document id -> sha256
    files: dict[str, str]  # file name -> sha256
    sizes: dict[str, int] = Field(default_factory=dict)  # file name -> bytes


@dataclass
class Snapshot:
    """One loaded, verified snapshot; immutable once loaded, shared by concurrent readers."""

    manifest: Manifest
    documents: Mapping[str, Document]
    chunks: Sequence[Chunk]
    chunk_vectors: np.ndarray
    sentence_vectors: np.ndarray
    # Nearest chunks by vector: a faiss.Index here, or any object with its `search(queries, k) ->
    # (similarities, rows)` and `ntotal` (the Milvus store's, `index.milvus_store.MilvusDense`).
    dense_index: Any
    entities: Mapping[str, list[EntitySpan]] = field(default_factory=dict)  # doc id -> its entities
    sentence_rows: Mapping[tuple[str, int, int], int] = field(default_factory=dict)
    sentence_vectors_xl: np.ndarray | None = None  # rows as `sentence_rows`; None when off
    lexical: bm25.BM25 | None = None  # over the chunks' headings and texts, row = chunk row
    proper_terms: frozenset[str] = frozenset()
    layout: Layout | None = None  # computed from the rows when not given
    # What `proper_terms` was found from, read only when a build asks (None: not kept, count again).
    name_counts: Callable[[], NameCounts | None] = lambda: None

    def __post_init__(self) -> None:
        if not self.sentence_rows:
            self.sentence_rows = sentence_table(self.chunks)
        if self.layout is None:
            self.layout = Layout.of(self.documents, self.chunks, self.sentence_rows)


class SnapshotStore(Protocol):
    """Where snapshots live: written whole by a build, published atomically, read by the bot."""

    @property
    def location(self) -> str:
        """Where the index is, in words for messages ("the folder ...", "the Milvus collection ...")."""
        ...

    def build_lock(self) -> AbstractContextManager[None]:
        """Held by a build: one build at a time."""
        ...

    def current_version(self) -> str | None:
        """The version being served, or None when nothing was built."""
        ...

    def manifest(self) -> Manifest | None:
        """The served snapshot's manifest, None when there is none or it is unreadable."""
        ...

    def load(self) -> Snapshot:
        """The served snapshot, verified (raises `IndexNotBuilt`, `IndexCorrupt`)."""
        ...

    def save(self, snapshot: Snapshot, previous: Snapshot | None) -> None:
        """Store `snapshot` and serve it, atomically: a build killed halfway leaves the previous one
        served. `previous` is the snapshot it was built from (what an incremental store keeps)."""
        ...


@dataclass(frozen=True)
class FolderStore:
    """Snapshots in a folder: FAISS and numpy files, versioned and swapped by `CURRENT`."""

    index_dir: Path

    @property
    def location(self) -> str:
        return f"the folder {self.index_dir}"

    def build_lock(self) -> AbstractContextManager[None]:
        return build_lock(self.index_dir)

    def current_version(self) -> str | None:
        return current_version(self.index_dir)

    def manifest(self) -> Manifest | None:
        version = self.current_version()
        if version is None:
            return None
        try:
            return _read_manifest(self.index_dir / "versions" / version)
        except IndexCorrupt:
            return None

    def load(self) -> Snapshot:
        return load_snapshot(self.index_dir)

    def save(self, snapshot: Snapshot, previous: Snapshot | None) -> None:
        clear_unfinished(self.index_dir)
        if snapshot.dense_index is None:
            snapshot.dense_index = self._extended_graph(snapshot, previous) or build_faiss_index(
                snapshot.chunk_vectors, snapshot.manifest.index_type
            )
        write_snapshot(self.index_dir, snapshot.manifest, snapshot)
        publish(self.index_dir, snapshot.manifest.version)

    def _extended_graph(self, snapshot: Snapshot, previous: Snapshot | None) -> Any | None:
        """The previous snapshot's HNSW graph with the new chunks added (`index.ann`), when both are
        graphs and its unchanged documents' chunks have the same vectors; else None."""
        if previous is None or not (snapshot.manifest.index_type == previous.manifest.index_type == "hnsw"):
            return None
        before, now = previous.manifest, snapshot.manifest
        if (before.model, before.chunker, before.embedding_text) != (
            now.model,
            now.chunker,
            now.embedding_text,
        ):
            return None
        path = self.index_dir / "versions" / before.version / "index.faiss"
        return extended_faiss_index(path, rows_now(previous, snapshot), snapshot.chunk_vectors)


def rows_now(previous: Snapshot, snapshot: Snapshot) -> np.ndarray:
    """Per chunk row of `previous`, the row of the same chunk in `snapshot` (-1 when it left): the
    chunks of a document unchanged between them are the same, in the same order."""
    assert previous.layout is not None and snapshot.layout is not None, "snapshots compute their layouts"
    before = previous.manifest.documents
    unchanged = (d for d, sha256 in snapshot.manifest.documents.items() if before.get(d) == sha256)
    carried, _ = carried_rows(previous.layout, snapshot.layout, unchanged)
    moved = np.full(len(previous.chunks), -1, dtype=np.int64)
    kept = np.flatnonzero(carried >= 0)
    moved[carried[kept]] = kept
    return moved


def sentence_table(chunks: Sequence[Chunk]) -> dict[tuple[str, int, int], int]:
    """Unique sentences of all chunks, in order: (doc id, start, end) -> row."""
    rows: dict[tuple[str, int, int], int] = {}
    for chunk in chunks:
        for span in chunk.sentences:
            rows.setdefault((chunk.doc_id, span.start, span.end), len(rows))
    return rows


def current_version(index_dir: Path) -> str | None:
    """The version named by CURRENT, or None when nothing was built."""
    try:
        return (index_dir / "CURRENT").read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        raise IndexCorrupt(f"the index's CURRENT file is damaged; {REBUILD_HINT}") from None


def new_version() -> str:
    return time.strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}-{time.monotonic_ns() % 10**6:06d}"


def write_snapshot(index_dir: Path, manifest: Manifest, snapshot: Snapshot) -> Path:
    """Write all files of a snapshot into a temporary folder, then rename it into place."""
    versions = index_dir / "versions"
    staging = versions / f".staging-{manifest.version}"
    try:
        versions.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        _write_files(staging, manifest, snapshot)
        final = versions / manifest.version
        os.rename(staging, final)
    except (OSError, RuntimeError) as exc:  # numpy raises OSError on a full disk, FAISS RuntimeError
        shutil.rmtree(staging, ignore_errors=True)
        raise IndexWriteFailed(f"could not write the index in {index_dir} ({_why(exc)})") from None
    except BaseException:  # an interrupt: leave nothing half-written behind
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, OSError):  # numpy's short write, with no errno: the disk filled up
        return "a short write: the disk is full"
    return "FAISS could not write its file: is the disk full?"


def clear_unfinished(index_dir: Path) -> None:
    """Remove the staging folders of builds that died (kill -9, power loss). Call it holding the build
    lock: no other build can be writing one, and on a nearly full disk they hold the space needed."""
    for staging in (index_dir / "versions").glob(".staging-*"):
        shutil.rmtree(staging, ignore_errors=True)
        log.warning("removed %s, left by a build that did not finish", staging.name)


def _write_files(staging: Path, manifest: Manifest, snapshot: Snapshot) -> None:
    assert snapshot.layout is not None, "a snapshot computes its layout"
    doc_ids = snapshot.layout.doc_ids
    manifest.documents = {doc_id: manifest.documents[doc_id] for doc_id in doc_ids}  # in row order
    lines = {
        "documents": (snapshot.documents[d].model_dump_json() for d in doc_ids),
        "chunks": (chunk.model_dump_json() for chunk in snapshot.chunks),
        "entities": (entities_line(d, snapshot.entities.get(d, [])) for d in doc_ids),
    }
    for kind, name in LINE_FILES.items():
        np.save(staging / f"{kind}_offsets.npy", write_lines(staging / name, lines[kind]))
    snapshot.layout.save(staging)
    save_array(staging / "chunk_vectors.npy", snapshot.chunk_vectors)
    save_array(staging / "sentence_vectors.npy", snapshot.sentence_vectors)
    import faiss

    faiss.write_index(snapshot.dense_index, str(staging / "index.faiss"))
    if snapshot.sentence_vectors_xl is not None:
        save_array(staging / MULTILINGUAL_FILE, snapshot.sentence_vectors_xl)
    assert snapshot.lexical is not None, "a build computes the lexical index"
    snapshot.lexical.save(staging)
    (staging / PROPER_TERMS_FILE).write_text(json.dumps(sorted(snapshot.proper_terms)), encoding="utf-8")
    names = snapshot.name_counts()
    if names is not None:
        (staging / NAME_COUNTS_FILE).write_text(names.to_json(), encoding="utf-8")
    written = _data_files(manifest, names is not None)
    manifest.files = {name: _sha256(staging / name) for name in written}
    manifest.sizes = {name: (staging / name).stat().st_size for name in written}
    _vouch_for(staging, written)
    (staging / "manifest.json").write_text(manifest.model_dump_json(indent=1), encoding="utf-8")
    _fsync_tree(staging)


def _vouch_for(staging: Path, names: tuple[str, ...]) -> None:
    """Record the files just hashed as verified (`verify`), so that the next load, the bot's hot
    swap or the next build, does not hash them again (a new 1M-chunk snapshot's first load: 6.6 s).
    Each file's modification time is set back past `RACY_NS` first: a later write sets it to the
    present, which differs from the recorded stamp, so a same-size edit is still caught."""
    past = time.time_ns() - 2 * RACY_NS
    stamps = {}
    for name in names:
        os.utime(staging / name, ns=(past, past))
        stat = (staging / name).stat()
        stamps[name] = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
    save_cache(staging / VERIFIED_FILE, stamps)


def save_array(path: Path, array: np.ndarray) -> None:
    """`np.save`, or a hard link to the `.npy` file the array maps whole (a build's vector files,
    `index.vector_files`): the same bytes, without writing gigabytes again. Snapshot files are
    never written after they are saved, so sharing them is safe."""
    source = mapped_file(array)
    if source is not None:
        try:
            os.link(source[0], path)
            return
        except OSError:  # another file system, or one without links: write a copy
            pass
    np.save(path, array)


def publish(index_dir: Path, version: str) -> None:
    """Point CURRENT at `version` atomically, then drop snapshots nobody should need."""
    pointer = index_dir / "CURRENT.tmp"
    try:
        pointer.write_text(version + "\n", encoding="utf-8")
        with open(pointer, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(pointer, index_dir / "CURRENT")
    except OSError as exc:
        pointer.unlink(missing_ok=True)
        shutil.rmtree(index_dir / "versions" / version, ignore_errors=True)  # never named: unused
        raise IndexWriteFailed(f"could not publish the index in {index_dir} ({_why(exc)})") from None
    _prune(index_dir / "versions", keep=version)


def load_snapshot(index_dir: Path) -> Snapshot:
    """Load and verify the snapshot CURRENT names.

    Raises:
        IndexNotBuilt: nothing was built yet.
        IndexCorrupt: a file is missing, truncated or does not match its checksum.
    """
    version = current_version(index_dir)
    if version is None:
        raise IndexNotBuilt(f"No index in {index_dir} yet: run `python -m index build` to build it.")
    folder = index_dir / "versions" / version
    manifest = _read_manifest(folder)
    verify(folder, manifest)
    try:
        return _read_snapshot(folder, manifest)
    except (ValueError, OSError, RuntimeError, ValidationError) as exc:
        raise IndexCorrupt(
            f"The index in {folder} cannot be read ({exc.__class__.__name__}); {REBUILD_HINT}."
        ) from exc


def verify(folder: Path, manifest: Manifest) -> None:
    """Check each file's size, and its checksum unless it was verified before unchanged.

    Raises:
        IndexCorrupt: a file is missing, or its size or checksum is not the manifest's.
    """
    cached = load_cache(folder / VERIFIED_FILE)
    verified = cached if isinstance(cached, dict) else {}  # none yet, or damaged: verify everything
    now_verified = {}
    for name in _data_files(manifest, NAME_COUNTS_FILE in manifest.files):
        try:
            stat = (folder / name).stat()
        except OSError:
            stat = None
        if stat is None or stat.st_size != manifest.sizes.get(name):
            raise IndexCorrupt(f"The index file {folder / name} is missing or damaged; {REBUILD_HINT}.")
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        if verified.get(name) != stamp and _sha256(folder / name) != manifest.files.get(name):
            raise IndexCorrupt(f"The index file {folder / name} is damaged; {REBUILD_HINT}.")
        if stat.st_mtime_ns < time.time_ns() - RACY_NS:
            now_verified[name] = stamp
    if now_verified != verified:
        save_cache(folder / VERIFIED_FILE, now_verified)


def _data_files(manifest: Manifest, name_counts: bool) -> tuple[str, ...]:
    """The files of a snapshot; `name_counts`: whether it keeps them (snapshots written before they
    were kept do not)."""
    multilingual = (MULTILINGUAL_FILE,) if manifest.multilingual else ()
    return DATA_FILES + multilingual + ((NAME_COUNTS_FILE,) if name_counts else ())


def _read_manifest(folder: Path) -> Manifest:
    try:
        manifest = Manifest.model_validate_json((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"The index manifest in {folder} is missing or damaged; {REBUILD_HINT}.") from exc
    if manifest.format_version != FORMAT_VERSION:
        raise IndexCorrupt(f"The index in {folder} has an older format; {REBUILD_HINT}.")
    return manifest


def _read_snapshot(folder: Path, manifest: Manifest) -> Snapshot:
    """The snapshot with everything large memory-mapped, its rows parsed when read (`index.tables`)."""
    import faiss

    doc_ids = list(manifest.documents)
    layout = Layout.load(folder, doc_ids)
    parsers = {"documents": parse_document, "chunks": parse_chunk, "entities": parse_entities}
    rows = {kind: _rows(folder, kind, parse) for kind, parse in parsers.items()}
    # Memory-mapped: a large corpus keeps its exact vectors on disk, read only for re-ranking.
    chunk_vectors = mapped_array(folder / "chunk_vectors.npy")
    sentence_vectors = mapped_array(folder / "sentence_vectors.npy")
    faiss_index = faiss.read_index(str(folder / "index.faiss"), faiss.IO_FLAG_MMAP_IFC)
    set_search_depth(faiss_index)
    snapshot = Snapshot(
        manifest,
        KeyedRows(doc_ids, rows["documents"]),
        rows["chunks"],
        chunk_vectors,
        sentence_vectors,
        faiss_index,
        KeyedRows(doc_ids, rows["entities"]),
        SentenceRows(layout),
        layout=layout,
    )
    snapshot.lexical = bm25.BM25.load(folder)
    snapshot.proper_terms = frozenset(json.loads((folder / PROPER_TERMS_FILE).read_text(encoding="utf-8")))
    if NAME_COUNTS_FILE in manifest.files:
        snapshot.name_counts = functools.partial(_read_name_counts, folder / NAME_COUNTS_FILE)
    if manifest.multilingual:
        snapshot.sentence_vectors_xl = mapped_array(folder / MULTILINGUAL_FILE)
        if len(snapshot.sentence_vectors_xl) != len(sentence_vectors):
            raise ValueError("multilingual sentence rows differ")
    counts = {
        live_entries(faiss_index),
        len(chunk_vectors),
        snapshot.lexical.size,
        len(layout.chunk_document),
    }
    if counts != {len(snapshot.chunks)}:
        raise ValueError("row counts differ")
    if len(sentence_vectors) != len(snapshot.sentence_rows):
        raise ValueError("sentence rows differ")
    return snapshot


def _read_name_counts(path: Path) -> NameCounts:
    """The counts the build wrote (verified with the rest of the snapshot when it was loaded)."""
    return NameCounts.from_json(path.read_text(encoding="utf-8"))


def _rows(folder: Path, kind: str, parse) -> JsonRows:
    offsets = np.load(folder / f"{kind}_offsets.npy", allow_pickle=False)  # 8 bytes a row: read whole
    return JsonRows(folder / LINE_FILES[kind], offsets, parse)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())


def _prune(versions: Path, keep: str) -> None:
    """Keep the newest snapshots (a running bot may still be reading the one before)."""
    finished = sorted((p for p in versions.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
    for old in finished[:-KEEP_SNAPSHOTS]:
        if old.name != keep:
            shutil.rmtree(old, ignore_errors=True)
