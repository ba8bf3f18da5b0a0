"""Exact search over 5-bit-compressed vectors: scan the codes, score exactly only what can matter.

Every vector x (fp32) is stored as signed 5-bit codes c in [-16, 15] with a per-dimension scale
s (x ~ s*c; s trained per segment to the smallest squared error) and its error
e = ||x - s*c|| is kept. A query q is turned into int8 p with one scale t (q*s ~ t*p,
remainder r = q*s - t*p). The integer scan computes a = p.c exactly, and for every vector

    |q.x - t*a| <= ||q||*e + ||r||*max||c||                   (Cauchy-Schwarz, twice)

so t*a minus and plus that bound bracket the exact score. One pass over the codes keeps the
k best lower bounds and every vector whose upper bound reaches the k-th of them; those are
then scored exactly from their fp32 vectors (a read-only map of the segment's file,
prefetched ahead of each score: ``segment_files.RowFile``), the most promising first, as
long as their upper bound reaches the k-th best exact score found so far (``_qscan.c``;
threads of one search share that floor). The candidates scored at or above it are re-scored
with ``exact_scores`` (fp32*fp32 products summed in fp64), ties broken by ascending id, the
same as the reference ``ExactIndex``: results are identical to an exact scan, not
approximately. 5 bits a dimension (80 bytes a 128-d template) stream 5/8 of int8's bytes per
search; 4 bits would stream less, but their bound is so loose on isotropic data that
exact scoring costs more than the bytes saved (docs/performance.md).

Storage (one folder per embedding space): append-only segments (codes, ids, fp32 vectors,
errors, scales) and per-segment tombstone files; ``meta.json`` is replaced last and is the
commit point, so a crash leaves the previous state intact. It records the fingerprint of the
ids it holds (count, sum, max, xor of hashes), kept incrementally, for comparison with the
database, which stays the source of truth.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from leadguard.core.errors import IndexError_
from leadguard.index import _qkernel
from leadguard.index.base import IdArray, ScoreArray, as_matrix, exact_scores, search_rows
from leadguard.index.segment_files import (
    SEGMENT_PARTS,
    RowFile,
    fsync_dir,
    read_meta,
    take_rows,
    write_array,
)

log = logging.getLogger(__name__)

FORMAT = "leadguard-compressed-2"
SMALL_SEGMENT = 65536  # segments below this many rows are merged once there are too many
MAX_SMALL_SEGMENTS = 8
# a search's scan is split between threads only in parts of at least this many blocks of 16
# (262,144 templates): on 2 cores, 2 threads at 100k took 6.5 ms against 4.6 on one, at 400k
# 8.6 ms against 10.3 but 14.4 ms of CPU against 10.3 (docs/performance.md)
MIN_THREAD_BLOCKS = 16384
COMPACT_DEAD_FRACTION = 0.25
_EPS = 1e-9  # covers fp64 rounding in the bound arithmetic (bounds are ~1e-2, errors ~1e-15)
_ENCODE_ROWS = 131072
_CMIN, _CMAX = _qkernel.CMIN, _qkernel.CMAX
_M64 = (1 << 64) - 1


def id_hash(ids: IdArray) -> int:
    """XOR of a 64-bit mix (splitmix64) of each id: an order-free fingerprint of an id set."""
    z = ids.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return int(np.bitwise_xor.reduce(z)) if z.size else 0


@dataclass
class _Segment:
    name: str
    ids: IdArray
    codes: npt.NDArray[np.uint8]  # (blocks, 80 * pairs): 5-bit codes (_qscan.c)
    scale: npt.NDArray[np.float64]  # (padded dim,)
    err: npt.NDArray[np.float16]  # (blocks*16,) ||x - s*c||, rounded up to fp16 (0: padding)
    vectors: npt.NDArray[np.float32] | RowFile  # (rows, dim) fp32, mapped from its file once saved
    dead: npt.NDArray[np.uint8]  # (blocks*16,) 1 = removed or padding
    err_max: float
    cnorm_max: float
    saved: bool = False
    dead_saved: bool = True
    dead_file: str | None = None

    @property
    def rows(self) -> int:
        return int(self.ids.size)

    @property
    def live(self) -> int:
        return self.rows - int(self.dead[: self.rows].sum())


_KAPPAS = np.arange(0.08, 0.40, 0.01)  # scale candidates, in standard deviations
_FIT_ROWS = 65536


def fit_scale(vectors: npt.NDArray[np.float32], width: int) -> npt.NDArray[np.float64]:
    """Per-dimension scale of the codes: of a few multiples of each dimension's
    standard deviation, the one with the smallest squared error on (a sample of) the segment.
    Any scale keeps the bound rigorous; a good one keeps it tight."""
    m, dim = vectors.shape
    sample = np.asarray(vectors[:: max(1, m // _FIT_ROWS)][:_FIT_ROWS], dtype=np.float64)
    std = sample.std(axis=0) if m else np.zeros(dim)
    amax = np.abs(sample).max(axis=0) if m else np.zeros(dim)
    best = np.where(amax > 0, amax / _CMAX, 1.0)  # no spread (one row): cover the values
    best_err = ((sample - np.clip(np.rint(sample / best), _CMIN, _CMAX) * best) ** 2).sum(axis=0)
    for kappa in _KAPPAS:
        s = np.where(std > 0, kappa * std, best)
        e = ((sample - np.clip(np.rint(sample / s), _CMIN, _CMAX) * s) ** 2).sum(axis=0)
        better = e < best_err
        best, best_err = np.where(better, s, best), np.where(better, e, best_err)
    scale = np.ones(width)
    scale[:dim] = best
    return scale


def encode(vectors: npt.NDArray[np.float32], dim: int) -> dict[str, Any]:
    """Codes, scale and per-vector error bounds of one segment."""
    m = vectors.shape[0]
    width = 8 * math.ceil(dim / 8)
    scale = fit_scale(vectors, width)
    blocks = math.ceil(m / 16)
    codes = np.empty((blocks, width // 8 * _qkernel.BLOCK_BYTES), dtype=np.uint8)
    err = np.zeros(blocks * 16)
    cnorm_max = 0.0
    for s in range(0, blocks * 16, _ENCODE_ROWS):  # chunks of whole blocks
        rows = min(blocks * 16 - s, _ENCODE_ROWS)
        x = np.zeros((rows, width))  # rows past the end are padding: code 0
        x[: max(0, min(m - s, rows)), :dim] = vectors[s : s + rows]
        c = np.clip(np.rint(x / scale), _CMIN, _CMAX)
        # fp64 norms of fp32 data: relative error ~1e-16, covered by rounding up
        err[s : s + rows] = np.linalg.norm(x - c * scale, axis=1) * (1 + 1e-12) + 1e-12
        cnorm_max = max(cnorm_max, float(np.linalg.norm(c, axis=1).max()))
        codes[s // 16 : (s + rows) // 16] = _qkernel.pack(c.astype(np.int8))
    err[m:] = 0.0
    dead = np.zeros(blocks * 16, dtype=np.uint8)
    dead[m:] = 1
    return {
        "codes": codes,
        "scale": scale,
        "err": _round_up16(err),
        "dead": dead,
        "err_max": float(err.max()) if m else 0.0,
        "cnorm_max": cnorm_max * (1 + 1e-12),
    }


def _round_up16(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float16]:
    """fp16 values never below x (the bounds stay rigorous at 2 bytes a number)."""
    h = x.astype(np.float16)
    low = h.astype(np.float64) < x
    h[low] = np.nextafter(h[low], np.float16(np.inf))
    return h


_POOL: ThreadPoolExecutor | None = None


def _pool(threads: int) -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None or _POOL._max_workers != threads:
        _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lg-scan")
    return _POOL


class CompressedIndex:
    """Exact top-k by 5-bit scan with error bounds and a running exact floor (module doc)."""

    def __init__(self, space_key: str, dim: int, threads: int | None = None) -> None:
        self.space_key = space_key
        self.dim = dim
        self.threads = max(1, threads or os.cpu_count() or 1)
        self.use_native = True
        self._segments: list[_Segment] = []
        self._next = 1
        self._count = 0
        self._id_sum = 0
        self._id_max = 0
        self._id_xor = 0
        self._dir: Path | None = None
        self._dropped: list[str] = []
        self.last_written: list[str] = []  # files the last save wrote (their digests: the chain)
        self.last_candidates = 0  # how many vectors the last search re-scored exactly

    def __len__(self) -> int:
        return self._count

    # --- changes ---
    def add(self, ids: IdArray, vectors: npt.NDArray[np.float32]) -> None:
        mat = as_matrix(vectors, self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.size != mat.shape[0]:
            raise ValueError("ids and vectors differ in length")
        if not ids.size:
            return
        self._segments.append(self._new_segment(ids, mat))
        self._count += int(ids.size)
        self._id_sum += int(ids.sum())
        self._id_max = (
            max(self._id_max, int(ids.max())) if self._count > ids.size else int(ids.max())
        )
        self._id_xor ^= id_hash(ids)
        self._merge_small()

    def remove(self, ids: IdArray) -> int:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not ids.size:
            return 0
        gone: list[IdArray] = []
        for seg in self._segments:
            hit = np.isin(seg.ids, ids) & (seg.dead[: seg.rows] == 0)
            if hit.any():
                seg.dead[: seg.rows][hit] = 1
                seg.dead_saved = False
                gone.append(seg.ids[hit])
        if not gone:
            return 0
        removed = np.concatenate(gone)
        self._count -= int(removed.size)
        self._id_sum -= int(removed.sum())
        self._id_xor ^= id_hash(removed)
        if self._id_max in set(removed.tolist()):
            live = self.ids()
            self._id_max = int(live.max()) if live.size else 0
        self._compact()
        return int(removed.size)

    def ids(self) -> IdArray:
        parts = [seg.ids[seg.dead[: seg.rows] == 0] for seg in self._segments]
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def stored(self, chunk: int = 65536) -> Iterator[tuple[IdArray, npt.NDArray[np.float32]]]:
        """(ids, fp32 vectors) of the live rows as held for exact scores, segment by segment
        (for a thorough check against the database)."""
        for seg in self._segments:
            live = np.flatnonzero(seg.dead[: seg.rows] == 0).astype(np.int64)
            for start in range(0, int(live.size), chunk):
                rows = live[start : start + chunk]
                yield seg.ids[rows], np.asarray(take_rows(seg.vectors, rows), np.float32)

    def fingerprint(self) -> dict[str, int]:
        """Count, sum, max and xor-hash of the live ids, kept incrementally (no scan)."""
        return {
            "count": self._count,
            "id_sum": self._id_sum,
            "id_max": self._id_max if self._count else 0,
            "id_xor": self._id_xor,
        }

    def _new_segment(self, ids: IdArray, mat: npt.NDArray[np.float32]) -> _Segment:
        name = f"seg-{self._next:06d}"
        self._next += 1
        enc = encode(mat, self.dim)
        return _Segment(name, ids.copy(), vectors=np.array(mat, dtype=np.float32), **enc)

    def _rewrite(self, segs: list[_Segment]) -> _Segment | None:
        keep = [seg.dead[: seg.rows] == 0 for seg in segs]
        ids = np.concatenate([s.ids[k] for s, k in zip(segs, keep, strict=True)])
        for seg in segs:
            self._segments.remove(seg)
            if seg.saved:
                self._dropped.append(seg.name)
        if not ids.size:
            return None
        mat = np.concatenate(
            [take_rows(s.vectors, np.flatnonzero(k)) for s, k in zip(segs, keep, strict=True)]
        )
        new = self._new_segment(ids, mat)
        self._segments.append(new)
        return new

    def _merge_small(self) -> None:
        small = [s for s in self._segments if s.rows < SMALL_SEGMENT]
        if len(small) > MAX_SMALL_SEGMENTS:
            self._rewrite(small)

    def _compact(self) -> None:
        for seg in list(self._segments):
            if seg.rows and (seg.rows - seg.live) / seg.rows > COMPACT_DEAD_FRACTION:
                self._rewrite([seg])

    # --- search ---
    def search(self, query: npt.NDArray[np.float32], k: int) -> tuple[ScoreArray, IdArray]:
        return search_rows(query, self.dim, k, self._search_one)

    def _search_one(
        self, q32: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.float64], IdArray]:
        q32 = np.ascontiguousarray(q32, dtype=np.float32)
        q = q32.astype(np.float64)
        qnorm = float(np.linalg.norm(q))
        shared = np.full(1, -np.inf)  # the k-th best exact score so far, for every job
        jobs: list[tuple[_Segment, _qkernel.Query, int, int]] = []
        # threads only where each has enough to scan: below that they cost more CPU than
        # they save time (the threads' floors rise apart, so more rows are scored exactly)
        total = sum(seg.codes.shape[0] for seg in self._segments)
        threads = max(1, min(self.threads, total // MIN_THREAD_BLOCKS))
        for seg in self._segments:
            query = _prepare(seg, q, q32, qnorm)
            blocks = seg.codes.shape[0]
            step = max(MIN_THREAD_BLOCKS, math.ceil(blocks / threads))
            jobs += [(seg, query, b0, min(blocks, b0 + step)) for b0 in range(0, blocks, step)]

        def run(job: tuple[_Segment, _qkernel.Query, int, int]) -> _qkernel.Candidates:
            seg, query, b0, b1 = job
            data = _qkernel.Stored(seg.codes, seg.err, seg.dead, seg.vectors)
            return _qkernel.scan(data, b0, b1, query, k, shared, self.use_native)

        if len(jobs) > 1 and threads > 1:
            results = list(_pool(self.threads).map(run, jobs))
        else:
            results = [run(job) for job in jobs]
        self.last_candidates = sum(r.checked for r in results)
        found = [r.scores for r in results if r.scores.size]
        if not found:
            return np.empty(0), np.empty(0, dtype=np.int64)
        both = np.concatenate(found)
        # the kernel's fp64 sums agree with exact_scores to ~1e-15: only what is within
        # its allowance of its own k-th best can be in the top k, and is re-scored here
        cut = float(np.partition(both, both.size - k)[both.size - k]) if both.size > k else -np.inf
        cand_ids, cand_scores = [], []
        for (seg, _, _, _), res in zip(jobs, results, strict=True):
            rows = res.rows[res.scores >= cut - 2 * _qkernel.EPS]
            if rows.size:
                cand_ids.append(seg.ids[rows])
                cand_scores.append(exact_scores(take_rows(seg.vectors, rows), q32))
        ids = np.concatenate(cand_ids)
        scores = np.concatenate(cand_scores)
        order = np.lexsort((ids, -scores))[:k]
        return scores[order], ids[order]

    # --- persistence ---
    def save(self, path: Path) -> None:
        """Write new segments and changed tombstones, then commit by replacing meta.json."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        written: list[str] = []
        if self._dir != folder:
            if self._dir is not None:  # saving to another folder: write everything there
                for seg in self._segments:
                    seg.saved, seg.dead_saved = False, False
            previous = read_meta(folder)
            if previous is not None:  # never overwrite a file the committed meta.json names
                self._next = max(self._next, int(previous.get("next", 0)))
                for seg in self._segments:
                    if not seg.saved:
                        seg.name = f"seg-{self._next:06d}"
                        self._next += 1
        for seg in self._segments:
            if not seg.saved:
                written += _write_segment(folder, seg)
            if not seg.dead_saved:
                seg.dead_file = f"{seg.name}.dead-{self._next:06d}.npy"
                self._next += 1
                write_array(folder / seg.dead_file, np.flatnonzero(seg.dead[: seg.rows]))
                written.append(seg.dead_file)
                seg.dead_saved = True
        meta = {
            "format": FORMAT,
            "space_key": self.space_key,
            "dim": self.dim,
            "next": self._next,
            **self.fingerprint(),
            "segments": [
                {
                    "name": s.name,
                    "rows": s.rows,
                    "err_max": s.err_max,
                    "cnorm_max": s.cnorm_max,
                    "dead_file": s.dead_file,
                }
                for s in self._segments
            ],
        }
        tmp = folder / "meta.json.tmp"
        with open(tmp, "w") as fh:
            json.dump(meta, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, folder / "meta.json")
        fsync_dir(folder)
        self._dir = folder
        wanted = {"meta.json"} | {s.dead_file for s in self._segments if s.dead_file}
        prefixes = tuple(f"{s.name}." for s in self._segments)
        for f in folder.iterdir():  # files of dropped segments and older tombstones
            name = f.name
            keep = name in wanted or (name.startswith(prefixes) and ".dead-" not in name)
            if not keep:
                f.unlink(missing_ok=True)
        self._dropped.clear()
        self.last_written = [*written, "meta.json"]

    @classmethod
    def load(cls, path: Path, space_key: str, dim: int, map_rows: bool = True) -> CompressedIndex:
        """The saved index; ``map_rows=False`` reads the exact-score rows with pread instead
        of a map (``RowFile``; for comparison in benchmarks/index_scale.py)."""
        folder = Path(path)
        meta = read_meta(folder)
        if meta is None or meta.get("format") != FORMAT:
            raise IndexError_(
                f"index {folder} cannot be read (no valid meta.json); run: leadguard index rebuild"
            )
        if meta.get("space_key") != space_key or meta.get("dim") != dim:
            raise IndexError_(
                f"index {folder} belongs to space {meta.get('space_key')} (dim "
                f"{meta.get('dim')}), not {space_key} (dim {dim}); run: leadguard index rebuild"
            )
        obj = cls(space_key, dim)
        try:
            for entry in meta["segments"]:
                obj._segments.append(_read_segment(folder, entry, dim, map_rows))
        except (OSError, ValueError, KeyError) as exc:
            raise IndexError_(
                f"index {folder} cannot be read ({exc}); run: leadguard index rebuild"
            ) from exc
        obj._next = int(meta["next"])
        obj._count = int(meta["count"])
        obj._id_sum, obj._id_max = int(meta["id_sum"]), int(meta["id_max"])
        obj._id_xor = int(meta["id_xor"])
        if sum(s.live for s in obj._segments) != obj._count:
            raise IndexError_(
                f"index {folder} is damaged (counts disagree); run: leadguard index rebuild"
            )
        obj._dir = folder
        return obj


