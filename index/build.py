"""Build or update the index: embed only what is new, keep the rest, publish atomically."""

from __future__ import annotations

import hashlib
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from index.ann import choose_index_type
from index.bm25 import BM25
from index.chunking import CHUNKER_VERSION, DEFAULT_CHUNK_OVERLAP, DEFAULT_CHUNK_SIZE, chunk_document
from index.embed_processes import across_cores
from index.embedding import Embedder
from index.entities import ANNOTATION, EntityJob, EntitySpan
from index.errors import IndexCorrupt, IndexNotBuilt
from index.lexical import NameCounts, analyzer_fingerprint, normalise
from index.milvus_store import MilvusStore, MilvusTarget
from index.models import BuildReport, Chunk, Document
from index.multilingual import MULTILINGUAL_MODEL, multilingual_encoder
from index.sources import load_documents
from index.store import FolderStore, Manifest, Snapshot, SnapshotStore, new_version, sentence_table
from index.tables import Layout, SentenceKey, carried_rows, mapped_file, release_pages
from index.vector_files import VectorFile, scratch_folder

log = logging.getLogger(__name__)
COPY_BLOCK = 4096  # rows of previous vectors copied into a new snapshot's files at a time
KERNEL_COPY_ROWS = 256  # a run of carried rows this long is copied by the kernel, file to file


@dataclass(frozen=True)
class BuildSettings:
    """What decides the content of an index; a change in model or chunking means a full rebuild."""

    sources_dir: Path
    index_dir: Path
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_overlap: int = DEFAULT_CHUNK_OVERLAP
    index_type: str = "auto"
    multilingual: bool = True  # also embed every sentence with the multilingual encoder
    milvus: MilvusTarget | None = None  # store the index in Milvus instead of `index_dir`

    def relocated(self, sources_dir: Path, index_dir: Path, name: str) -> BuildSettings:
        """These settings for another corpus (an eval's, called `name`): its own folder, or its own
        Milvus collections beside the configured ones, so that it never overwrites the user's index."""
        milvus = self.milvus and self.milvus.beside(name)
        return replace(self, sources_dir=sources_dir, index_dir=index_dir, milvus=milvus)


def open_store(settings: BuildSettings) -> SnapshotStore:
    """The store the settings name: the index folder (FAISS), or Milvus."""
    if settings.milvus is not None:
        return MilvusStore(settings.milvus, lock_dir=settings.index_dir)
    return FolderStore(settings.index_dir)


def wanted_multilingual(settings: BuildSettings) -> str:
    """The multilingual encoder the index should record, or '' when it is off."""
    return MULTILINGUAL_MODEL if settings.multilingual else ""


# Bump when `chunk_embedding_text` or `sentence_embedding_text` changes. A build finds the previous
# snapshot's vectors and stems by computing its texts again with these functions: only right while
# they are unchanged; otherwise the next build embeds everything again.
EMBEDDING_TEXT_VERSION = 1
CURRENT_TEXTS = (CHUNKER_VERSION, EMBEDDING_TEXT_VERSION)


def texts_of(manifest: Manifest) -> tuple[int, int]:
    """How a snapshot's chunks were cut, and how their texts were embedded (see `CURRENT_TEXTS`)."""
    return manifest.chunker, manifest.embedding_text


def chunk_embedding_text(chunk: Chunk) -> str:
    """Chunks are embedded with their heading: it often names who or what the passage is about."""
    return f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text


def sentence_embedding_text(doc: Document, chunk: Chunk, start: int, end: int) -> str:
    sentence = doc.text[start:end]
    return f"{chunk.heading}: {sentence}" if chunk.heading else sentence


def embedding_texts(
    documents: Mapping[str, Document], chunks: Sequence[Chunk]
) -> tuple[list[str], list[str]]:
    """The texts embedded for the chunks, and for their unique sentences in `sentence_table` order."""
    sentences = _sentence_texts(documents, sentence_owners(chunks))
    return [chunk_embedding_text(c) for c in chunks], list(sentences.values())


