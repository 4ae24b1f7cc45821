"""A one-shot `bot ask` parses its questions on the second core while it loads everything else.

Parsing a question (`bot.judge.question`) first needs spaCy imported and its pipeline loaded,
about a second; loading the index and the embedder takes about as long. `start` forks a worker
that parses the questions meanwhile, and the judge takes its results with `take`. This module
imports only the standard library, so the fork comes a few hundredths of a second after start-up.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

# question -> (the worker's batch, the question's place in it)
_PENDING: dict[str, tuple[Future[list[Any]], int]] = {}


def start(questions: list[str]) -> None:
    """Start parsing `questions` in a forked worker. Only before this process starts threads: a fork
    copies the calling thread alone, not the locks the others may hold."""
    if not questions or threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
        return  # (Windows has no fork: there the judge parses the questions itself)
    executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
    batch = executor.submit(_parse, list(questions))
    executor.shutdown(wait=False)  # the worker leaves after its one batch
    for position, question in enumerate(questions):
        _PENDING.setdefault(question, (batch, position))


def _parse(questions: list[str]) -> list[Any]:
    from bot.judge.question import parse

    return parse(questions)


def take(question: str) -> Any | None:
    """The worker's analysis of `question` (a `bot.judge.question.QuestionAnalysis`), waiting for
    it if need be; None when it was not asked for or the worker failed."""
    pending = _PENDING.pop(question, None)
    if pending is None:
        return None
    batch, position = pending
    try:
        return batch.result()[position]
    except Exception as exc:  # a worker killed or out of memory: the caller parses it instead
        log.warning("the early question parse failed (%s); parsing again", exc.__class__.__name__)
        return None
