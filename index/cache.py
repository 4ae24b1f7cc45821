"""Where this machine keeps what is made once and shared by every index: the encoders' ONNX exports.

`$XDG_CACHE_HOME/ragbot`, else `~/.cache/ragbot`. An export takes seconds (the English encoder about
5 s, the multilingual one 12 s); kept beside each index instead, every new index folder (an eval's, a
second corpus) paid for it again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def machine_cache() -> Path | None:
    """The folder, created if needed; None (with a warning) when it cannot be written."""
    try:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ragbot"
        root.mkdir(parents=True, exist_ok=True)
        if not os.access(root, os.W_OK):
            raise PermissionError(f"{root} is not writable")
    except (OSError, RuntimeError) as exc:  # RuntimeError: a user without a home folder
        log.warning("no cache folder for the encoders' exports (%s)", exc)
        return None
    return root
