"""A large CPU build embeds in a single-threaded process per core: the same vectors as in one
process, and worker processes that fail cost time, never the build."""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

import index.embed_processes as embed_processes
from index import multilingual
from index.build import BuildSettings, rebuild
from index.e5_onnx import E5Onnx
from index.embed_processes import ProcessEmbedder, across_cores
from index.embedding import (
    CPU_CALL,
    DEFAULT_MODEL,
    OnnxBackend,
    SentenceTransformerEmbedder,
    cached_embedder,
    in_order,
    like_lengths,
)
from index.store import FolderStore
from index.worker_processes import cores
from tests.conftest import PROJECT, process_running, wait_for_exit

TEXTS = [
    "Why did Albanese skip the NATO summit?",
    "Albanese sent Defence Minister Richard Marles to the summit in his place.",
    "South Korea spends about 2.8 percent of its GDP on defence.",
    "short",
    "A long passage about defence spending. " * 40,
    "The frigates were built in a shipyard in Ulsan, a city on the south-east coast.",
] * 7


@pytest.mark.unit
def test_passes_hold_texts_of_about_one_length():
    texts = ["x" * n for n in (10, 900, 50, 2500, 120, 10, 300, 600)]
    order, passes = like_lengths(texts, 3)
    assert [[len(t) for t in p] for p in passes] == [[2500, 900, 600], [300, 120, 50], [10, 10]]
    # in_order puts the vector of the i-th text taken back at that text's own place
    taken = [text for one_pass in passes for text in one_pass]
    vectors = np.arange(len(taken), dtype=np.float32)[:, None]
    assert [taken[int(v)] for v in in_order(vectors, order)[:, 0]] == texts


@pytest.mark.unit
def test_a_task_and_a_call_hold_whole_passes_of_every_encoder():
    for encoder in (OnnxBackend, E5Onnx):  # so processes cut the passes one process cuts
        assert embed_processes.TASK_TEXTS % encoder.pass_texts == 0
        assert CPU_CALL % encoder.pass_texts == 0 and multilingual.CALL % encoder.pass_texts == 0


@pytest.fixture(scope="module")
def onnx_embedder(tmp_path_factory) -> SentenceTransformerEmbedder:
    """The int8 ONNX encoder, from this machine's cache (exported there first when missing)."""
    embedder = cached_embedder(DEFAULT_MODEL, tmp_path_factory.mktemp("index"))
    assert embedder.worker_backend() is not None, "an ONNX export to run in processes"
    return embedder


@pytest.mark.integration
def test_worker_processes_embed_as_this_process_does(onnx_embedder):
    expected = onnx_embedder.embed(TEXTS)
    spread = ProcessEmbedder(onnx_embedder, onnx_embedder.worker_backend(), workers=2)
    try:
        vectors = spread.embed(TEXTS)
    finally:
        spread.close()
    assert vectors.shape == expected.shape
    assert np.allclose(vectors, expected, atol=1e-5)  # each pass holds the same texts


@pytest.mark.integration
def test_only_a_large_job_on_a_cpu_with_cores_to_spare_goes_to_processes(onnx_embedder):
    with across_cores(onnx_embedder, 10) as small:
        assert small is onnx_embedder  # starting processes would cost more than they save
    torch_only = SentenceTransformerEmbedder()  # no ONNX export to load in a worker
    with across_cores(torch_only, 1_000_000) as large:
        assert large is torch_only
    with across_cores(onnx_embedder, 1_000_000) as large:
        assert isinstance(large, ProcessEmbedder) == (cores() >= 2)


@pytest.mark.integration
def test_workers_that_fail_leave_the_embedding_to_this_process(onnx_embedder, tmp_path, caplog):
    unloadable = functools.partial(OnnxBackend, tmp_path / "no-export-here", 1)
    spread = ProcessEmbedder(onnx_embedder, unloadable, workers=2)
    try:
        with caplog.at_level(logging.WARNING):
            vectors = spread.embed(TEXTS)
            again = spread.embed(TEXTS[:3])  # the pool is gone: straight to this process
    finally:
        spread.close()
    assert "worker processes failed" in caplog.text
    assert np.allclose(vectors, onnx_embedder.embed(TEXTS), atol=1e-5)
    assert np.allclose(again, onnx_embedder.embed(TEXTS[:3]), atol=1e-5)


@pytest.mark.integration
def test_a_build_in_processes_makes_the_index_one_process_makes(
    fresh_build, onnx_embedder, monkeypatch, caplog
):
    settings = BuildSettings(fresh_build.sources_dir, fresh_build.index_dir, multilingual=False)
    rebuild(settings, onnx_embedder)
    alone = FolderStore(settings.index_dir).load()
    monkeypatch.setattr(embed_processes, "PROCESSES_FROM_TEXTS", 2)  # the seeds are a small job
    other = BuildSettings(settings.sources_dir, settings.index_dir.with_name("spread"), multilingual=False)
    with caplog.at_level(logging.INFO, logger="index.embed_processes"):
        rebuild(other, onnx_embedder)
    assert ("in 2 processes" in caplog.text) == (cores() >= 2)
    spread = FolderStore(other.index_dir).load()
    assert np.allclose(spread.chunk_vectors, alone.chunk_vectors, atol=1e-5)
    assert np.allclose(spread.sentence_vectors, alone.sentence_vectors, atol=1e-5)


KILLED_BUILD = """
import sys, time
from pathlib import Path
from index import entities
from index.embed_processes import ProcessEmbedder
from index.embedding import DEFAULT_MODEL, cached_embedder

if __name__ == "__main__":  # the workers import this script too
    entities.PARALLEL_FROM_CHARS = 2  # a small text still goes to a worker process
    embedder = cached_embedder(DEFAULT_MODEL, Path(sys.argv[1]))
    spread = ProcessEmbedder(embedder, embedder.worker_backend(), workers=2)
    spread.embed(["Why did Albanese skip the summit?"] * 64)  # both workers are up
    with entities.EntityJob(["Albanese sent Marles to The Hague."] * 4) as job:
        job.result()
        print("ready", flush=True)
        time.sleep(600)
"""


@pytest.mark.integration
def test_workers_end_when_the_build_is_killed(onnx_embedder, tmp_path):
    script = tmp_path / "killed_build.py"
    script.write_text(KILLED_BUILD, encoding="utf-8")
    build = subprocess.Popen([sys.executable, str(script), str(tmp_path / "index")], cwd=PROJECT,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(PROJECT)})  # fmt: skip
    assert build.stdout is not None and build.stdout.readline().strip() == "ready"
    found = subprocess.run(["pgrep", "-P", str(build.pid)], capture_output=True, text=True).stdout
    workers = [int(pid) for pid in found.split()]
    assert len(workers) >= 3  # two embedding workers, one entity worker (and multiprocessing's tracker)
    build.kill()  # as the out-of-memory killer would: the build has no chance to stop them
    build.wait()
    wait_for_exit(workers)
    assert not any(process_running(pid) for pid in workers)
