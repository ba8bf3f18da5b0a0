"""Files of the compressed index: atomic array writes, row reads, the commit record."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt


class RowFile:
    """Rows of a saved .npy matrix read with pread: scoring a few thousand vectors exactly
    reads only those rows. (A memory map costs a page fault per new page touched, each
    mapping a whole run of neighbouring pages as resident: several times slower per row
    than a pread of 512 bytes, measured.) The scan kernel reads rows through ``fd`` at
    ``offset`` + row * ``row_bytes`` itself."""

    def __init__(self, path: Path) -> None:
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

    @property
    def fd(self) -> int:
        return self._fd

    def __del__(self) -> None:
        fd = getattr(self, "_fd", -1)
        if fd >= 0:
            os.close(fd)

    def take(self, rows: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
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