def sentence_owners(chunks: Sequence[Chunk]) -> dict[SentenceKey, Chunk]:
    """The unique sentences of `chunks` in `sentence_table` order, each with the first chunk holding
    it (whose heading its embedding text carries)."""
    owner: dict[SentenceKey, Chunk] = {}
    for chunk in chunks:
        for span in chunk.sentences:
            owner.setdefault((chunk.doc_id, span.start, span.end), chunk)
    return owner


def _sentence_texts(
    documents: Mapping[str, Document], owners: dict[SentenceKey, Chunk]
) -> dict[SentenceKey, str]:
    read: dict[str, Document] = {}  # each document looked up once, not once per sentence
    return {
        (d, s, e): sentence_embedding_text(read.get(d) or read.setdefault(d, documents[d]), chunk, s, e)
        for (d, s, e), chunk in owners.items()
    }


def rebuild(
    settings: BuildSettings, embedder: Embedder, full: bool = False, progress: bool = False
) -> BuildReport:
    """Bring the index in its store (see `open_store`) up to date with `settings.sources_dir`.

    Args:
        full: ignore the previous snapshot and embed everything.
        progress: show a progress bar while embedding (only when stderr is a terminal).
    Returns:
        What was added, updated, removed, embedded and skipped.
    """
    store = open_store(settings)
    with store.build_lock():  # a second build waits, then finds little or nothing to do
        return _rebuild(settings, store, embedder, full, progress)


