"""The gallery's own cross-subject pairs: the population its statements describe.

Every pair of templates of two different subject ids is scored (exactly, all of them, up to
``EXACT_PAIRS``; beyond that a seeded uniform sample of ``EXACT_PAIRS`` pairs, said so), overall
and within each recorded sex and sex/race group (both templates in the group). The scores go
into histograms (``ScoreHistogram``, bins of 1e-4, counted conservatively), and the
``TOP_KEEP`` highest pairs are kept with their subject ids, so that pairs excluded as the same
person under two ids (``evidence.duplicates``) can be taken out of every count exactly.

Pure: numpy arrays in, figures out; the workspace side (cache file, resident slot, the
agency's resolutions) is ``evidence.gallery_figures``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from leadguard.evidence.distribution import BIN_WIDTH, BINS, LOW, ScoreHistogram

EXACT_PAIRS = 30_000_000  # all pairs up to this many (about 7,700 templates); else a sample
TOP_KEEP = 20_000  # highest cross-subject pairs kept with their subjects
BLOCK = 512  # template rows scored together
ALL = "all"


@dataclass
class GalleryPairs:
    """Histograms of the gallery's cross-subject scores, and its highest pairs."""

    hists: dict[str, ScoreHistogram] = field(default_factory=dict)
    # highest pairs: score, row a, row b (rows into ``subjects``/``template_ids``), a < b
    top_score: npt.NDArray[np.float32] = field(default_factory=lambda: np.empty(0, np.float32))
    top_a: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    top_b: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    subjects: list[str] = field(default_factory=list)
    groups: list[tuple[str, ...]] = field(default_factory=list)
    template_ids: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))
    possible_pairs: int = 0  # cross-subject template pairs in the gallery
    sampled: bool = False
    seed: int = 0

    @property
    def measured_pairs(self) -> int:
        h = self.hists.get(ALL)
        return h.comparisons if h is not None else 0

    def pair_groups(self, i: int) -> tuple[str, ...]:
        """The groups top pair ``i`` was counted in (besides ``all``)."""
        ga, gb = self.groups[int(self.top_a[i])], self.groups[int(self.top_b[i])]
        return tuple(g for g in ga if g in gb)

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {}
        for name, h in self.hists.items():
            arrays.update(h.sparse(f"h:{name}"))
        arrays["top_score"] = self.top_score
        arrays["top_a"] = self.top_a
        arrays["top_b"] = self.top_b
        arrays["template_ids"] = self.template_ids
        meta = {
            "groups": sorted(self.hists),
            "subjects": self.subjects,
            "row_groups": [list(g) for g in self.groups],
            "possible_pairs": self.possible_pairs,
            "sampled": self.sampled,
            "seed": self.seed,
        }
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> GalleryPairs:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            hists = {g: ScoreHistogram.from_sparse(z, f"h:{g}") for g in meta["groups"]}
            return cls(
                hists,
                z["top_score"].astype(np.float32),
                z["top_a"].astype(np.int64),
                z["top_b"].astype(np.int64),
                [str(s) for s in meta["subjects"]],
                [tuple(g) for g in meta["row_groups"]],
                z["template_ids"].astype(np.int64),
                int(meta["possible_pairs"]),
                bool(meta["sampled"]),
                int(meta["seed"]),
            )


def bin_of(scores: np.ndarray) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    return np.clip(np.floor((scores - LOW) / BIN_WIDTH + 1e-9).astype(np.int64), 0, BINS - 1)


