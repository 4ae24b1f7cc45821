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
from index.embedding import Embedder
from index.entities import ANNOTATION, EntityJob, EntitySpan
from index.errors import IndexCorrupt, IndexNotBuilt
from index.lexical import NameCounts, analyzer_fingerprint, normalise
from index.milvus_store import MilvusStore, MilvusTarget
from index.models import BuildReport, Chunk, Document
from index.multilingual import MULTILINGUAL_MODEL, multilingual_encoder
from index.sources import load_documents
from index.store import FolderStore, Manifest, Snapshot, SnapshotStore, new_version, sentence_table
from index.vector_files import VectorFile, scratch_folder

log = logging.getLogger(__name__)
PASSES_PER_CALL = 4  # texts handed to the embedder at a time, in its batches: a progress step
COPY_BLOCK = 4096  # rows of previous vectors copied into a new snapshot's files at a time


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
    owner: dict[tuple[str, int, int], Chunk] = {}
    for chunk in chunks:
        for span in chunk.sentences:
            owner.setdefault((chunk.doc_id, span.start, span.end), chunk)
    read: dict[str, Document] = {}  # each document looked up once, not once per sentence
    sentence_texts = [
        sentence_embedding_text(read.get(d) or read.setdefault(d, documents[d]), chunk, s, e)
        for (d, s, e), chunk in owner.items()
    ]
    return [chunk_embedding_text(c) for c in chunks], sentence_texts


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


def _assemble(
    settings, embedder, documents, previous, progress, phases: Phases, scratch: Path
) -> tuple[Snapshot, tuple[int, int, int]]:
    """Chunk every document and find a vector for every chunk and sentence, embedding only new text.
    The vectors are files in `scratch` (see `index.vector_files`)."""
    by_id = {doc.id: doc for doc in documents}
    if previous is not None:  # its chunks are read by three steps below: parse them once
        with phases.timed("read previous index"):
            previous = replace(previous, chunks=list(previous.chunks))
    reusable = previous if previous is not None and _cut_alike(previous) else None  # else re-chunk all
    with phases.timed("chunk"):
        chunks = [chunk for doc in documents for chunk in _chunks_of(doc, reusable, settings)]
        sentence_rows = sentence_table(chunks)
        chunk_texts, sentence_texts = embedding_texts(by_id, chunks)
    same_texts = previous is not None and previous.manifest.embedding_text == EMBEDDING_TEXT_VERSION
    entities, unannotated = _entities_known(documents, previous)
    with EntityJob([doc.text for doc in unannotated]) as entity_job:  # other processes, on a large corpus
        with phases.timed("embed"):
            cache = _vector_cache(previous, embedder) if previous and same_texts else {}
            chunk_vectors, chunk_embedded = _vectors_for(
                chunk_texts, cache, embedder, progress, "chunks", scratch / "chunks.f32"
            )
            sentence_vectors, sentence_embedded = _vectors_for(
                sentence_texts, cache, embedder, progress, "sentences", scratch / "sentences.f32"
            )
        with phases.timed("entities (after embedding)"):
            entities.update(zip((doc.id for doc in unannotated), entity_job.result()))
    entities = {doc.id: entities[doc.id] for doc in documents}
    with phases.timed("lexical"):
        lexical = _lexical_for(chunks, previous if same_texts else None)
        names = _names_for(chunks, previous)
    with phases.timed("embed multilingual"):
        multilingual, multilingual_embedded = _multilingual_vectors(
            settings, by_id, sentence_rows, previous, progress, scratch / "sentences_xl.f32"
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
    with phases.timed("layout"):
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
            name_counts=lambda: names,
        )
    return snapshot, (chunk_embedded, sentence_embedded, multilingual_embedded)


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


def _lexical_for(chunks: list[Chunk], previous: Snapshot | None) -> BM25:
    """BM25 over every chunk's heading and text, with the previous snapshot's stems where the same
    text was indexed before by the same analyzer: only new text is normalised."""
    if previous is None or previous.lexical is None or previous.manifest.analyzer != analyzer_fingerprint():
        return BM25.of_terms([normalise(chunk.heading) + normalise(chunk.text) for chunk in chunks])
    known = {chunk_embedding_text(c): row for row, c in enumerate(previous.chunks)}
    texts: list[int | list[str]] = []
    for chunk in chunks:
        row = known.get(chunk_embedding_text(chunk))
        texts.append(row if row is not None else normalise(chunk.heading) + normalise(chunk.text))
    return BM25.reusing(previous.lexical, texts)


