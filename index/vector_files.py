"""Vectors written to disk as a build finds them, so that a build does not hold them in memory.

A build of a large archive used to keep every chunk and sentence vector in memory until the snapshot
was written (at 200,000 chunks, 1.7 GB of its 3.6 GB peak). Here each vector goes to a file in the
build's scratch folder as soon as it is embedded (or found in the previous snapshot), at its row, and
the finished file is read back memory-mapped: what the build then holds of it are pages the kernel
can drop and read again, not memory it must keep.

The files are written with `pwrite`, not through a writable memory map: on a full disk a write to
a mapped page kills the process (SIGBUS), where `pwrite` raises an error the build can report.

Each file is a `.npy` file (its header written last): the store links it into the snapshot instead
of writing its gigabytes again, and rows carried over from a previous snapshot's file are copied
by the kernel (`copy_file_range`), not through this process's memory.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from index.errors import IndexWriteFailed
from index.tables import mapped_array

SCRATCH_PREFIX = ".build-"
HEADER = 128  # bytes of the `.npy` header before the rows: enough for any 2-dimensional float32 shape


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
            # A new file, never one truncated: a finished file may be linked into a snapshot.
            self._descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except OSError as exc:
            raise _write_failed(path.parent.parent, exc) from None

    def write(self, row: int, vectors: np.ndarray) -> None:
        """Put `vectors` (one per row) at `row` and the rows after it."""
        if self.dimension is None:
            self.dimension = int(vectors.shape[1])
        self._write(np.ascontiguousarray(vectors, dtype=np.float32).data.cast("B"), self._offset(row))

    def copy_rows(
        self, source: tuple[Path, int], source_row: int, row: int, count: int, dimension: int
    ) -> bool:
        """Copy `count` rows of `dimension` float32 values, from `source_row` on, of the rows at
        `source` (a file and the byte offset of its first row) to `row` on, inside the kernel.
        False when the file system cannot: the caller copies them itself."""
        self.dimension = self.dimension or dimension
        path, source_offset = source
        width = self.dimension * 4
        size, start, offset = count * width, source_offset + source_row * width, self._offset(row)
        try:
            with open(path, "rb") as handle:
                while size:
                    copied = os.copy_file_range(handle.fileno(), self._descriptor, size, start, offset)
                    if not copied:
                        raise OSError(errno.ENOSPC, "a short copy")
                    size, start, offset = size - copied, start + copied, offset + copied
        except (AttributeError, OSError) as exc:  # AttributeError: no copy_file_range on this system
            if isinstance(exc, OSError) and exc.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS):
                self.close()
                raise _write_failed(self.path.parent.parent, exc) from None
            return False
        return True

    def finish(self) -> np.ndarray:
        """The vectors, memory-mapped read-only. Every row must have been written."""
        if self.dimension is None or not self.rows:
            self.close()
            return np.zeros((self.rows, self.dimension or 0), dtype=np.float32)
        header = io.BytesIO()
        shape = {"descr": "<f4", "fortran_order": False, "shape": (self.rows, self.dimension)}
        np.lib.format.write_array_header_1_0(header, shape)
        assert len(header.getvalue()) == HEADER, "a 2-dimensional header fits in its bytes"
        self._write(memoryview(header.getvalue()), 0)
        self.close()
        size = self.path.stat().st_size
        assert size == HEADER + self.rows * self.dimension * 4, (
            f"{self.path.name}: rows missing ({size} bytes)"
        )
        return mapped_array(self.path)

    def close(self) -> None:
        if self._descriptor >= 0:
            os.close(self._descriptor)
            self._descriptor = -1

    def _offset(self, row: int) -> int:
        assert self.dimension is not None
        return HEADER + row * self.dimension * 4

    def _write(self, data: memoryview, offset: int) -> None:
        try:
            while data:  # a short write is followed by one that raises, on a full disk
                written = os.pwrite(self._descriptor, data, offset)
                data, offset = data[written:], offset + written
        except OSError as exc:
            self.close()
            raise _write_failed(self.path.parent.parent, exc) from None


def _write_failed(index_dir: Path, exc: OSError) -> IndexWriteFailed:
    why = exc.strerror or "a short write: the disk is full"
    return IndexWriteFailed(f"could not write the index in {index_dir} ({why})")
