"""The 5-bit scan kernel of the compressed index: a small C file compiled on first use.

``_qscan.c`` is compiled with the system C compiler into a per-user cache folder the first
time a compressed index is searched (about a second), then loaded with ctypes; calls release
the GIL, so chunks of a gallery are scanned on several threads. It uses AVX-512 VNNI where the
CPU has it, else AVX2 (with FMA and F16C), else portable C (about 25 times slower than AVX2).
Without a C compiler the same selection runs in NumPy (exact, only slower) and a warning says
so.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from leadguard.core.errors import IndexError_
from leadguard.index.segment_files import RowFile, take_rows

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_name("_qscan.c")
_LOCK = threading.Lock()
_LIB: ctypes.CDLL | None = None
_TRIED = False


def _cache_dir() -> Path:
    base = os.environ.get("LEADGUARD_KERNEL_CACHE") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "leadguard" / "kernels"


def _compile() -> ctypes.CDLL | None:
    source = _SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target = _cache_dir() / f"qscan-{digest}.so"
    if not target.exists():
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            log.warning("no C compiler found: the compressed index scans in NumPy (slower)")
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        cmd = [cc, "-O3", "-shared", "-fPIC", "-o", tmp, str(_SOURCE), "-lm"]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            os.unlink(tmp)
            log.warning(
                "compiling the 5-bit scan kernel failed (%s): the compressed index scans in "
                "NumPy (slower)",
                result.stderr.strip().splitlines()[-1:] or result.returncode,
            )
            return None
        os.replace(tmp, target)
    lib = ctypes.CDLL(str(target))
    ptr, long_, int_, f32 = ctypes.c_void_p, ctypes.c_long, ctypes.c_int, ctypes.c_float
    lib.lg_scan5.argtypes = [
        ptr,  # codes
        long_,  # first block
        long_,  # end block
        ptr,  # int8 query
        int_,  # pairs of 4-dimension groups
        ptr,  # fp16 errors
        f32,  # query norm
        f32,  # query scale t
        f32,  # constant part of the bound
        ptr,  # dead rows
        ptr,  # fp32 vectors in memory, or None
        int_,  # else: the file they are read from
        long_,  # and where row 0 starts in it
        int_,  # dimension
        ptr,  # fp32 query
        ptr,  # heap values (2k)
        ptr,  # heap rows (2k)
        int_,  # k
        ptr,  # shared floor
        ptr,  # candidate rows
        ptr,  # candidate scores
        long_,  # capacity
        ptr,  # exactly scored count
        int_,  # path: 0 the fastest, 1 portable, 2 the fastest without VNNI
    ]
    lib.lg_scan5.restype = long_
    lib.lg_kernels.argtypes = []
    lib.lg_kernels.restype = int_
    return lib


def native() -> ctypes.CDLL | None:
    """The compiled kernel, or None when it cannot be built here."""
    global _LIB, _TRIED
    with _LOCK:
        if not _TRIED:
            _TRIED = True
            try:
                _LIB = _compile()
            except OSError as exc:
                log.warning("5-bit scan kernel unavailable (%s): scanning in NumPy", exc)
                _LIB = None
        return _LIB


KERNELS = {"best": 0, "portable": 1, "avx2": 2}  # lg_scan5's path argument
_KERNEL_BITS = {"portable": 1, "avx2": 2, "vnni": 4}


def kernels() -> set[str]:
    """The compiled scan paths this CPU runs ("portable", "avx2", "vnni"); empty without
    the compiled kernel."""
    lib = native()
    have = int(lib.lg_kernels()) if lib is not None else 0
    return {name for name, bit in _KERNEL_BITS.items() if have & bit}


BLOCK_BYTES = 80  # bytes a block of 16 vectors takes for 8 dimensions (5 bits each)
CMIN, CMAX = -16, 15  # the range of the signed codes
EPS = 1e-9  # the kernel's allowance for fp64 summation order (scores agree to ~1e-15)
SLACK = 2e-6  # the kernel's allowance for fp32 rounding in the bound


@dataclass
class Query:
    """One query prepared for one segment's codes (see ``compressed`` for the bound)."""

    p: npt.NDArray[np.int8]  # int8 query, padded to the code width
    t: float  # scale of p
    qn: float  # ||q||: multiplies each vector's quantisation error
    dconst: float  # the part of the bound that is the same for every vector
    q32: npt.NDArray[np.float32]  # the fp32 query, for exact scores