class Phases:
    """Seconds spent in each step of a build, for its report: where a large build's time goes."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - start, 3)


def _rebuild(
    settings: BuildSettings, store: SnapshotStore, embedder: Embedder, full: bool, progress: bool
) -> BuildReport:
    started = time.perf_counter()
    phases = Phases()
    with phases.timed("read sources"):
        documents, skipped = load_documents(settings.sources_dir)
    with phases.timed("read previous index"):
        previous = None if full else _previous_snapshot(settings, store, embedder)
    old_hashes = previous.manifest.documents if previous else {}
    new_hashes = {doc.id: doc.sha256 for doc in documents}
    added = sorted(set(new_hashes) - set(old_hashes))
    removed = sorted(set(old_hashes) - set(new_hashes))
    updated = sorted(d for d in set(new_hashes) & set(old_hashes) if new_hashes[d] != old_hashes[d])
    same_encoders = previous is not None and previous.manifest.multilingual == wanted_multilingual(settings)
    same_annotation = previous is not None and previous.manifest.annotator == ANNOTATION
    unchanged = same_encoders and same_annotation and not (added or removed or updated)
    if previous and unchanged and _cut_alike(previous):
        return _report(previous, documents, skipped, [], [], [], (0, 0, 0), False, started, phases)
    with scratch_folder(settings.index_dir) as scratch:
        snapshot, embedded = _assemble(settings, embedder, documents, previous, progress, phases, scratch)
        with phases.timed("store"):
            store.save(snapshot, previous)
    log.info("published index %s (%d chunks)", snapshot.manifest.version, len(snapshot.chunks))
    return _report(
        snapshot, documents, skipped, added, updated, removed, embedded, previous is None, started, phases
    )


def _previous_snapshot(settings: BuildSettings, store: SnapshotStore, embedder: Embedder) -> Snapshot | None:
    try:
        previous = store.load()
    except IndexNotBuilt:
        return None
    except IndexCorrupt as exc:
        log.warning("%s Rebuilding everything.", exc)
        return None
    m = previous.manifest
    if (m.model, m.chunk_size, m.chunk_overlap) != (
        embedder.name,
        settings.chunk_size,
        settings.chunk_overlap,
    ):
        log.info("model or chunking changed since the last build: rebuilding everything")
        return None
    return previous


@dataclass(frozen=True)
class Carried:
    """What a build takes over from the previous snapshot row for row, by the layouts of both: the
    rows of documents unchanged since (`index.tables.carried_rows`). Only the rest is looked at text
    by text, so that adding one article to a large archive does not list and hash every text in it."""

    chunks: np.ndarray  # per chunk row now, its previous row, or -1
    sentences: np.ndarray  # per sentence row now, its previous row, or -1
    left_chunks: np.ndarray  # previous chunk rows not carried (their documents changed or left)
    left_sentences: np.ndarray

    @classmethod
    def of(cls, previous: Snapshot | None, layout: Layout, documents: Sequence[Document]) -> Carried:
        if previous is None or previous.layout is None or not _cut_alike(previous):
            chunks = np.full(len(layout.chunk_document), -1, dtype=np.int64)
            sentences = np.full(len(layout.sentence_spans), -1, dtype=np.int64)
        else:
            before = previous.manifest.documents
            unchanged = (doc.id for doc in documents if before.get(doc.id) == doc.sha256)
            chunks, sentences = carried_rows(previous.layout, layout, unchanged)
        chunks_before = len(previous.chunks) if previous is not None else 0
        sentences_before = len(previous.sentence_rows) if previous is not None else 0
        return cls(chunks, sentences, _not_in(chunks, chunks_before), _not_in(sentences, sentences_before))


def _not_in(carried: np.ndarray, rows: int) -> np.ndarray:
    """The rows below `rows` that `carried` does not name."""
    taken = np.zeros(rows, dtype=bool)
    taken[carried[carried >= 0]] = True
    return np.flatnonzero(~taken)


def _assemble(
    settings, embedder, documents, previous, progress, phases: Phases, scratch: Path
) -> tuple[Snapshot, tuple[int, int, int]]:
    """Chunk every document and find a vector for every chunk and sentence, embedding only new text.
    The vectors are files in `scratch` (see `index.vector_files`)."""
    by_id = {doc.id: doc for doc in documents}
    if previous is not None:  # its chunks are read by the steps below: parse them once
        with phases.timed("read previous index"):
            previous = replace(previous, chunks=list(previous.chunks))
    reusable = previous if previous is not None and _cut_alike(previous) else None  # else re-chunk all
    with phases.timed("chunk"):
        chunks = [chunk for doc in documents for chunk in _chunks_of(doc, reusable, settings)]
        sentence_rows = sentence_table(chunks)
    with phases.timed("layout"):
        layout = Layout.of(by_id, chunks, sentence_rows)
        carried = Carried.of(previous, layout, documents)
    same_texts = previous is not None and previous.manifest.embedding_text == EMBEDDING_TEXT_VERSION
    entities, unannotated = _entities_known(documents, previous)
    new_texts = int((carried.chunks < 0).sum() + (carried.sentences < 0).sum())  # at most, to embed
    with across_cores(embedder, new_texts) as encoder:
        # On a large corpus, entities are found in other processes while the texts are embedded.
        with EntityJob([doc.text for doc in unannotated]) as entity_job:
            with phases.timed("embed"):
                chunk_vectors, sentence_vectors, embedded = _vectors(
                    by_id,
                    chunks,
                    sentence_rows,
                    previous if same_texts else None,
                    carried,
                    encoder,
                    progress,
                    scratch,
                )
            with phases.timed("entities (after embedding)"):
                entities.update(zip((doc.id for doc in unannotated), entity_job.result()))
    entities = {doc.id: entities[doc.id] for doc in documents}
    with phases.timed("lexical"):
        lexical = _lexical_for(chunks, previous if same_texts else None, carried)
        names = _names_for(chunks, previous, carried)
    with phases.timed("embed multilingual"):
        multilingual, multilingual_embedded = _multilingual_vectors(
            settings, by_id, layout, previous, carried, progress, scratch / "sentences_xl.npy"
        )
    index_type = choose_index_type(settings.index_type, len(chunks))
    manifest = Manifest(
        version=new_version(),
        created=time.time(),
        model=embedder.name,
        dimension=int(chunk_vectors.shape[1]),
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        index_type=index_type,
        annotator=ANNOTATION,
        multilingual=wanted_multilingual(settings),
        analyzer=analyzer_fingerprint(),
        chunker=CHUNKER_VERSION,
        embedding_text=EMBEDDING_TEXT_VERSION,
        documents={doc.id: doc.sha256 for doc in documents},
        files={},
    )
    snapshot = Snapshot(
        manifest,
        by_id,
        chunks,
        chunk_vectors,
        sentence_vectors,
        None,  # the dense index is the store's to build (FAISS in the folder, Milvus's own)
        entities,
        sentence_rows,
        multilingual,
        lexical,
        names.proper_terms(),
        layout,
        name_counts=lambda: names,
    )
    return snapshot, (*embedded, multilingual_embedded)


def _cut_alike(previous: Snapshot) -> bool:
    """Whether `previous` was cut and its texts embedded as this version does (see `CURRENT_TEXTS`)."""
    return texts_of(previous.manifest) == CURRENT_TEXTS


def _chunks_of(doc: Document, previous: Snapshot | None, settings: BuildSettings) -> list[Chunk]:
    """The document's chunks: the previous snapshot's when the document is unchanged and `previous`
    was cut by this chunker with these settings (re-cutting 200,000 chunks took 35 s)."""
    if (
        previous is not None
        and previous.layout is not None
        and previous.manifest.documents.get(doc.id) == doc.sha256
    ):
        return [previous.chunks[row] for row in previous.layout.chunks_of(doc.id)]
    return chunk_document(doc, settings.chunk_size, settings.chunk_overlap)


def _entities_known(
    documents: list[Document], previous: Snapshot | None
) -> tuple[dict[str, list[EntitySpan]], list[Document]]:
    """The previous snapshot's entity spans of the unchanged documents, and the documents to annotate."""
    reusable = previous is not None and previous.manifest.annotator == ANNOTATION
    old = previous.entities if previous is not None and reusable else {}
    old_hashes = previous.manifest.documents if previous is not None else {}
    known = {d.id: old[d.id] for d in documents if d.id in old and old_hashes.get(d.id) == d.sha256}
    return known, [d for d in documents if d.id not in known]


