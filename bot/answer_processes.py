"""Answers from worker processes, so that a busy bot answers on every core, not under one lock.

The answering core is mostly Python (question analysis, features, the judge), so in one process its
threads take turns with the Telegram client's event loop for the interpreter lock: 100 chats at once
kept 1.0-1.1 of 2 cores busy. Each worker here opens its own `Answerer` over the same index (the
folder store's files are memory-mapped, so their pages are shared; a new snapshot is picked up by
each worker as by any reader); the bot's event loop only awaits the results.

Questions that arrive while every worker is busy go to the next free one together, answered there in
threads: the answering core batches their spaCy parses (`index.batching`), which cost less together
than one by one.

A worker that dies (killed, out of memory) is replaced by a new set of workers, and the questions it
held are asked once more of them; a question whose second try dies too gets the error.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import time
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor, ThreadPoolExecutor

from bot.answering import Answerer
from bot.models import Answer
from index.worker_processes import exit_with_parent

log = logging.getLogger(__name__)

MAX_BATCH = 16  # questions handed to a worker at once
_answerer: Answerer | None = None  # the worker's own, opened once by `_open_worker`
_threads = ThreadPoolExecutor(MAX_BATCH)  # a worker's, answering the questions of one batch


def _open_worker(open_answerer: Callable[[], Answerer], opened) -> None:
    global _answerer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the bot, which then stops its workers
    exit_with_parent()  # a bot killed before it could stop its workers left them running for good
    _answerer = open_answerer()
    _answerer.warm_up()
    opened.release()


def _answer_batch(questions: list[tuple[str, str | None]]) -> list[Answer | Exception]:
    """Each (question, previous)'s answer, or the error that answering it raised."""
    assert _answerer is not None, "the worker was started without its answerer"
    answerer = _answerer

    def answer(question: str, previous: str | None) -> Answer | Exception:
        try:
            return answerer.answer(question, previous)
        except Exception as exc:  # the caller re-raises it for that question alone
            return exc

    return list(_threads.map(answer, *zip(*questions)))


def _started() -> None:
    """A task that does nothing: submitting it starts a worker when none is idle."""


class AnswerProcesses:
    """`await answer(question, previous)` computed by one of `processes` worker processes.

    Args:
        open_answerer: a picklable callable (a module-level function or a `functools.partial` of
            one) that opens the `Answerer` each worker holds.
    """

    def __init__(self, open_answerer: Callable[[], Answerer], processes: int) -> None:
        if processes < 1:
            raise ValueError("at least one answering process is needed")
        self._open_answerer = open_answerer
        self.processes = processes
        # "spawn", not "fork": the parent runs threads (onnxruntime's, the event loop's) that a fork
        # would copy in whatever state they were in.
        self._context = multiprocessing.get_context("spawn")
        self._opened = self._context.Semaphore(0)  # released once by each worker that is ready
        self._pool = self._start()
        self._waiting: list[tuple[tuple[str, str | None], asyncio.Future[Answer]]] = []
        self._busy = 0  # batches in the workers
        self._running: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.processes,
            mp_context=self._context,
            initializer=_open_worker,
            initargs=(self._open_answerer, self._opened),
        )

    def wait_ready(self, timeout: float = 600.0) -> None:
        """Start every worker and wait until each has opened the index and loaded the models.

        Raises:
            BrokenExecutor: a worker could not open its answerer (its error is in the log).
            TimeoutError: they were not ready within `timeout` seconds.
        """
        # The pool starts a worker per task submitted while none is idle: one task each starts all.
        probes = [self._pool.submit(_started) for _ in range(self.processes)]
        started = time.monotonic()
        deadline = started + timeout
        ready = 0
        while ready < self.processes:
            if self._opened.acquire(timeout=0.2):
                ready += 1
                continue
            for probe in probes:
                if probe.done():
                    probe.result()  # raises once a worker has died, and the pool with it
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.processes - ready} answering processes did not start")
        log.info("%d answering processes ready in %.1f s", self.processes, time.monotonic() - started)

    async def answer(self, question: str, previous: str | None = None) -> Answer:
        asked: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append(((question, previous), asked))
        self._dispatch()
        return await asked

    def _dispatch(self) -> None:
        """Hand the waiting questions, a batch at a time, to the workers that are free."""
        while self._waiting and self._busy < self.processes:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            self._busy += 1
            task = asyncio.ensure_future(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[tuple[tuple[str, str | None], asyncio.Future[Answer]]]) -> None:
        questions = [q for q, _ in batch]
        try:
            try:
                results = await self._answer_batch(questions)
            except BrokenExecutor:  # asked once more, of new workers; a second death is reported
                results = await self._answer_batch(questions)
        except Exception as exc:  # every question of the batch gets the error
            results = [exc] * len(batch)
        finally:
            self._busy -= 1
        for (_, asked), result in zip(batch, results):
            if asked.done():  # its asker gave up waiting
                continue
            if isinstance(result, Exception):
                asked.set_exception(result)
            else:
                asked.set_result(result)
        self._dispatch()

    async def _answer_batch(self, questions: list[tuple[str, str | None]]) -> list[Answer | Exception]:
        pool = self._pool
        try:
            return await asyncio.wrap_future(pool.submit(_answer_batch, questions))
        except BrokenExecutor:
            if self._pool is pool:  # the first batch to find them dead starts new ones
                log.error("an answering process ended unexpectedly; starting new ones")
                self._pool = self._start()
            raise

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