def _prepare(
    seg: _Segment, q: npt.NDArray[np.float64], q32: npt.NDArray[np.float32], qnorm: float
) -> _qkernel.Query:
    """The int8 query for one segment's scale, and the constant part of the bound."""
    width = seg.scale.size
    qp = np.zeros(width)
    qp[: q.size] = q
    w = qp * seg.scale
    wmax = float(np.abs(w).max())
    t = wmax / 127.0 if wmax > 0 else 1.0
    p = np.clip(np.rint(w / t), -127, 127)
    rnorm = float(np.linalg.norm(w - t * p)) * (1 + 1e-12)
    # a bound on |q.x|, for the kernel's fp32 rounding of the bound's terms (~1e-7 of it)
    reach = qnorm * (seg.err_max + float(seg.scale.max()) * seg.cnorm_max)
    dconst = rnorm * seg.cnorm_max + _EPS + 1e-6 * reach
    return _qkernel.Query(p.astype(np.int8), t, qnorm, dconst, q32)


def _write_segment(folder: Path, seg: _Segment) -> list[str]:
    write_array(folder / f"{seg.name}.ids.npy", seg.ids)
    write_array(folder / f"{seg.name}.codes.npy", seg.codes)
    write_array(folder / f"{seg.name}.scale.npy", seg.scale)
    write_array(folder / f"{seg.name}.err.npy", seg.err)
    write_array(folder / f"{seg.name}.vec.npy", take_rows(seg.vectors, np.arange(seg.rows)))
    seg.vectors = RowFile(folder / f"{seg.name}.vec.npy")
    seg.saved = True
    return [f"{seg.name}.{part}.npy" for part in SEGMENT_PARTS]


def _read_segment(folder: Path, entry: dict[str, Any], dim: int, map_rows: bool) -> _Segment:
    name = entry["name"]
    ids = np.load(folder / f"{name}.ids.npy")
    codes = np.load(folder / f"{name}.codes.npy")
    vectors = RowFile(folder / f"{name}.vec.npy", map_rows)
    err = np.load(folder / f"{name}.err.npy")
    rows = int(entry["rows"])
    if (
        ids.size != rows
        or vectors.shape != (rows, dim)
        or vectors.dtype != np.float32
        or codes.shape[0] * 16 < rows
        or err.shape != (codes.shape[0] * 16,)
        or err.dtype != np.float16
    ):
        raise ValueError(f"segment {name} does not match its record")
    dead = np.zeros(codes.shape[0] * 16, dtype=np.uint8)
    dead[rows:] = 1
    if entry.get("dead_file"):
        dead[np.load(folder / entry["dead_file"])] = 1
    return _Segment(
        name,
        ids,
        codes,
        np.load(folder / f"{name}.scale.npy"),
        err,
        vectors,
        dead,
        float(entry["err_max"]),
        float(entry["cnorm_max"]),
        saved=True,
        dead_file=entry.get("dead_file"),
    )
