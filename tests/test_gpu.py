"""Builds embed on a GPU when torch sees one, with the vectors the CPU gives; questions stay on the CPU.

The GPU test runs only where a CUDA GPU is visible (it was run on an H100; see the README's "Building on
a GPU"); everywhere else the build must fall back to the CPU without asking torch.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from index.build import embedding_texts, rebuild
from index.embedding import CPU_CALL, DEFAULT_MODEL, ONNX_FILES, cached_embedder, gpu_available
from index.store import FolderStore

pytestmark = pytest.mark.integration
ON_GPU = gpu_available()


@pytest.mark.skipif(not ON_GPU, reason="no CUDA GPU visible to torch here")
def test_build_embeds_on_the_gpu_with_the_cpu_vectors(fresh_build, embedder):
    settings = dataclasses.replace(fresh_build, multilingual=False)
    gpu = cached_embedder(DEFAULT_MODEL, settings.index_dir, device="auto")
    rebuild(settings, gpu)
    assert gpu.device == "cuda"

    snapshot = FolderStore(settings.index_dir).load()
    chunk_texts, sentence_texts = embedding_texts(snapshot.documents, snapshot.chunks)
    cosines = np.concatenate(
        [
            (snapshot.chunk_vectors * embedder.embed(chunk_texts)).sum(axis=1),
            (snapshot.sentence_vectors * embedder.embed(sentence_texts)).sum(axis=1),
        ]
    )
    assert cosines.min() > 0.999, f"GPU vectors drift from the CPU's: min cosine {cosines.min():.5f}"
    # The questions' encoder (ONNX, CPU) was exported all the same, into this machine's cache.
    assert gpu.onnx_dir is not None and all((gpu.onnx_dir / f).exists() for f in ONNX_FILES)


@pytest.mark.skipif(ON_GPU, reason="this machine has a GPU: the test above covers it")
def test_auto_device_without_a_gpu_builds_on_the_cpu(fresh_build):
    settings = dataclasses.replace(fresh_build, multilingual=False)
    auto = cached_embedder(DEFAULT_MODEL, settings.index_dir, device="auto")
    assert auto.device == "auto"  # nothing embedded yet: no device looked for
    rebuild(settings, auto)
    assert auto.device == "cpu"
    assert auto.texts_per_call == CPU_CALL
    assert FolderStore(settings.index_dir).load().chunk_vectors.shape[1] == 384