class _Acc:
    """Histogram counts per group and the running top pairs."""

    def __init__(self, names: list[str]) -> None:
        self.counts = {g: np.zeros(BINS, dtype=np.int64) for g in names}
        self.s: list[np.ndarray] = []
        self.a: list[np.ndarray] = []
        self.b: list[np.ndarray] = []
        self.held = 0
        self.cut = -np.inf

    def add(self, group: str, bins: np.ndarray) -> None:
        if bins.size:
            self.counts[group] += np.bincount(bins, minlength=BINS)

    def offer(self, s: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
        keep = s > self.cut
        if not keep.any():
            return
        self.s.append(s[keep].astype(np.float32))
        self.a.append(a[keep])
        self.b.append(b[keep])
        self.held += int(keep.sum())
        if self.held > 2 * TOP_KEEP:
            self._trim()

    def _trim(self) -> None:
        s, a, b = np.concatenate(self.s), np.concatenate(self.a), np.concatenate(self.b)
        if s.size > TOP_KEEP:
            part = np.argpartition(-s, TOP_KEEP - 1)[:TOP_KEEP]
            s, a, b = s[part], a[part], b[part]
            self.cut = float(s.min())
        self.s, self.a, self.b, self.held = [s], [a], [b], int(s.size)

    def top(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.s:
            return np.empty(0, np.float32), np.empty(0, np.int64), np.empty(0, np.int64)
        self._trim()
        order = np.argsort(-self.s[0], kind="stable")
        return self.s[0][order], self.a[0][order], self.b[0][order]


def measure_pairs(
    vectors: np.ndarray,
    subjects: list[str],
    groups: list[tuple[str, ...]],
    template_ids: npt.NDArray[np.int64] | None = None,
    seed: int = 0,
    exact_pairs: int = EXACT_PAIRS,
) -> GalleryPairs:
    """Score the gallery's cross-subject pairs: all of them when there are at most
    ``exact_pairs`` template pairs, else a seeded uniform sample of that many (with
    replacement, the pair of one subject's own templates drawn and dropped)."""
    n = len(subjects)
    x = np.ascontiguousarray(vectors, dtype=np.float32)
    _, subj = np.unique(np.asarray(subjects, dtype=object).astype(str), return_inverse=True)
    names = sorted({g for gs in groups for g in gs})
    member = np.zeros((n, len(names)), dtype=bool)
    for i, gs in enumerate(groups):
        for g in gs:
            member[i, names.index(g)] = True
    acc = _Acc([ALL, *names])
    ids = np.arange(n, dtype=np.int64) if template_ids is None else np.asarray(template_ids)
    per_subject = np.bincount(subj, minlength=int(subj.max()) + 1 if n else 0)
    possible = n * (n - 1) // 2 - int((per_subject * (per_subject - 1) // 2).sum())
    total = n * (n - 1) // 2
    sampled = total > exact_pairs
    if not sampled:
        for lo in range(0, n, BLOCK):
            hi = min(n, lo + BLOCK)
            sims = x[lo:hi] @ x[lo:].T  # rows lo..hi against columns lo..n
            ii = np.arange(lo, hi)[:, None]
            jj = np.arange(lo, n)[None, :]
            valid = (jj > ii) & (subj[lo:hi][:, None] != subj[lo:][None, :])
            _count_block(acc, sims, valid, member[lo:hi], member[lo:], names)
            r, c = np.nonzero(valid)
            acc.offer(sims[r, c], r + lo, c + lo)
    else:
        rng = np.random.default_rng([seed, n])
        left = exact_pairs
        while left > 0:
            m = min(left, 1_000_000)
            a = rng.integers(0, n, size=m)
            b = rng.integers(0, n, size=m)
            ok = subj[a] != subj[b]
            a, b = np.minimum(a, b)[ok], np.maximum(a, b)[ok]
            s = np.einsum("ij,ij->i", x[a], x[b])
            bins = bin_of(s)
            acc.add(ALL, bins)
            for k, g in enumerate(names):
                both = member[a, k] & member[b, k]
                acc.add(g, bins[both])
            acc.offer(s, a, b)
            left -= m
    ts, ta, tb = acc.top()
    hists = {g: ScoreHistogram(c) for g, c in acc.counts.items() if c.any() or g == ALL}
    return GalleryPairs(
        hists, ts, ta, tb, list(map(str, subjects)), list(groups), ids, possible, sampled, seed
    )


def _count_block(
    acc: _Acc,
    sims: np.ndarray,
    valid: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    names: list[str],
) -> None:
    bins = bin_of(sims)
    acc.add(ALL, bins[valid])
    for k, g in enumerate(names):
        if rows[:, k].any():
            both = valid & rows[:, k][:, None] & cols[:, k][None, :]
            acc.add(g, bins[both])
