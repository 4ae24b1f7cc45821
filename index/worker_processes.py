"""What a build's worker process does first: end when the build's process ends.

A build killed with SIGKILL (by hand, or by the out-of-memory killer) cannot stop its worker
processes, and they do not notice: each waits on its pool's task queue, whose writing end the other
workers hold open, and so ran on for good, holding their models' memory.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import threading


def exit_with_parent() -> None:
    """End this process when its parent ends, however it ended (a pool's `initializer`)."""
    threading.Thread(target=_wait_for_parent, name="exit-with-parent", daemon=True).start()


def _wait_for_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        multiprocessing.connection.wait([parent.sentinel])  # readable once the parent has exited
        os._exit(1)
