"""Worker processes (a build's, a bot's answering ones): how many cores they may use, and how they
end with the process that started them.

A process killed with SIGKILL (by hand, or by the out-of-memory killer) cannot stop its workers, and
they do not notice: each waits on its pool's task queue, whose writing end the other workers hold
open, and so ran on for good, holding their models' memory.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading


def cores() -> int:
    """The cores this process may use (a container's share, not the host's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def exit_with_parent() -> None:
    """End this process when its parent ends, however it ended (a pool's `initializer`)."""
    threading.Thread(target=_wait_for_parent, name="exit-with-parent", daemon=True).start()


def _wait_for_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])  # readable once the parent has exited
        os._exit(1)