@dataclass
class Candidates:
    """Rows scored exactly at or above the running k-th best, with those scores."""

    rows: npt.NDArray[np.int64]
    scores: npt.NDArray[np.float64]
    checked: int  # how many rows were scored exactly


@dataclass
class Stored:
    """What the scan reads of one segment."""

    codes: npt.NDArray[np.uint8]  # (blocks, 80 * pairs)
    err: npt.NDArray[np.float16]  # (blocks * 16,) error bound of each row
    dead: npt.NDArray[np.uint8]  # (blocks * 16,) 1 = removed or padding
    vectors: npt.NDArray[np.float32] | RowFile  # the fp32 rows, for exact scores


def scan(
    data: Stored,
    b0: int,
    b1: int,
    query: Query,
    k: int,
    shared: npt.NDArray[np.float64],
    use_native: bool = True,
    kernel: str = "best",
) -> Candidates:
    """Scan blocks [b0, b1) of ``codes`` (shape (blocks, 80 * pairs): see ``_qscan.c``),
    then score exactly the vectors whose bounds say they can matter (``_qscan.c``).
    ``shared`` (one fp64) is the search's floor, shared by every call of one search.

    The candidates hold every live row of the range whose exact score is at least the final
    k-th best exact score over all calls of the search. ``kernel``: the compiled path,
    "best" (the fastest this CPU runs), "portable", or "avx2" (the fastest without VNNI)."""
    lib = native() if use_native else None
    if lib is None:
        return _scan_numpy(data, b0, b1, query, k, shared)
    codes, vectors = data.codes, data.vectors
    if isinstance(vectors, RowFile) and vectors.mapped is not None:  # rows where they lie
        vptr, fd, offset = vectors.mapped.ctypes.data, -1, 0
    elif isinstance(vectors, RowFile):  # rows read from the file by the kernel
        vptr, fd, offset = None, vectors.fd, vectors.offset
    else:
        vptr, fd, offset = vectors.ctypes.data, -1, 0
    heap = np.empty(2 * k, dtype=np.float64)
    heap_rows = np.empty(2 * k, dtype=np.int64)
    checked = ctypes.c_long(0)
    cap = 4096
    while True:
        rows = np.empty(cap, dtype=np.int64)
        scores = np.empty(cap, dtype=np.float64)
        count = lib.lg_scan5(
            codes.ctypes.data,
            b0,
            b1,
            query.p.ctypes.data,
            codes.shape[1] // BLOCK_BYTES,
            data.err.ctypes.data,
            query.qn,
            query.t,
            query.dconst,
            data.dead.ctypes.data,
            vptr,
            fd,
            offset,
            vectors.shape[1],
            query.q32.ctypes.data,
            heap.ctypes.data,
            heap_rows.ctypes.data,
            k,
            shared.ctypes.data,
            rows.ctypes.data,
            scores.ctypes.data,
            cap,
            ctypes.byref(checked),
            KERNELS[kernel],
        )
        if count == -1:
            raise MemoryError("the compressed index scan ran out of memory")
        if count < 0:
            raise IndexError_(
                f"the index's stored vectors cannot be read ({getattr(vectors, 'path', '?')}); "
                "run: leadguard index rebuild"
            )
        if count <= cap:
            return Candidates(rows[:count], scores[:count], int(checked.value))
        cap = int(count) * 2  # many equal scores: scan again with room for all (the floor
        # it raised is still a k-th best of a subset: a valid floor for the second scan)