def _lexical_for(chunks: list[Chunk], previous: Snapshot | None, carried: Carried) -> BM25:
    """BM25 over every chunk's heading and text, with the previous snapshot's stems for the rows
    carried over and for other texts it indexed by the same analyzer: only new text is normalised."""
    if previous is None or previous.lexical is None or previous.manifest.analyzer != analyzer_fingerprint():
        return BM25.of_terms([normalise(chunk.heading) + normalise(chunk.text) for chunk in chunks])
    known = {chunk_embedding_text(previous.chunks[row]): row for row in carried.left_chunks.tolist()}
    texts: list[int | list[str]] = []
    for chunk, row in zip(chunks, carried.chunks.tolist()):
        if row < 0:
            row = known.get(chunk_embedding_text(chunk), -1)
        texts.append(row if row >= 0 else normalise(chunk.heading) + normalise(chunk.text))
    return BM25.reusing(previous.lexical, texts)


def _names_for(chunks: list[Chunk], previous: Snapshot | None, carried: Carried) -> NameCounts:
    """Who writes which stems with a capital (`index.lexical.NameCounts`): the previous snapshot's
    counts with the chunks that left taken out and the new ones added, when its analyzer was this one."""
    counts = None
    if previous is not None and previous.manifest.analyzer == analyzer_fingerprint():
        counts = previous.name_counts()
    if previous is None or counts is None:
        return NameCounts.of_texts(chunk.text for chunk in chunks)
    now = Counter(chunks[row].text for row in np.flatnonzero(carried.chunks < 0).tolist())
    before = Counter(previous.chunks[row].text for row in carried.left_chunks.tolist())
    return counts.changed(added=(now - before).elements(), removed=(before - now).elements())


def _vectors(by_id, chunks, sentence_rows, previous, carried: Carried, embedder, progress, scratch: Path):
    """The chunk and sentence vectors (files in `scratch`) and how many of each were embedded: rows
    carried over are copied from `previous` (None: its texts were embedded another way), others
    found by their text (an edited article's unchanged paragraphs; a sentence that is a whole
    chunk), the rest embedded."""
    assert previous is not None or (carried.chunks < 0).all(), "rows are carried from a previous snapshot"
    new_chunks = np.flatnonzero(carried.chunks < 0).tolist()
    fresh = [chunks[row] for row in new_chunks]
    chunk_texts = dict(zip(new_chunks, map(chunk_embedding_text, fresh)))
    owners = sentence_owners(fresh)
    sentence_texts = {sentence_rows[key]: text for key, text in _sentence_texts(by_id, owners).items()}
    known = _Known()
    if previous is not None:
        left = [previous.chunks[row] for row in carried.left_chunks.tolist()]
        old = _sentence_texts(previous.documents, sentence_owners(left))
        known.add(previous.sentence_vectors, {text: previous.sentence_rows[key] for key, text in old.items()})
        known.add(
            previous.chunk_vectors, dict(zip(map(chunk_embedding_text, left), carried.left_chunks.tolist()))
        )
    old_chunks, old_sentences = (
        (None, None) if previous is None else (previous.chunk_vectors, previous.sentence_vectors)
    )
    chunk_vectors, chunks_embedded = _vectors_for(
        carried.chunks,
        old_chunks,
        chunk_texts,
        known,
        embedder,
        progress,
        "chunks",
        scratch / "chunks.npy",
    )
    known.add(chunk_vectors, {text: row for row, text in chunk_texts.items()})
    sentence_vectors, sentences_embedded = _vectors_for(
        carried.sentences,
        old_sentences,
        sentence_texts,
        known,
        embedder,
        progress,
        "sentences",
        scratch / "sentences.npy",
    )
    return chunk_vectors, sentence_vectors, (chunks_embedded, sentences_embedded)


