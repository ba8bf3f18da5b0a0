"""Verification and identification metrics. Scores are similarities: higher = more alike.

Conventions (ISO/IEC 19795-1, NIST FRTE):
  FMR(t)  = share of non-mated scores >= t       FNMR(t) = share of mated scores < t
  FPIR(t) = share of non-mated searches whose top candidate scores >= t
  FNIR(t) = share of mated searches whose mate is not returned at rank <= L with score >= t
A failure to make a template scores -inf: it can only add to FNMR/FNIR, never to FMR/FPIR.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]


def _arr(x: npt.ArrayLike) -> Scores:
    return np.asarray(x, dtype=np.float64)


def fmr_at(impostor: npt.ArrayLike, t: float) -> float:
    imp = _arr(impostor)
    return float(np.mean(imp >= t)) if imp.size else float("nan")


def fnmr_at(genuine: npt.ArrayLike, t: float) -> float:
    gen = _arr(genuine)
    return float(np.mean(gen < t)) if gen.size else float("nan")


@dataclass(frozen=True)
class Curve:
    """FMR and FNMR at every distinct threshold (descending thresholds)."""

    thresholds: Scores
    fmr: Scores
    fnmr: Scores


def error_curve(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> Curve:
    gen, imp = _arr(genuine), _arr(impostor)
    finite = np.concatenate([gen, imp])
    finite = finite[np.isfinite(finite)]
    thresholds = np.unique(finite)[::-1]
    gen_sorted, imp_sorted = np.sort(gen), np.sort(imp)
    # count of scores >= t via searchsorted on sorted arrays
    imp_ge = imp.size - np.searchsorted(imp_sorted, thresholds, side="left")
    gen_lt = np.searchsorted(gen_sorted, thresholds, side="left")
    fmr = imp_ge / max(imp.size, 1)
    fnmr = gen_lt / max(gen.size, 1)
    return Curve(thresholds, fmr, fnmr)


def threshold_at_fmr(impostor: npt.ArrayLike, target: float) -> float:
    """The lowest threshold whose FMR does not exceed ``target``.

    With n non-mated scores the smallest measurable non-zero FMR is 1/n; a target below
    that returns a threshold just above the highest non-mated score (FMR 0 measured).
    """
    imp = np.sort(_arr(impostor))[::-1]
    imp = imp[np.isfinite(imp)]
    if imp.size == 0:
        return float("-inf")
    allowed = int(np.floor(target * imp.size + 1e-9))  # scores allowed at or above t
    if allowed >= imp.size:
        return float(imp[-1])
    # t must be above the (allowed+1)-th highest score
    return float(np.nextafter(imp[allowed], np.inf))


def fnmr_at_fmr(genuine: npt.ArrayLike, impostor: npt.ArrayLike, target: float) -> dict:
    t = threshold_at_fmr(impostor, target)
    n = _arr(impostor).size
    return {
        "target_fmr": target,
        "threshold": t,
        "fmr": fmr_at(impostor, t),
        "fnmr": fnmr_at(genuine, t),
        # the "rule of three": fewer than 3 non-mated comparisons expected above t cannot
        # distinguish this FMR from zero
        "supported": bool(n * target >= 3),
    }


def eer(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> dict:
    """Equal error rate: where FMR and FNMR cross (mean of the two at the closest point)."""
    c = error_curve(genuine, impostor)
    i = int(np.argmin(np.abs(c.fmr - c.fnmr)))
    return {"eer": float((c.fmr[i] + c.fnmr[i]) / 2), "threshold": float(c.thresholds[i])}


def best_accuracy_threshold(genuine: npt.ArrayLike, impostor: npt.ArrayLike) -> float:
    """Threshold maximising (correct mated + correct non-mated) / all pairs."""
    gen, imp = _arr(genuine), _arr(impostor)
    c = error_curve(gen, imp)
    correct = (1 - c.fnmr) * gen.size + (1 - c.fmr) * imp.size
    i = int(np.argmax(correct))
    # midpoint between this threshold and the next lower distinct score, as LFW tools do
    lower = c.thresholds[i + 1] if i + 1 < c.thresholds.size else c.thresholds[i] - 1e-6
    return float((c.thresholds[i] + lower) / 2)


def accuracy_at(genuine: npt.ArrayLike, impostor: npt.ArrayLike, t: float) -> float:
    gen, imp = _arr(genuine), _arr(impostor)
    return float((np.sum(gen >= t) + np.sum(imp < t)) / (gen.size + imp.size))


def tenfold_accuracy(scores: npt.ArrayLike, mated: npt.ArrayLike, folds: npt.ArrayLike) -> dict:
    """LFW View 2: per fold, threshold chosen on the other folds, accuracy on this one."""
    s, m, f = _arr(scores), np.asarray(mated, bool), np.asarray(folds)
    accs, thresholds = [], []
    for k in np.unique(f):
        train, test = f != k, f == k
        t = best_accuracy_threshold(s[train & m], s[train & ~m])
        thresholds.append(t)
        accs.append(accuracy_at(s[test & m], s[test & ~m], t))
    a = np.asarray(accs)
    return {
        "mean_accuracy": float(a.mean()),
        "std_accuracy": float(a.std(ddof=1)) if a.size > 1 else 0.0,
        "fold_accuracy": a.tolist(),
        "fold_thresholds": thresholds,
    }


# --- identification -------------------------------------------------------------------


@dataclass(frozen=True)
class Searches:
    """Outcomes of 1:N searches.

    mated_rank / mated_score: for each mated search, the rank (1-based) and score of the
    true mate in the candidate list, or rank 0 / -inf when the mate is not on the list.
    nonmated_top: for each non-mated search, the top candidate's score (-inf when none).
    """

    mated_rank: npt.NDArray[np.int64]
    mated_score: Scores
    nonmated_top: Scores


def cmc(mated_rank: npt.ArrayLike, max_rank: int) -> Scores:
    """Share of mated searches with the mate at rank <= r, for r = 1..max_rank."""
    r = np.asarray(mated_rank)
    if r.size == 0:
        return np.full(max_rank, np.nan)
    return np.array([np.mean((r >= 1) & (r <= k)) for k in range(1, max_rank + 1)])


def fpir_at(nonmated_top: npt.ArrayLike, t: float) -> float:
    return fmr_at(nonmated_top, t)


def fnir_at(s: Searches, t: float, max_rank: int) -> float:
    hit = (s.mated_rank >= 1) & (s.mated_rank <= max_rank) & (s.mated_score >= t)
    return float(1 - np.mean(hit)) if s.mated_rank.size else float("nan")


def fnir_at_fpir(s: Searches, target: float, max_rank: int) -> dict:
    t = threshold_at_fmr(s.nonmated_top, target)
    return {
        "target_fpir": target,
        "threshold": t,
        "fpir": fpir_at(s.nonmated_top, t),
        "fnir": fnir_at(s, t, max_rank),
        "supported": bool(s.nonmated_top.size * target >= 3),
    }


# --- uncertainty -----------------------------------------------------------------------


def bootstrap_ci(
    values: npt.ArrayLike,
    statistic: Callable[[Scores], float],
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over resamples of ``values``."""
    v = _arr(values)
    if v.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    stats = np.array([statistic(v[rng.integers(0, v.size, v.size)]) for _ in range(n_boot)])
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def rate_ci(count: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) interval for a proportion; honest when count is 0. (Kept
    per arguments: a search asks for the same few dozen intervals each time.)"""
    return _rate_ci(float(count), float(n), float(level))


@functools.lru_cache(maxsize=4096)
def _rate_ci(count: float, n: float, level: float) -> tuple[float, float]:
    from scipy.stats import beta

    if n == 0:
        return (float("nan"), float("nan"))
    a = 1 - level
    lo = 0.0 if count == 0 else float(beta.ppf(a / 2, count, n - count + 1))
    hi = 1.0 if count == n else float(beta.ppf(1 - a / 2, count + 1, n - count))
    return lo, hi


def cluster_mean_ci(
    values: npt.ArrayLike, clusters: npt.ArrayLike, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean of per-item values with a cluster-robust (sandwich) normal interval: items that
    share a cluster (photos of one person) are not counted as independent evidence."""
    from scipy.stats import norm

    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    _, idx = np.unique(np.asarray(clusters), return_inverse=True)
    m = float(v.mean())
    sums = np.bincount(idx, weights=v)
    sizes = np.bincount(idx)
    c = sizes.size
    var = c / (c - 1) * float(np.sum((sums - m * sizes) ** 2)) / v.size**2 if c > 1 else 0.0
    half = float(norm.ppf(0.5 + level / 2)) * math.sqrt(var)
    return m, max(0.0, m - half), min(1.0, m + half)