def pack(codes: npt.NDArray[np.int8]) -> npt.NDArray[np.uint8]:
    """Blocks (blocks, 80 * pairs) of signed codes (blocks * 16, 8 * pairs) in [-16, 15]."""
    rows, width = codes.shape
    blocks, pairs = rows // 16, width // 8
    hi = codes >> 1  # floor(c / 2), in [-8, 7]
    u = (hi + 8).astype(np.uint8).reshape(blocks, 16, pairs, 2, 4).transpose(0, 2, 3, 1, 4)
    nibbles = (u[:, :, 0] | (u[:, :, 1] << 4)).reshape(blocks, pairs * 64)
    low = (codes - 2 * hi).astype(np.uint8).reshape(blocks, 16, 2 * pairs, 4)
    bits = np.packbits(low.transpose(0, 2, 1, 3).reshape(blocks, 2 * pairs, 64), -1, "little")
    return np.ascontiguousarray(np.concatenate([nibbles, bits.reshape(blocks, -1)], axis=1))


def unpack(codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.int8]:
    """Signed codes (blocks * 16, 8 * pairs) of blocks (blocks, 80 * pairs)."""
    blocks, pairs = codes.shape[0], codes.shape[1] // BLOCK_BYTES
    nib = codes[:, : pairs * 64].reshape(blocks, pairs, 16, 4)
    both = np.stack([nib & 15, nib >> 4], axis=2)  # (blocks, pairs, 2, 16, 4)
    u = both.transpose(0, 3, 1, 2, 4).reshape(blocks * 16, pairs * 8).astype(np.int8)
    bits = np.unpackbits(
        codes[:, pairs * 64 :].reshape(blocks, 2 * pairs, 8), -1, bitorder="little"
    )
    low = bits.reshape(blocks, 2 * pairs, 16, 4).transpose(0, 2, 1, 3).reshape(blocks * 16, -1)
    return (2 * (u - 8) + low.astype(np.int8)).astype(np.int8)


def _scan_numpy(
    data: Stored, b0: int, b1: int, query: Query, k: int, shared: npt.NDArray[np.float64]
) -> Candidates:
    """The same selection in NumPy: upper bounds of all rows, then exact scores in order of
    the bound until the next bound falls below the k-th best exact score."""
    codes, err, dead, vectors = data.codes, data.err, data.dead, data.vectors
    p = query.p.astype(np.int32)
    step = 4096
    parts_rows, parts_ub = [], []
    for s in range(b0, b1, step):
        e = min(b1, s + step)
        a = unpack(codes[s:e]).astype(np.int32) @ p
        rows = np.arange(s * 16, e * 16, dtype=np.int64)
        ub = query.t * a + query.qn * err[s * 16 : e * 16].astype(np.float64)
        ub += query.dconst + SLACK
        live = dead[s * 16 : e * 16] == 0
        parts_rows.append(rows[live])
        parts_ub.append(ub[live])
    rows = np.concatenate(parts_rows) if parts_rows else np.empty(0, np.int64)
    ub = np.concatenate(parts_ub) if parts_ub else np.empty(0)
    order = np.argsort(-ub, kind="stable")
    keep_rows, keep_scores, best = [], [], np.empty(0)
    checked = 0
    for s in range(0, order.size, 256):
        batch = order[s : s + 256]
        floor = max(float(shared[0]), float(best[-k]) if best.size >= k else -np.inf) - EPS
        batch = batch[ub[batch] >= floor]
        if not batch.size:
            break
        exact = (take_rows(vectors, rows[batch]).astype(np.float64) * query.q32).sum(1)
        checked += int(batch.size)
        hit = exact >= floor
        keep_rows.append(rows[batch][hit])
        keep_scores.append(exact[hit])
        best = np.sort(np.concatenate([best, exact[hit]]))[-k:]
    if best.size >= k:
        shared[0] = max(float(shared[0]), float(best[-k]))
    return Candidates(
        np.concatenate(keep_rows) if keep_rows else np.empty(0, np.int64),
        np.concatenate(keep_scores) if keep_scores else np.empty(0),
        checked,
    )
