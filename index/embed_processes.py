"""A large build on the CPU embeds in one single-threaded process per core.

onnxruntime splits each forward pass between its threads, which meet at every operator of the graph,
so each pass waits for the slower thread, and all of them whenever spaCy's entity workers, busy beside
the embedding, hold a core. Single-threaded processes run passes side by side instead, each taking the
next when done: RealTime QA dev's 13,043 texts embedded in 36.7 s against 42.3 s for one process of
two threads (2 cores, same session). Each pass holds the same texts as it would in one process (the
int8 encoder's vectors depend on what else is in the pass), so the vectors are the same."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Protocol

import numpy as np

from index.embedding import Embedder, in_order, like_lengths
from index.worker_processes import cores, exit_with_parent

log = logging.getLogger(__name__)

# Below this many texts (a few seconds of embedding) starting the processes and loading the model
# in each is not worth it; set by judgement, not measured.
PROCESSES_FROM_TEXTS = 2_000

# Texts per task: a multiple of every encoder's pass (16 texts for MiniLM, 32 for multilingual-e5),
# so that a task is cut into the passes one process would cut (calls start at multiples of it).
TASK_TEXTS = 32
# Texts handed over per call and process. A process that finishes its share of a call early waits
# for the others, up to a task, so a call holds many: with 256 texts a process, RealTime QA dev's
# build waited at 26 calls' ends.
TEXTS_PER_PROCESS = 64 * TASK_TEXTS


class Backend(Protocol):
    """A model loaded in a worker process; it embeds texts longest first in passes of a number of
    texts that divides `TASK_TEXTS`."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


@contextmanager
def across_cores(embedder: Embedder, texts: int) -> Iterator[Embedder]:
    """`embedder`, or for `texts` texts to embed on a CPU with more than one core, the same model in a
    single-threaded process per core (`ProcessEmbedder`); the processes stop when the block ends."""
    workers = min(cores(), texts // (PROCESSES_FROM_TEXTS // 2))
    backend = embedder.worker_backend() if workers >= 2 else None
    if backend is None:
        yield embedder
        return
    log.info("embedding %d texts in %d processes", texts, workers)
    spread = ProcessEmbedder(embedder, backend, workers)
    try:
        yield spread
    finally:
        spread.close()


class ProcessEmbedder:
    """`embedder`'s model in `workers` processes, each made by `backend()` (single-threaded); the
    texts go out `TASK_TEXTS` at a time, so a process that finishes early takes the next. If the
    processes fail (out of memory), the rest is embedded by `embedder` itself: slower, not failed."""

    def __init__(self, embedder: Embedder, backend: Callable[[], Backend], workers: int) -> None:
        self.name = embedder.name
        self._embedder = embedder
        self._workers = workers
        context = multiprocessing.get_context("spawn")  # not fork: this process holds threads
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_load, initargs=(backend,)
        )

    @property
    def texts_per_call(self) -> int:
        return TEXTS_PER_PROCESS * self._workers

    def embed(self, texts: list[str]) -> np.ndarray:
        if self._pool is not None and texts:
            try:
                return self._in_processes(texts)
            except (BrokenProcessPool, OSError) as exc:
                log.warning("embedding in this process: the worker processes failed (%s)", exc)
                self.close()
        return self._embedder.embed(texts)

    def worker_backend(self) -> None:
        return None  # already spread

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _in_processes(self, texts: list[str]) -> np.ndarray:
        assert self._pool is not None, "the pool is open"
        # Longest first, `TASK_TEXTS` a task: each task is cut into the passes the embedder itself
        # would cut these texts into (the build hands over multiples of them, longest first).
        order, tasks = like_lengths(texts, TASK_TEXTS)
        futures = [self._pool.submit(_embed, task) for task in tasks]
        return in_order(np.vstack([future.result() for future in futures]), order)


_backend: Backend | None = None  # a worker process's model


def _load(backend: Callable[[], Backend]) -> None:
    global _backend
    exit_with_parent()
    _backend = backend()


def _embed(texts: list[str]) -> np.ndarray:
    assert _backend is not None, "the worker loaded its model"
    return _backend.embed(texts)
