"""Small cache files keyed by file stamps (size, modification time), trusted as git trusts its index.

A file whose stamp has not changed since it was hashed is not hashed again (`index.sources.HashCache`
for the sources, `index.store.verify` for a snapshot's files). A file modified within `RACY_NS` of
the moment its stamp was recorded may have kept its modification time through a same-size edit
(git's "racily clean" entries), so such a stamp is never trusted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

RACY_NS = 2_000_000_000


def load_cache(path: Path) -> Any:
    """A cache file's data; None when there is none yet or it is damaged (then everything is hashed)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def save_cache(path: Path, data: Any) -> None:
    """Replace a cache file atomically, best effort: on a read-only or full disk the cache is not
    kept, which only costs the next run its hashing."""
    staging = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        staging.write_text(json.dumps(data), encoding="utf-8")
        os.replace(staging, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # on a read-only or full disk, removing may fail too
            staging.unlink(missing_ok=True)
        log.debug("%s not written: %s", path.name, exc)
