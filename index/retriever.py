"""Hybrid retrieval: dense (FAISS) and lexical (BM25) scores fused per chunk.

The fused score is `dense + LEXICAL_WEIGHT * bm25 / max_bm25`, where dense is the larger of the
chunk's cosine and SENTENCE_WEIGHT times its best sentence's cosine: dense similarity carries
paraphrases, the normalised BM25 term carries names, numbers and misspellings (see `lexical`).
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_left
from datetime import date
from pathlib import Path

import numpy as np

from index.embedding import Embedder
from index.entities import EntitySpan
from index.errors import IndexStoreError
from index.lexical import normalise
from index.models import Chunk, Document, Hit, Span
from index.multilingual import multilingual_encoder
from index.store import FolderStore, Snapshot, SnapshotStore

log = logging.getLogger(__name__)

LEXICAL_WEIGHT = 0.4
CANDIDATES = 50
SENTENCE_WEIGHT = 0.9
RECENCY_WEIGHT = 0.1  # fused score a source loses each time its age (in years, plus one) doubles


def fuse(dense: np.ndarray, lexical: np.ndarray, top_lexical: float) -> np.ndarray:
    """Dense cosine plus BM25 scaled by the query's best BM25 score: both on a 0-1 scale, so a
    passage that matches the query's rare words and its meaning beats one that matches either."""
    return dense + LEXICAL_WEIGHT * lexical / (top_lexical or 1.0)


def age_penalty(days: np.ndarray, reference: date) -> np.ndarray:
    """What each chunk's fused score loses for its source's age at `reference`, given its
    publication day (date ordinal; date.min's when undated).

    News readers ask about the news: of two sources that match a question about as well, the newer
    one is the likelier answer (a story is retold, and its older articles were written before it
    ended). The loss grows with the logarithm of the age, so a week or a month barely counts and a
    decade does. An undated source loses the median of the dated ones: neither favoured nor pushed
    down.
    """
    dated = days > date.min.toordinal()
    if not dated.any():
        return np.zeros(len(days))
    years = np.maximum(reference.toordinal() - days, 0) / 365.25
    penalty = RECENCY_WEIGHT * np.log2(1.0 + years)
    return np.where(dated, penalty, np.median(penalty[dated]))


