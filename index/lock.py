"""One build at a time per index folder: an advisory file lock (`fcntl.flock`).

Two builds at once (a second shell, `bot ask`'s rebuild, the bot's watch mode) would race on
`CURRENT.tmp` and prune each other's snapshots. The lock is released by the kernel when its holder
exits, even by `kill -9`, so a crashed build never blocks the next one.

A build's worker processes start by "spawn": each runs the script that started the build again,
before its work. A script that builds without `if __name__ == "__main__":` (as Python's
multiprocessing asks) would start a build in every worker, each waiting for the lock its parent
holds, and the parent for its workers: for ever. Such a worker's build is refused instead; the
parent, finding its workers gone, does their work itself (slower, with a warning).
"""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_FILE = ".build.lock"
STARTING_WORKER = (
    "no build in a worker process that is starting: the script that builds runs again in each of "
    'the build\'s worker processes; put its build under `if __name__ == "__main__":`'
)


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index folder's build lock, waiting for a build already running to finish."""
    # What multiprocessing itself checks before starting a process ("bootstrapping phase").
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(STARTING_WORKER)
    index_dir.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(index_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("another build of %s is running; waiting for it to finish", index_dir)
            fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # closing releases the lock
