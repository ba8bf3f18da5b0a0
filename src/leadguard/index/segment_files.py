"""Files of the compressed index: atomic array writes, row reads, the commit record."""

from __future__ import annotations

import json
import logging
import mmap
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

SEGMENT_PARTS = ("ids", "codes", "scale", "err", "vec")  # a segment's files: NAME.PART.npy


class RowFile:
    """Rows of a saved .npy matrix, for exact scores of a few thousand vectors a search.

    The file is memory-mapped read-only, its pages populated at load (read from disk where
    the page cache lacks them), so that no search waits on a page fault: the scan kernel
    reads a row where it lies and asks for the rows it will score next ahead of time. At
    10M templates a probe scores about 14,000 rows exactly: with a pread of 512 bytes each
    the search took 42.5 ms p50, mapped 37.1 ms, in one run (docs/performance.md). The pages
    are the page cache's (RssFile: shared, reclaimable), not the process's own memory.

    What a map risks and why it is taken: a process whose mapped file is truncated in place
    gets SIGBUS when it touches the lost pages. LeadGuard never rewrites or truncates a
    segment file: it writes new files and renames them into place (``write_array``) and
    unlinks dropped ones, which leaves existing maps valid (tested). Only an outside hand
    truncating the file, or a disk read error, could bring the signal; the database stays
    the source of truth, so the process restarts and rebuilds. Where a map cannot be made
    (``map_rows=False``, or mmap refused by the file system) rows are read with pread."""

    def __init__(self, path: Path, map_rows: bool = True) -> None:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read(fh)
            self.offset = fh.tell()
        if fortran or len(shape) != 2:
            raise ValueError(f"{path.name} is not a row-major matrix")
        self.path, self.shape, self.dtype = path, shape, np.dtype(dtype)
        self.row_bytes = int(shape[1]) * self.dtype.itemsize
        self._fd = os.open(path, os.O_RDONLY)
        if os.fstat(self._fd).st_size < self.offset + int(shape[0]) * self.row_bytes:
            os.close(self._fd)
            self._fd = -1
            raise ValueError(f"{path.name} is shorter than its header says")
        self.mapped: npt.NDArray[Any] | None = self._map() if map_rows else None

    def _map(self) -> npt.NDArray[Any] | None:
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        try:
            region = mmap.mmap(self._fd, 0, flags=flags, prot=mmap.PROT_READ)
        except (OSError, ValueError) as exc:
            log.warning("%s cannot be memory-mapped (%s): rows are read one by one", self.path, exc)
            return None
        count = int(self.shape[0]) * int(self.shape[1])
        rows = np.frombuffer(region, self.dtype, count=count, offset=self.offset)
        return rows.reshape(self.shape)

    @property
    def fd(self) -> int:
        return self._fd

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            os.close(fd)

    def take(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        if self.mapped is not None:
            return self.mapped[rows]  # a copy (fancy indexing), not a view of the map
        out = np.empty((rows.size, self.shape[1]), dtype=self.dtype)
        buf = out.reshape(-1).view(np.uint8)
        for j, r in enumerate(rows.tolist()):
            part = os.pread(self._fd, self.row_bytes, self.offset + r * self.row_bytes)
            buf[j * self.row_bytes : (j + 1) * self.row_bytes] = np.frombuffer(part, np.uint8)
        return out


def take_rows(src: npt.NDArray[np.float32] | RowFile, rows: npt.NDArray[np.int64]) -> Any:
    return src.take(rows) if isinstance(src, RowFile) else src[rows]


def read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((Path(folder) / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_array(path: Path, arr: npt.NDArray[Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, arr)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