class Retriever:
    """Search one loaded snapshot."""

    def __init__(self, snapshot: Snapshot, embedder: Embedder) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        assert snapshot.lexical is not None, "a loaded snapshot has its lexical index"
        self.bm25 = snapshot.lexical  # heading and text of each chunk, as embedded
        assert snapshot.layout is not None, "a snapshot computes its layout"
        self.layout = snapshot.layout
        # Sentence vector rows of every chunk, flattened: chunk i owns [offsets[i], offsets[i + 1]).
        self._sentence_rows_flat = self.layout.chunk_sentences
        self._sentence_offsets = self.layout.chunk_sentence_offsets
        # Each chunk's publication day (date ordinal; date.min's when undated), for questions asked
        # "as of" a date.
        self._chunk_days = np.asarray(self.layout.document_days)[self.layout.chunk_document]
        self._entity_starts: dict[str, list[int]] = {}
        self._hubness: np.ndarray | None = None
        self._section_terms: dict[tuple[str, str], set[str]] = {}

    # The corpus's vocabulary, for the answer judge: which words the sources use and how rare.

    def variants(self, term: str) -> list[tuple[str, float]]:
        """Index terms that `term` may stand for (itself, spelling variants, close misspellings),
        each with its similarity; empty when the sources use nothing like it."""
        return self.bm25.expand(term)

    def knows(self, term: str) -> bool:
        return self.bm25.knows(term)

    def rarity(self, term: str) -> float:
        """The term's inverse document frequency; a term the sources never use counts as rarest."""
        return self.bm25.idf(term)

    def is_name(self, term: str) -> bool:
        """Whether the sources write the term capitalised, as a name."""
        return term in self.snapshot.proper_terms

    def section_words(self, doc_id: str, heading: str) -> set[str]:
        """The terms of a whole section: every chunk under `heading` in the document, and the heading."""
        key = (doc_id, heading)
        if key not in self._section_terms:  # on demand: the judge asks for a few sections per question
            terms = set(normalise(heading))
            for chunk in self._chunks_of(doc_id):
                if chunk.heading == heading:
                    terms.update(normalise(chunk.text))
            self._section_terms[key] = terms
        return self._section_terms[key]

    def _chunks_of(self, doc_id: str) -> list[Chunk]:
        return [self.snapshot.chunks[row] for row in self.layout.chunks_of(doc_id)]

    def documents(self) -> list[Document]:
        return list(self.snapshot.documents.values())

    def document(self, doc_id: str) -> Document:
        return self.snapshot.documents[doc_id]

    def sentence_similarities(self, doc_id: str, spans: list[Span], vector: np.ndarray) -> np.ndarray:
        """Cosine of `vector` and each sentence (by its span in the document)."""
        rows = [self.snapshot.sentence_rows[(doc_id, s.start, s.end)] for s in spans]
        return self.snapshot.sentence_vectors[rows] @ vector

    # Questions in other languages: the multilingual encoder's sentence vectors (see `index.multilingual`).

    @property
    def multilingual(self) -> bool:
        """Whether this index can answer questions in other languages than its sources'."""
        return self.snapshot.sentence_vectors_xl is not None

    def embed_query_across_languages(self, question: str) -> np.ndarray:
        return multilingual_encoder().query(question)

    def search_across_languages(
        self, vector: np.ndarray, k: int, published_by: date | None = None, fresher: date | None = None
    ) -> list[Hit]:
        """The `k` chunks whose best sentence is nearest to a multilingual query vector. Dense only:
        the question's words are in another language than the sources', so BM25 has nothing to match.
        `published_by`, `fresher`: as in `search`."""
        assert self.snapshot.sentence_vectors_xl is not None, "check `multilingual` first"
        if not self.snapshot.chunks:
            return []
        sentence_scores = self.snapshot.sentence_vectors_xl @ vector - self._hubness_halved()
        per_chunk = np.maximum.reduceat(
            sentence_scores[self._sentence_rows_flat], self._sentence_offsets[:-1]
        )
        if fresher is not None:
            per_chunk -= age_penalty(self._chunk_days, fresher)
        best = _kept(np.argsort(-per_chunk, kind="stable"), self._published(published_by))[:k]
        chunks = self.snapshot.chunks
        return [
            Hit(chunk=chunks[i], score=float(per_chunk[i]), dense=float(per_chunk[i]), lexical=0.0)
            for i in best
        ]

    def sentence_similarities_across_languages(
        self, doc_id: str, spans: list[Span], vector: np.ndarray
    ) -> np.ndarray:
        """Similarity of a multilingual query vector and each sentence (see `_hubness_halved`)."""
        vectors = self.snapshot.sentence_vectors_xl
        assert vectors is not None, "check `multilingual` first"
        rows = [self.snapshot.sentence_rows[(doc_id, s.start, s.end)] for s in spans]
        return vectors[rows] @ vector - self._hubness_halved()[rows]

    def _hubness_halved(self) -> np.ndarray:
        """Half of each sentence's hubness, subtracted from its cosine (CSLS; see `index.multilingual`)."""
        if self._hubness is None:  # once per snapshot, at its first question in another language
            assert self.snapshot.sentence_vectors_xl is not None, "check `multilingual` first"
            self._hubness = multilingual_encoder().hubness(np.asarray(self.snapshot.sentence_vectors_xl)) / 2
        return self._hubness

    def widened(self, chunk: Chunk, chars: int) -> Chunk:
        """`chunk` grown by its neighbours in the document, one on each side in turn, while the whole
        stays within `chars` characters. It grows across headings and dropped lines: in news a
        "heading" is as often a photo credit or a link to another story as a new section, and the
        size bound keeps a long gap (an advert block) out by itself."""
        siblings = self._chunks_of(chunk.doc_id)
        at = next((i for i, c in enumerate(siblings) if c.id == chunk.id), None)
        if at is None:
            return chunk
        text = self.document(chunk.doc_id).text

        def reads_on(group: list[Chunk]) -> bool:
            return group[-1].end - group[0].start <= chars

        first, last, grew = at, at, True
        while grew:
            grew = False
            if first > 0 and reads_on(siblings[first - 1 : last + 1]):
                first, grew = first - 1, True
            if last + 1 < len(siblings) and reads_on(siblings[first : last + 2]):
                last, grew = last + 1, True
        group = siblings[first : last + 1]
        if len(group) == 1:
            return chunk
        spans = sorted({(s.start, s.end) for c in group for s in c.sentences})
        start, end = group[0].start, group[-1].end
        return chunk.model_copy(
            update={
                "start": start,
                "end": end,
                "text": text[start:end],
                "sentences": tuple(Span(start=a, end=b) for a, b in spans),
            }
        )

    def sentences_after(self, doc_id: str, position: int) -> list[tuple[int, int]]:
        """(start, end) of the document's indexed sentences that start at or after `position`."""
        spans = self.layout.sentence_spans[self.layout.sentences_of(doc_id)]
        first = int(np.searchsorted(spans[:, 1], position, side="left"))
        return [(int(start), int(end)) for start, end in spans[first:, 1:]]

    def entities_in(self, doc_id: str, start: int, end: int) -> list[EntitySpan]:
        """The named entities (start, end, spaCy label) inside [start, end) of a document."""
        spans = self.snapshot.entities.get(doc_id, [])
        starts = self._entity_starts.get(doc_id)
        if starts is None:
            starts = self._entity_starts[doc_id] = [s[0] for s in spans]
        first, last = bisect_left(starts, start), bisect_left(starts, end)
        return [s for s in spans[first:last] if s[1] <= end]

    @property
    def version(self) -> str:
        return self.snapshot.manifest.version

    def embed_query(self, query: str) -> np.ndarray:
        # Alone, never batched with other chats' questions: the int8 encoder quantizes a batch's
        # activations with one scale, so a question embedded beside others got another vector
        # (cosine 0.986 on the main set's questions), and sometimes another answer.
        return self.embedder.embed([query])[0]

    def search(
        self,
        query: str,
        k: int = 5,
        vector: np.ndarray | None = None,
        mode: str = "hybrid",
        published_by: date | None = None,
        fresher: date | None = None,
    ) -> list[Hit]:
        """The `k` best chunks for `query`, best first.

        Args:
            vector: the query's embedding, when the caller already has it.
            mode: "hybrid" (what the bot uses), or one side alone as a baseline: "dense" (FAISS over
                the chunk vectors) or "lexical" (BM25).
            published_by: only sources published on or before this day (and undated ones): a
                question asked "as of" a date cannot be answered from what was written after it.
            fresher: prefer newer sources, by their age on this day (`age_penalty`); hybrid only.
        """
        chunks = self.snapshot.chunks
        if not chunks or not query.strip():
            return []
        allowed = self._published(published_by)
        excluded = 0 if allowed is None else int((~allowed).sum())
        if mode == "lexical":
            scores = self.bm25.scores(query)
            ranked = _kept(np.argsort(-scores), allowed)[:k]
            return [Hit(chunk=chunks[i], score=float(scores[i]), dense=0.0, lexical=float(scores[i]))
                    for i in ranked]  # fmt: skip
        vector = self.embed_query(query) if vector is None else vector
        if mode == "dense":
            similarities, found = self._nearest(vector, k + excluded)
            return [Hit(chunk=chunks[int(r)], score=float(s), dense=float(s), lexical=0.0)
                    for s, r in zip(similarities, found) if allowed is None or allowed[r]][:k]  # fmt: skip
        lexical = self.bm25.scores(query)
        dense_candidates = self._dense_candidates(vector, CANDIDATES + excluded)
        if allowed is not None:
            lexical = np.where(allowed, lexical, 0.0)
            dense_candidates = {row for row in dense_candidates if allowed[row]}
        lexical_candidates = {int(row) for row in np.argsort(-lexical)[:CANDIDATES] if lexical[row] > 0}
        rows = np.fromiter(dense_candidates | lexical_candidates, dtype=np.int64)
        if not len(rows):
            return []
        dense = np.maximum(
            self.snapshot.chunk_vectors[rows] @ vector, SENTENCE_WEIGHT * self._best_sentences(rows, vector)
        )
        fused = fuse(dense, lexical[rows], float(lexical.max()))
        if fresher is not None:
            fused -= age_penalty(self._chunk_days[rows], fresher)
        order = np.argsort(-fused)[:k]
        return [
            Hit(
                chunk=chunks[rows[i]],
                score=float(fused[i]),
                dense=float(dense[i]),
                lexical=float(lexical[rows[i]]),
            )
            for i in order
        ]

    def _published(self, day: date | None) -> np.ndarray | None:
        """Per chunk, whether its source was published on or before `day` (undated ones are);
        None when there is no day to compare with."""
        return None if day is None else self._chunk_days <= day.toordinal()

    def _best_sentences(self, rows: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """Per chunk, the cosine of its sentence closest to the query: a one-sentence answer inside a
        longer passage is found even when the passage as a whole is about more."""
        starts, ends = self._sentence_offsets[rows], self._sentence_offsets[rows + 1]
        picked = np.concatenate([self._sentence_rows_flat[a:b] for a, b in zip(starts, ends)])
        sims = self.snapshot.sentence_vectors[picked] @ vector
        return np.maximum.reduceat(sims, np.cumsum(ends - starts) - (ends - starts))

    def _dense_candidates(self, vector: np.ndarray, depth: int) -> set[int]:
        return {int(row) for row in self._nearest(vector, depth)[1]}

    def _nearest(self, vector: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """The `depth` chunk rows nearest `vector` and their similarities, best first. A graph that
        also holds entries of rows that have left (see `index.ann`) is asked for as many more."""
        index, rows = self.snapshot.dense_index, len(self.snapshot.chunks)
        asked = min(index.ntotal, -(-min(depth, rows) * index.ntotal // max(rows, 1)))
        similarities, found = index.search(vector.reshape(1, -1), asked)
        kept = found[0] >= 0
        return similarities[0][kept][:depth], found[0][kept][:depth]


def _kept(rows: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
    """`rows` (chunk numbers, best first) without those `allowed` leaves out."""
    return rows if allowed is None else rows[allowed[rows]]


class LiveIndex:
    """The retriever for the newest published snapshot, swapped in without a restart.

    Callers take `retriever()` once per question, so a question in flight finishes on the snapshot
    it started with while the next one sees the new index.
    """

    def __init__(self, store: SnapshotStore | Path, embedder: Embedder, check_every: float = 1.0) -> None:
        self.store = FolderStore(store) if isinstance(store, Path) else store
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
            try:
                version = self.store.current_version()
            except IndexStoreError:  # a store across the network may be away for a moment
                if self._current is None:
                    raise
                log.warning("could not ask %s for its version; still serving %s",
                            self.store.location, self._current.version)  # fmt: skip
                return self._current
            if self._current is None or version != self._current.version:
                self._current = self._reload()
            return self._current

    def _reload(self) -> Retriever:
        try:
            snapshot = self.store.load()
            if snapshot.manifest.model != self.embedder.name:  # its vectors mean nothing to this model
                raise IndexStoreError(
                    f"the index was built with the model {snapshot.manifest.model!r}, but the model set "
                    f"now is {self.embedder.name!r}: run `python -m index build` to re-embed"
                )
            current = Retriever(snapshot, self.embedder)
        except IndexStoreError:
            if self._current is None:
                raise
            log.warning(
                "new index could not be loaded; still serving %s", self._current.version, exc_info=True
            )
            return self._current
        log.info("serving index %s", current.version)
        return current
