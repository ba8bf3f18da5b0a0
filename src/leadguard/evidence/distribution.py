"""Measured non-mated score distributions, stored compactly and read conservatively.

``ScoreHistogram`` keeps every non-mated comparison of a calibration set as counts in bins
of width 1e-4 over [-1, 1]. "How many scored at least s" counts the whole bin that holds s,
so a stated false match rate is never smaller than the measured one (at most one bin high).

``ProbeTails`` keeps, for every calibration probe, its non-mated scores above a floor and
its number of non-mated comparisons. Some probes resemble many strangers ("wolves"), so the
chance that a search of N templates returns anyone is the average over probes of
1 - (1 - q_p)^N, where q_p is that probe's own false match rate; treating all comparisons
as independent with one shared FMR overstates it (docs/evidence.md shows both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from leadguard.evaluation.metrics import cluster_mean_ci

BIN_WIDTH = 1e-4
LOW = -1.0
BINS = round(2.0 / BIN_WIDTH) + 1  # the last bin holds exactly 1.0


def _bin(score: float) -> int:
    return min(max(math.floor((score - LOW) / BIN_WIDTH + 1e-9), 0), BINS - 1)


def bin_edge(index: int) -> float:
    return round(LOW + index * BIN_WIDTH, 6)


def edge_at_or_above(score: float) -> float:
    """The lowest bin edge >= score: a threshold the histogram counts exactly."""
    return bin_edge(min(math.ceil((score - LOW) / BIN_WIDTH - 1e-9), BINS - 1))


@dataclass(frozen=True)
class ScoreHistogram:
    """Counts of non-mated scores per bin; ``tail[i]`` = comparisons in bin i or above."""

    counts: np.ndarray  # int64, BINS long
    tail: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.counts.shape != (BINS,):
            raise ValueError(f"a score histogram has {BINS} bins, got {self.counts.shape}")
        object.__setattr__(self, "tail", np.cumsum(self.counts[::-1])[::-1])

    @classmethod
    def empty(cls) -> ScoreHistogram:
        return cls(np.zeros(BINS, dtype=np.int64))

    @classmethod
    def of(cls, scores: npt.ArrayLike) -> ScoreHistogram:
        return cls.empty().add(scores)

    def add(self, scores: npt.ArrayLike) -> ScoreHistogram:
        arr = np.asarray(scores, dtype=np.float64).ravel()
        arr = arr[np.isfinite(arr)]
        idx = np.clip(np.floor((arr - LOW) / BIN_WIDTH + 1e-9).astype(np.int64), 0, BINS - 1)
        return ScoreHistogram(self.counts + np.bincount(idx, minlength=BINS))

    @property
    def comparisons(self) -> int:
        return int(self.tail[0])

    def sparse(self, prefix: str) -> dict[str, np.ndarray]:
        """The non-empty bins as two arrays (``PREFIX:idx``, ``PREFIX:n``) for an ``.npz``."""
        nz = np.flatnonzero(self.counts)
        return {f"{prefix}:idx": nz.astype(np.int32), f"{prefix}:n": self.counts[nz]}

    @classmethod
    def from_sparse(cls, arrays: Any, prefix: str) -> ScoreHistogram:
        """The histogram ``sparse(prefix)`` wrote, read back from ``arrays`` (an npz)."""
        counts = np.zeros(BINS, dtype=np.int64)
        counts[arrays[f"{prefix}:idx"]] = arrays[f"{prefix}:n"]
        return cls(counts)

    def at_least(self, score: float) -> int:
        """Comparisons in the bin holding ``score`` or above (conservative by < 1 bin)."""
        return int(self.tail[_bin(score)])

    def threshold_for_fmr(self, fmr: float) -> float:
        """The lowest bin edge t with at_least(t) <= fmr x comparisons."""
        ok = np.flatnonzero(self.tail <= fmr * self.comparisons)
        return bin_edge(int(ok[0])) if ok.size else bin_edge(BINS - 1)


@dataclass(frozen=True)
class ProbeTails:
    """Per-probe non-mated scores at or above ``floor`` and per-probe comparison counts."""

    floor: float
    comparisons: np.ndarray  # int64 per probe
    offsets: np.ndarray  # int64, probes + 1; scores of probe p are scores[offsets[p]:offsets[p+1]]
    scores: np.ndarray  # float32, each probe's scores in no particular order
    people: np.ndarray  # int64 per probe: which person it shows (for clustered intervals)
    # derived once: all stored scores ascending, the probe each belongs to, distinct values
    _sorted: np.ndarray = field(init=False, repr=False, compare=False)
    _owner: np.ndarray = field(init=False, repr=False, compare=False)
    _distinct: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        owner = np.repeat(np.arange(self.comparisons.size), np.diff(self.offsets))
        order = np.argsort(self.scores, kind="stable")
        object.__setattr__(self, "_sorted", self.scores[order].astype(np.float64))
        object.__setattr__(self, "_owner", owner[order])
        object.__setattr__(self, "_distinct", np.unique(self.scores))

    @classmethod
    def from_lists(
        cls,
        floor: float,
        per_probe: list[np.ndarray],
        comparisons: list[int],
        people: list[int] | np.ndarray | None = None,
    ) -> ProbeTails:
        kept = [np.asarray(s, dtype=np.float32) for s in per_probe]
        kept = [s[s >= floor] for s in kept]
        offsets = np.zeros(len(kept) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([s.size for s in kept])
        scores = np.concatenate(kept) if kept else np.empty(0, dtype=np.float32)
        who = np.arange(len(kept)) if people is None else np.asarray(people)
        return cls(
            floor, np.asarray(comparisons, dtype=np.int64), offsets, scores, who.astype(np.int64)
        )

    @property
    def probes(self) -> int:
        return int(self.comparisons.size)

    def hits(self, threshold: float) -> np.ndarray:
        """Per probe: non-mated comparisons scoring at least ``threshold``."""
        if threshold < self.floor:
            raise ValueError(
                f"threshold {threshold:.4f} is below the floor {self.floor:.4f} these probe "
                "tails were kept from"
            )
        first = int(np.searchsorted(self._sorted, threshold, side="left"))
        return np.bincount(self._owner[first:], minlength=self.probes)

    def per_probe_fpir(self, threshold: float, gallery_size: int) -> np.ndarray:
        q = np.minimum(self.hits(threshold) / self.comparisons, 1.0 - 1e-15)
        return -np.expm1(gallery_size * np.log1p(-q))

    def fpir(self, threshold: float, gallery_size: int) -> float:
        """Share of searches by people not enrolled that return anyone at or above the
        threshold in a gallery of ``gallery_size`` templates (mean over probes)."""
        return float(np.mean(self.per_probe_fpir(threshold, gallery_size)))

    def fpir_ci(self, threshold: float, gallery_size: int) -> tuple[float, float]:
        """95 % interval of that mean, clustered by person (photos of one person are not
        independent probes)."""
        _, lo, hi = cluster_mean_ci(self.per_probe_fpir(threshold, gallery_size), self.people)
        return lo, hi

    def threshold_for_fpir(self, target: float, gallery_size: int) -> float:
        """The lowest stored score t with fpir(t, N) <= target. If the floor itself already
        meets the target, the floor (stricter than needed: below it nothing was kept)."""
        if self.fpir(self.floor, gallery_size) <= target:
            return self.floor
        cands = self._distinct
        lo, hi = 0, cands.size  # above every stored score no probe has a hit: fpir = 0
        while lo < hi:
            mid = (lo + hi) // 2
            if self.fpir(float(cands[mid]), gallery_size) <= target:
                hi = mid
            else:
                lo = mid + 1
        if lo == cands.size:
            return float(np.nextafter(cands[-1], np.float32(2.0)))
        return float(cands[lo])