def _multilingual_vectors(
    settings, documents, layout: Layout, previous, carried: Carried, progress, path: Path
) -> tuple[np.ndarray | None, int]:
    """Every sentence by the multilingual encoder (its bare text), reusing the previous snapshot's
    vectors when the same encoder made them; and how many sentences it embedded."""
    if not settings.multilingual:
        return None, 0
    same = previous is not None and previous.manifest.multilingual == MULTILINGUAL_MODEL
    origin = carried.sentences if same else np.full(len(layout.sentence_spans), -1, dtype=np.int64)
    texts = _bare_texts(documents, layout, np.flatnonzero(origin < 0))
    known, old = _Known(), None
    if same:
        old = previous.sentence_vectors_xl
        left = _bare_texts(previous.documents, previous.layout, carried.left_sentences)
        known.add(old, {text: row for row, text in left.items()})
    need = any(known.get(_text_key(text)) is None for text in texts.values())
    label = "multilingual sentences"
    if not need:  # loading the encoder takes seconds: only when needed
        return _vectors_for(origin, old, texts, known, None, progress, label, path)
    encoder = multilingual_encoder()
    try:
        with across_cores(encoder, len(texts)) as spread:
            return _vectors_for(origin, old, texts, known, spread, progress, label, path)
    finally:  # a bot rebuilding as its sources change would keep 0.4 GB for good
        encoder.release_passages()


def _bare_texts(documents: Mapping[str, Document], layout: Layout, rows: np.ndarray) -> dict[int, str]:
    """The text of each of these sentence rows, by row."""
    spans, ids = layout.sentence_spans[rows].tolist(), layout.doc_ids
    return {row: documents[ids[d]].text[s:e] for row, (d, s, e) in zip(rows.tolist(), spans)}


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class _Known:
    """Vectors found before, by the key of the text they embed: rows of arrays, not copies."""

    def __init__(self) -> None:
        self._arrays: list[np.ndarray] = []
        self._where: dict[str, tuple[int, int]] = {}

    def add(self, vectors: np.ndarray, rows: dict[str, int]) -> None:
        """`rows`: text -> its row of `vectors`. A text added again points at its latest row."""
        number = len(self._arrays)
        self._arrays.append(vectors)
        self._where.update((_text_key(text), (number, row)) for text, row in rows.items())

    def get(self, key: str) -> np.ndarray | None:
        where = self._where.get(key)
        return None if where is None else self._arrays[where[0]][where[1]]


