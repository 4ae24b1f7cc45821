"""Hybrid retrieval: dense (FAISS) and lexical (BM25) scores fused per chunk.

The fused score is `cosine + LEXICAL_WEIGHT * bm25 / max_bm25`: dense similarity carries
paraphrases, the normalised BM25 term carries names, numbers and misspellings (see `lexical`).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np

from index.build import chunk_embedding_text
from index.embedding import Embedder
from index.errors import IndexStoreError
from index.lexical import BM25, normalise, proper_terms
from index.models import Hit
from index.store import Snapshot, current_version, load_snapshot

log = logging.getLogger(__name__)

LEXICAL_WEIGHT = 0.4
CANDIDATES = 50


class Retriever:
    """Search one loaded snapshot."""

    def __init__(self, snapshot: Snapshot, embedder: Embedder) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self.bm25 = BM25([chunk_embedding_text(c) for c in snapshot.chunks])
        self.proper_terms = proper_terms([c.text for c in snapshot.chunks])
        self.section_terms: dict[tuple[str, str], set[str]] = {}
        for chunk in snapshot.chunks:
            section = self.section_terms.setdefault((chunk.doc_id, chunk.heading), set(normalise(chunk.heading)))
            section.update(normalise(chunk.text))

    @property
    def version(self) -> str:
        return self.snapshot.manifest.version

    def embed_query(self, query: str) -> np.ndarray:
        return self.embedder.embed([query])[0]

    def search(self, query: str, k: int = 5, vector: np.ndarray | None = None) -> list[Hit]:
        """The `k` best chunks for `query`, best first.

        Args:
            vector: the query's embedding, when the caller already has it.
        """
        chunks = self.snapshot.chunks
        if not chunks or not query.strip():
            return []
        vector = self.embed_query(query) if vector is None else vector
        lexical = self.bm25.scores(query)
        lexical_candidates = {int(row) for row in np.argsort(-lexical)[:CANDIDATES] if lexical[row] > 0}
        rows = np.fromiter(self._dense_candidates(vector) | lexical_candidates, dtype=np.int64)
        dense = self.snapshot.chunk_vectors[rows] @ vector
        top_lexical = float(lexical.max()) or 1.0
        fused = dense + LEXICAL_WEIGHT * lexical[rows] / top_lexical
        order = np.argsort(-fused)[:k]
        return [
            Hit(chunk=chunks[rows[i]], score=float(fused[i]), dense=float(dense[i]), lexical=float(lexical[rows[i]]))
            for i in order
        ]

    def _dense_candidates(self, vector: np.ndarray) -> set[int]:
        depth = min(CANDIDATES, len(self.snapshot.chunks))
        _, ids = self.snapshot.faiss_index.search(vector.reshape(1, -1), depth)
        return {int(i) for i in ids[0] if i >= 0}


class LiveIndex:
    """The retriever for the newest published snapshot, swapped in without a restart.

    Callers take `retriever()` once per question, so a question in flight finishes on the snapshot
    it started with while the next one sees the new index.
    """

    def __init__(self, index_dir: Path, embedder: Embedder, check_every: float = 1.0) -> None:
        self.index_dir = index_dir
        self.embedder = embedder
        self.check_every = check_every
        self._current: Retriever | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def retriever(self) -> Retriever:
        """The current retriever, reloading first if a newer snapshot was published.

        Raises:
            IndexStoreError: no usable index and none loaded before.
        """
        now = time.monotonic()
        if self._current is not None and now - self._checked < self.check_every:
            return self._current
        with self._lock:
            self._checked = now
            version = current_version(self.index_dir)
            if self._current is None or version != self._current.version:
                self._reload()
            return self._current

    def _reload(self) -> None:
        try:
            self._current = Retriever(load_snapshot(self.index_dir), self.embedder)
            log.info("serving index %s", self._current.version)
        except IndexStoreError:
            if self._current is None:
                raise
            log.warning("new index could not be loaded; still serving %s", self._current.version, exc_info=True)
