"""Errors raised by the index package.

Callers at the edges (the CLIs, the Telegram adapter) catch `IndexStoreError` and show its message,
which is written for the person running the command:

    IndexStoreError
    ├── IndexNotBuilt      no index exists yet
    ├── IndexCorrupt       files missing, truncated or not matching the manifest
    ├── IndexWriteFailed   a build could not write its snapshot (full disk, read-only folder)
    └── SourceUnreadable   one source file cannot be read (the build skips it)
"""

REBUILD_HINT = "run `python -m index build --full` to rebuild it"


class IndexStoreError(Exception):
    """Base class: the message is shown to the user as it is."""


class IndexNotBuilt(IndexStoreError):
    """No index has been built in the index directory."""


class IndexCorrupt(IndexStoreError):
    """The index on disk cannot be trusted."""


class IndexWriteFailed(IndexStoreError):
    """A build could not write or publish its snapshot; the previous one is untouched."""

    def __init__(self, problem: str) -> None:
        self.problem = problem  # "could not write the index in <folder> (<why>)"
        super().__init__(f"{problem}; the previous index is unchanged")


class SourceUnreadable(IndexStoreError):
    """A source file could not be turned into text."""
