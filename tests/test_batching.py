"""`index.batching.Batcher`: concurrent calls share batch calls, each caller gets its own result."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from index.batching import Batcher

pytestmark = pytest.mark.unit


class SlowSquares:
    """A batch function that takes a while per call, and records the batches it was given."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self._lock = threading.Lock()

    def __call__(self, items: list[int]) -> list[int]:
        with self._lock:
            self.batches.append(items)
        time.sleep(0.02)
        return [item * item for item in items]


def test_a_lone_call_is_served_at_once_as_a_batch_of_one():
    squares = SlowSquares()
    assert Batcher(squares)(7) == 49
    assert squares.batches == [[7]]


def test_concurrent_calls_are_batched_and_each_gets_its_own_result():
    squares = SlowSquares()
    batcher = Batcher(squares, max_batch=8)
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(batcher, range(60)))
    assert results == [i * i for i in range(60)]
    assert sorted(item for batch in squares.batches for item in batch) == list(range(60))  # each once
    assert max(map(len, squares.batches)) > 1, "no call was shared"
    assert max(map(len, squares.batches)) <= 8
    assert len(squares.batches) < 60


def test_a_failing_batch_fails_its_callers_and_the_next_batch_still_runs():
    def fails_on_13(items: list[int]) -> list[int]:
        time.sleep(0.01)
        if 13 in items:
            raise ValueError("unlucky")
        return items

    batcher = Batcher(fails_on_13, max_batch=1)
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(batcher, i) for i in range(20)]
        outcomes = [f.exception() or f.result() for f in futures]
    assert isinstance(outcomes[13], ValueError)
    assert [o for i, o in enumerate(outcomes) if i != 13] == [i for i in range(20) if i != 13]
    assert batcher(21) == 21  # nothing is left waiting or stuck after the failure


def test_a_batch_function_that_loses_results_is_an_error_not_a_hang():
    batcher = Batcher(lambda items: items[:-1])
    with pytest.raises(RuntimeError, match="0 results for 1 items"):
        batcher(1)
