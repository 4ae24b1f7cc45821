"""Vectors written to disk as a build finds them, so that a build does not hold them in memory.

A build of a large archive used to keep every chunk and sentence vector in memory until the snapshot
was written (at 200,000 chunks, 1.7 GB of its 3.6 GB peak). Here each vector goes to a file in the
build's scratch folder as soon as it is embedded (or found in the previous snapshot), at its row, and
the finished file is read back memory-mapped: what the build then holds of it are pages the kernel
can drop and read again, not memory it must keep.

The files are written with `pwrite`, not through a writable memory map: on a full disk a write to
a mapped page kills the process (SIGBUS), where `pwrite` raises an error the build can report.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from index.errors import IndexWriteFailed

SCRATCH_PREFIX = ".build-"


@contextmanager
def scratch_folder(index_dir: Path) -> Iterator[Path]:
    """A folder for one build's vector files, removed afterwards. Folders left by builds that were
    killed are removed first: call it holding the build lock, so no other build is using one."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        for left in index_dir.glob(SCRATCH_PREFIX + "*"):
            shutil.rmtree(left, ignore_errors=True)
        folder = index_dir / f"{SCRATCH_PREFIX}{os.getpid()}"
        folder.mkdir()
    except OSError as exc:
        raise _write_failed(index_dir, exc) from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


class VectorFile:
    """`rows` float32 vectors, written in any order at their row positions; `finish` reads them back."""

    def __init__(self, path: Path, rows: int) -> None:
        self.path, self.rows = path, rows
        self.dimension: int | None = None
        try:
            self._descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        except OSError as exc:
            raise _write_failed(path.parent.parent, exc) from None

    def write(self, row: int, vectors: np.ndarray) -> None:
        """Put `vectors` (one per row) at `row` and the rows after it."""
        if self.dimension is None:
            self.dimension = int(vectors.shape[1])
        data = np.ascontiguousarray(vectors, dtype=np.float32).data.cast("B")
        offset = row * self.dimension * 4
        try:
            while data:  # a short write is followed by one that raises, on a full disk
                written = os.pwrite(self._descriptor, data, offset)
                data, offset = data[written:], offset + written
        except OSError as exc:
            self.close()
            raise _write_failed(self.path.parent.parent, exc) from None

    def finish(self) -> np.ndarray:
        """The vectors, memory-mapped read-only. Every row must have been written."""
        self.close()
        if self.dimension is None or not self.rows:
            return np.zeros((self.rows, self.dimension or 0), dtype=np.float32)
        size = self.path.stat().st_size
        assert size == self.rows * self.dimension * 4, f"{self.path.name}: rows missing ({size} bytes)"
        mapped = np.memmap(self.path, dtype=np.float32, mode="r", shape=(self.rows, self.dimension))
        return np.asarray(mapped)  # a plain ndarray over the map (see `index.tables.mapped_array`)

    def close(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1


def _write_failed(index_dir: Path, exc: OSError) -> IndexWriteFailed:
    why = exc.strerror or "a short write: the disk is full"
    return IndexWriteFailed(f"could not write the index in {index_dir} ({why})")
