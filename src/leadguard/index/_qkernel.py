"""The int8 scan kernel of the compressed index: a small C file compiled on first use.

``_i8scan.c`` is compiled with the system C compiler into a per-user cache folder the first
time a compressed index is searched (about a second), then loaded with ctypes; calls release
the GIL, so chunks of a gallery are scanned on several threads. It uses AVX-512 VNNI where the
CPU has it and portable C otherwise. Without a C compiler the same arithmetic runs in NumPy
(exact, only slower) and a warning says so.
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

log = logging.getLogger(__name__)

_SOURCE = Path(__file__).with_name("_i8scan.c")
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
    target = _cache_dir() / f"i8scan-{digest}.so"
    if not target.exists():
        cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            log.warning("no C compiler found: the compressed index scans in NumPy (slower)")
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=target.parent)
        os.close(fd)
        cmd = [cc, "-O3", "-shared", "-fPIC", "-o", tmp, str(_SOURCE)]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            os.unlink(tmp)
            log.warning(
                "compiling the int8 scan kernel failed (%s): the compressed index scans in "
                "NumPy (slower)",
                result.stderr.strip().splitlines()[-1:] or result.returncode,
            )
            return None
        os.replace(tmp, target)
    lib = ctypes.CDLL(str(target))
    ptr, long_, int_ = ctypes.c_void_p, ctypes.c_long, ctypes.c_int
    lib.lg_scan.argtypes = [
        ptr,
        long_,
        long_,
        ptr,
        int_,
        ptr,
        ptr,
        int_,
        ptr,
        ctypes.c_int32,
        ptr,
        ptr,
        long_,
        int_,
    ]
    lib.lg_scan.restype = long_
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
                log.warning("int8 scan kernel unavailable (%s): scanning in NumPy", exc)
                _LIB = None
        return _LIB


@dataclass
class ScanResult:
    """Top-k approximate scores of live rows, and every candidate row with its score."""

    top: npt.NDArray[np.int32]
    rows: npt.NDArray[np.int64]
    scores: npt.NDArray[np.int32]


def scan(
    codes: npt.NDArray[np.uint8],
    b0: int,
    b1: int,
    query: npt.NDArray[np.int8],
    dead: npt.NDArray[np.uint8],
    k: int,
    margin: int,
    use_native: bool = True,
) -> ScanResult:
    """Scan blocks [b0, b1) of ``codes`` (shape (blocks, groups, 16, 4)).

    The candidates are a superset of the live rows whose score is at least the final k-th
    largest live score minus ``margin``.
    """
    groups = codes.shape[1]
    lib = native() if use_native else None
    if lib is None:
        return _scan_numpy(codes, b0, b1, query, dead, k, margin)
    top = np.empty(k, dtype=np.int32)
    nheap = ctypes.c_int(0)
    cap = 4096
    while True:
        rows = np.empty(cap, dtype=np.int64)
        scores = np.empty(cap, dtype=np.int32)
        count = lib.lg_scan(
            codes.ctypes.data,
            b0,
            b1,
            query.ctypes.data,
            groups,
            dead.ctypes.data,
            top.ctypes.data,
            k,
            ctypes.byref(nheap),
            margin,
            rows.ctypes.data,
            scores.ctypes.data,
            cap,
            0,
        )
        if count <= cap:
            return ScanResult(top[: nheap.value].copy(), rows[:count], scores[:count])
        cap = int(count)  # the scan is deterministic: the same count comes back


def _scan_numpy(
    codes: npt.NDArray[np.uint8],
    b0: int,
    b1: int,
    query: npt.NDArray[np.int8],
    dead: npt.NDArray[np.uint8],
    k: int,
    margin: int,
) -> ScanResult:
    q = query.astype(np.int32).reshape(codes.shape[1], 4)
    bias = 128 * int(q.sum())
    step = 4096
    all_rows, all_scores = [], []
    for s in range(b0, b1, step):
        e = min(b1, s + step)
        block = codes[s:e].astype(np.int32)  # (b, groups, 16, 4)
        sc = np.einsum("bgvj,gj->bv", block, q).reshape(-1) - bias
        rows = np.arange(s * 16, e * 16, dtype=np.int64)
        live = dead[s * 16 : e * 16] == 0
        all_rows.append(rows[live])
        all_scores.append(sc[live].astype(np.int32))
    rows = np.concatenate(all_rows) if all_rows else np.empty(0, np.int64)
    scores = np.concatenate(all_scores) if all_scores else np.empty(0, np.int32)
    if scores.size > k:
        top = np.partition(scores, scores.size - k)[scores.size - k :]
        keep = scores.astype(np.int64) >= int(top.min()) - margin
        return ScanResult(top, rows[keep], scores[keep])
    return ScanResult(scores.copy(), rows, scores)