def _names_for(chunks: list[Chunk], previous: Snapshot | None) -> NameCounts:
    """Who writes which stems with a capital (`index.lexical.NameCounts`): the previous snapshot's
    counts with the chunks that left taken out and the new ones added, when its analyzer was this one."""
    counts = None
    if previous is not None and previous.manifest.analyzer == analyzer_fingerprint():
        counts = previous.name_counts()
    if previous is None or counts is None:
        return NameCounts.of_texts(chunk.text for chunk in chunks)
    now, before = Counter(c.text for c in chunks), Counter(c.text for c in previous.chunks)
    return counts.changed(added=(now - before).elements(), removed=(before - now).elements())


def _multilingual_vectors(
    settings, documents, sentence_rows, previous, progress, path: Path
) -> tuple[np.ndarray | None, int]:
    """Every sentence by the multilingual encoder (its bare text), reusing the previous snapshot's
    vectors when the same encoder made them; and how many sentences it embedded."""
    if not settings.multilingual:
        return None, 0
    texts = [documents[d].text[s:e] for d, s, e in sentence_rows]
    cache = {}
    if previous is not None and previous.manifest.multilingual == MULTILINGUAL_MODEL:  # same encoder
        old = [previous.documents[d].text[s:e] for d, s, e in previous.sentence_rows]
        known = np.asarray(previous.sentence_vectors_xl)  # plain rows, as in `_vector_cache`
        cache = {_text_key(t): known[row] for row, t in enumerate(old)}
    unknown = any(_text_key(t) not in cache for t in texts)
    encoder = multilingual_encoder() if unknown else None  # loading it takes seconds: only when needed
    try:
        return _vectors_for(texts, cache, encoder, progress, "multilingual sentences", path)
    finally:
        if encoder is not None:  # a bot rebuilding as its sources change would keep 0.4 GB for good
            encoder.release_passages()


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _vector_cache(previous: Snapshot, embedder: Embedder) -> dict[str, np.ndarray]:
    """Vectors of the previous snapshot by the hash of the text they embed."""
    chunk_texts, sentence_texts = embedding_texts(previous.documents, previous.chunks)
    sentence_vectors, chunk_vectors = previous.sentence_vectors, previous.chunk_vectors
    cache = {_text_key(text): sentence_vectors[row] for row, text in enumerate(sentence_texts)}
    cache.update({_text_key(text): chunk_vectors[row] for row, text in enumerate(chunk_texts)})
    return cache


def _vectors_for(texts, cache, embedder, progress, label, path: Path) -> tuple[np.ndarray, int]:
    """Vectors for `texts` in order, written to `path` as they are found (see `index.vector_files`):
    cached where the same text was embedded before, and cached from now on (rows of the file)."""
    keys = [_text_key(t) for t in texts]
    out = VectorFile(path, len(keys))
    rows_of: dict[str, list[int]] = {}  # the texts to embed, each once, and where they go
    for start in range(0, len(keys), COPY_BLOCK):
        block = keys[start : start + COPY_BLOCK]
        known = [cache.get(key) for key in block]
        for row, key in enumerate(block, start):
            if key not in cache:
                rows_of.setdefault(key, []).append(row)
        dimensions = {len(vector) for vector in known if vector is not None}
        if dimensions:  # rows still to embed are written as zeros now, overwritten below
            rows = np.zeros((len(block), dimensions.pop()), dtype=np.float32)
            for i, vector in enumerate(known):
                if vector is not None:
                    rows[i] = vector
            out.write(start, rows)
    # Longest first: each forward pass then holds texts of about one length, so little padding is
    # computed (on 2 cores, RealTime QA's texts embed 1.45x faster than in their own order).
    missing = sorted(rows_of, key=lambda key: -len(texts[rows_of[key][0]]))
    step = PASSES_PER_CALL * embedder.batch_size if missing else 1  # no embedder when nothing is missing
    bar = _progress_bar(len(missing), step, label) if progress else None
    for start in range(0, len(missing), step):
        batch = missing[start : start + step]
        for key, vector in zip(batch, embedder.embed([texts[rows_of[key][0]] for key in batch])):
            for row in rows_of[key]:
                out.write(row, vector.reshape(1, -1))
        if bar:
            bar.update(len(batch))
    if bar:
        bar.close()
    vectors = out.finish()
    cache.update((key, vectors[rows[0]]) for key, rows in rows_of.items())
    return vectors, len(missing)


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