def _vectors_for(
    carried, previous, texts, known: _Known, embedder, progress, label, path: Path
) -> tuple[np.ndarray, int]:
    """A vector for every row of `carried`, written to `path` as it is found (see
    `index.vector_files`): copied from the row of `previous` that `carried` names, else found in
    `known` by the text of the row (`texts`), else embedded, each distinct text once; and how many
    texts were embedded."""
    out = VectorFile(path, len(carried))
    found: dict[int, np.ndarray] = {}
    rows_of: dict[str, list[int]] = {}  # the texts to embed, each once, and where they go
    for row, text in texts.items():
        key = _text_key(text)
        vector = known.get(key)
        if vector is not None:
            found[row] = vector
        else:
            rows_of.setdefault(key, []).append(row)
    _copy_known(out, carried, previous, found)
    # Longest first: each forward pass then holds texts of about one length, so little padding is
    # computed (on 2 cores, RealTime QA's texts embed 1.45x faster than in their own order).
    missing = sorted(rows_of.values(), key=lambda rows: -len(texts[rows[0]]))
    step = embedder.texts_per_call if missing else 1  # no embedder when nothing is missing
    bar = _progress_bar(len(missing), step, label) if progress else None
    for start in range(0, len(missing), step):
        batch = missing[start : start + step]
        for rows, vector in zip(batch, embedder.embed([texts[rows[0]] for rows in batch])):
            for row in rows:
                out.write(row, vector.reshape(1, -1))
        if bar:
            bar.update(len(batch))
    if bar:
        bar.close()
    return out.finish(), len(missing)


def _copy_known(out: VectorFile, carried: np.ndarray, previous, found: dict[int, np.ndarray]) -> None:
    """Write the carried rows (from `previous`) and the `found` ones. Long runs of consecutive rows
    are copied from file to file by the kernel; the other rows `COPY_BLOCK` at a time, with the rows
    still to embed written as zeros meanwhile, and overwritten."""
    source = mapped_file(previous) if previous is not None else None
    runs = [run for run in carried_runs(carried) if run[2] >= KERNEL_COPY_ROWS] if source is not None else []
    if runs:
        carried = carried.copy()
        for row, _, count in runs:
            carried[row : row + count] = -1  # copied below, after the blocks that may cover them
    some = next(iter(found.values()), None)
    dimension = previous.shape[1] if previous is not None else (len(some) if some is not None else None)
    if dimension is not None:
        _copy_blocks(out, carried, previous, found, dimension)
    for row, before, count in runs:
        assert source is not None, "runs are copied from a file"
        if not out.copy_rows(source, before, row, count, previous.shape[1]):
            for start in range(0, count, COPY_BLOCK):  # a block at a time: a run can be gigabytes
                out.write(row + start, previous[before + start : before + min(count, start + COPY_BLOCK)])
    if previous is not None:
        release_pages(previous)


def _copy_blocks(out: VectorFile, carried, previous, found: dict[int, np.ndarray], dimension: int) -> None:
    found_rows = np.array(sorted(found), dtype=np.int64)
    for start in range(0, len(carried), COPY_BLOCK):
        block = carried[start : start + COPY_BLOCK]
        kept = block >= 0
        low, high = np.searchsorted(found_rows, [start, start + len(block)])
        if not kept.any() and low == high:
            continue
        vectors = np.zeros((len(block), dimension), dtype=np.float32)
        if kept.any():
            vectors[kept] = previous[block[kept]]
        for row in found_rows[low:high].tolist():
            vectors[row - start] = found[row]
        out.write(start, vectors)


def carried_runs(carried: np.ndarray) -> list[tuple[int, int, int]]:
    """(row, previous row, count) of each run of rows carried from consecutive previous rows."""
    rows = np.flatnonzero(carried >= 0)
    if not len(rows):
        return []
    breaks = np.flatnonzero((np.diff(rows) != 1) | (np.diff(carried[rows]) != 1)) + 1
    starts, ends = np.concatenate([[0], breaks]), np.concatenate([breaks, [len(rows)]])
    return [(int(rows[a]), int(carried[rows[a]]), int(b - a)) for a, b in zip(starts, ends)]


def _progress_bar(total: int, step: int, label: str):
    if total < step or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"embedding {label}", unit=label[:-1])


def _report(snapshot, documents, skipped, added, updated, removed, embedded, full, started, phases):
    chunks_embedded, sentences_embedded, multilingual_embedded = embedded
    return BuildReport(
        documents=len(documents),
        chunks=len(snapshot.chunks),
        added=added,
        updated=updated,
        removed=removed,
        embedded_chunks=chunks_embedded,
        embedded_sentences=sentences_embedded,
        embedded_multilingual=multilingual_embedded,
        skipped=[{"path": s.path, "reason": s.reason} for s in skipped],
        full_rebuild=full,
        version=snapshot.manifest.version,
        seconds=round(time.perf_counter() - started, 3),
        phases=phases.seconds,
    )
