"""Score -> calibrated likelihood ratio, with an interval, using the NFI's ``lir`` package.

The cosine score is mapped through Fisher's z (atanh), which makes the mated and non-mated
distributions close to normal, then calibrated by lir's logistic-regression calibrator and
bounded by lir's empirical lower and upper bounds (ELUB: no LR stronger than the
calibration data can support). The interval is the 2.5-97.5 % range of the log10 LR over
bootstrap refits of the calibrator on resampled calibration pairs. The result is stored as a
table over a score grid, so a search needs neither lir nor the calibration data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

GRID = np.round(np.arange(-0.2, 1.0 + 1e-9, 0.001), 3)
CLIP = 0.9999


def fisher_z(scores: npt.ArrayLike) -> np.ndarray:
    return np.arctanh(np.clip(np.asarray(scores, dtype=np.float64), -CLIP, CLIP))


def _fit_llr(
    mated: np.ndarray, nonmated: np.ndarray, at: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """log10 LRs at ``at`` from a calibrator fitted on these pairs, and at the pairs."""
    from lir.algorithms.logistic_regression import LogitCalibrator

    x = fisher_z(np.concatenate([mated, nonmated]))
    y = np.concatenate([np.ones(mated.size, dtype=int), np.zeros(nonmated.size, dtype=int)])
    cal = LogitCalibrator().fit(x, y)
    return cal.transform(fisher_z(at)), cal.transform(x)


@dataclass(frozen=True)
class LrTable:
    """log10 likelihood ratios over a score grid: point, interval, and the ELUB bounds."""

    grid: np.ndarray
    llr: np.ndarray
    low: np.ndarray
    high: np.ndarray
    bounds: tuple[float, float]
    mated_pairs: int
    nonmated_pairs: int
    bootstraps: int

    def at(self, score: float) -> tuple[float, float, float]:
        """(log10 LR, low, high) at a score, each within the ELUB bounds."""
        lo_b, hi_b = self.bounds
        vals = (np.interp(score, self.grid, arr) for arr in (self.llr, self.low, self.high))
        a, b, c = (float(np.clip(v, lo_b, hi_b)) for v in vals)
        return a, b, c

    def transform(self, scores: npt.ArrayLike) -> np.ndarray:
        arr = np.asarray(scores, dtype=np.float64)
        return np.clip(np.interp(arr, self.grid, self.llr), *self.bounds)


def fit_lr_table(
    mated: npt.ArrayLike,
    nonmated: npt.ArrayLike,
    bootstraps: int = 200,
    seed: int = 0,
) -> LrTable:
    """Fit on calibration pairs only (never on the pairs that will report its quality)."""
    from lir.algorithms.bayeserror import elub

    gen = np.asarray(mated, dtype=np.float64)
    imp = np.asarray(nonmated, dtype=np.float64)
    gen, imp = gen[np.isfinite(gen)], imp[np.isfinite(imp)]
    if gen.size < 10 or imp.size < 10:
        raise ValueError(
            f"too few calibration pairs to fit likelihood ratios ({gen.size} mated, "
            f"{imp.size} non-mated; at least 10 of each)"
        )
    llr, llr_pairs = _fit_llr(gen, imp, GRID)
    labels = np.concatenate([np.ones(gen.size), np.zeros(imp.size)])
    lo_b, hi_b = elub(llr_pairs.copy(), labels)
    rng = np.random.default_rng(seed)
    boot = np.empty((bootstraps, GRID.size))
    for b in range(bootstraps):
        g = gen[rng.integers(0, gen.size, gen.size)]
        i = imp[rng.integers(0, imp.size, imp.size)]
        boot[b] = _fit_llr(g, i, GRID)[0]
    low, high = np.percentile(boot, [2.5, 97.5], axis=0) if bootstraps else (llr, llr)
    return LrTable(
        GRID.copy(), llr, low, high, (float(lo_b), float(hi_b)), gen.size, imp.size, bootstraps
    )


def describe_lr(llr: float, low: float, high: float, bounds: tuple[float, float]) -> str:
    """Plain words for a likelihood ratio and its interval."""

    def ratio(x: float) -> str:
        v = 10.0**x
        return f"{v:,.0f}" if v >= 10 else f"{v:.2g}"

    def interval(a: float, b: float) -> str:
        ra, rb = ratio(a), ratio(b)  # "18,197 to 18,197" read as a range: say what it is
        if ra != rb:
            return f" (95 % interval {ra} to {rb})"
        return "" if at_bound else f" (95 % interval: {ra} in every bootstrap resample)"

    at_bound = " (the largest the calibration data can support)" if llr >= bounds[1] else ""
    if llr <= bounds[0]:
        return (
            f"the score is at least {ratio(-llr)} times more likely if they show different "
            "people than if they show the same person (the strongest such figure the "
            "calibration data can support)"
        )
    if llr >= 0:
        return (
            f"the score is about {ratio(llr)} times more likely if the probe and this photo "
            f"show the same person than if they show different people{at_bound}"
            f"{interval(low, high)}"
        )
    return (
        f"the score is about {ratio(-llr)} times more likely if they show different people "
        f"than if they show the same person{interval(-high, -low)}"
    )
