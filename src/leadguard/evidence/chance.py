"""False match rate at a score, chance matches in a gallery of N, thresholds by gallery size.

For a search of N gallery templates, each non-mated comparison clears a threshold with
probability FMR, so (treating comparisons as independent) the expected number of innocent
people above it is N x FMR and the probability that at least one is 1 - (1 - FMR)^N.
Solving the latter for a target false-positive identification rate gives the FMR a
threshold must reach: FMR = 1 - (1 - FPIR)^(1/N). Independence is an approximation that
the validation in docs/evidence.md must check against measured open-set searches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from leadguard.evaluation.metrics import rate_ci, threshold_at_fmr


def _sorted_finite(nonmated: npt.ArrayLike) -> np.ndarray:
    arr = np.asarray(nonmated, dtype=np.float64)
    return np.sort(arr[np.isfinite(arr)])


@dataclass(frozen=True)
class FmrAtScore:
    """Share of measured non-mated comparisons scoring at least ``score``."""

    score: float
    count: int  # non-mated comparisons at or above the score
    comparisons: int  # non-mated comparisons measured
    ci: tuple[float, float]  # exact 95 % interval of the rate

    @property
    def fmr(self) -> float:
        return self.count / self.comparisons

    @property
    def beyond_measured_range(self) -> bool:
        """No measured non-mated comparison scored this high: only an upper bound is known."""
        return self.count == 0

    def statement(self) -> str:
        if self.beyond_measured_range:
            return (
                f"below 1 in {self.comparisons:,}, the smallest rate we could measure "
                f"(95 % upper bound 1 in {1 / self.ci[1]:,.0f})"
            )
        return (
            f"about 1 in {1 / self.fmr:,.0f} ({self.count:,} of {self.comparisons:,} "
            f"comparisons of different people; 95 % interval 1 in {1 / self.ci[1]:,.0f} to "
            f"1 in {1 / self.ci[0]:,.0f})"
        )


def fmr_at_score(nonmated: npt.ArrayLike, score: float) -> FmrAtScore:
    s = _sorted_finite(nonmated)
    if s.size == 0:
        raise ValueError("no non-mated scores: the false match rate cannot be stated")
    count = int(s.size - np.searchsorted(s, score, side="left"))
    return FmrAtScore(score, count, int(s.size), rate_ci(count, int(s.size)))


def p_at_least_one(fmr: float, gallery_size: int) -> float:
    """1 - (1 - FMR)^N, computed without losing precision for tiny FMR or huge N."""
    if not 0.0 <= fmr <= 1.0:
        raise ValueError(f"FMR must be within [0, 1], got {fmr}")
    if fmr == 1.0:
        return 1.0 if gallery_size > 0 else 0.0
    return -math.expm1(gallery_size * math.log1p(-fmr))


@dataclass(frozen=True)
class ChanceMatches:
    """Innocent people expected to score at least this high in a gallery of this size."""

    gallery_size: int
    fmr: float
    fmr_upper: float  # the upper end of the FMR interval

    @property
    def expected(self) -> float:
        return self.gallery_size * self.fmr

    @property
    def expected_upper(self) -> float:
        return self.gallery_size * self.fmr_upper

    @property
    def p_at_least_one(self) -> float:
        return p_at_least_one(self.fmr, self.gallery_size)

    @property
    def p_at_least_one_upper(self) -> float:
        return p_at_least_one(self.fmr_upper, self.gallery_size)


def chance_matches(at: FmrAtScore, gallery_size: int) -> ChanceMatches:
    if gallery_size < 0:
        raise ValueError("gallery size cannot be negative")
    return ChanceMatches(gallery_size, at.fmr, at.ci[1])


def fmr_for_fpir(fpir: float, gallery_size: int) -> float:
    """The per-comparison FMR at which a search of N templates returns anyone with
    probability ``fpir``: 1 - (1 - FPIR)^(1/N)."""
    if not 0.0 < fpir < 1.0:
        raise ValueError(f"target FPIR must be within (0, 1), got {fpir}")
    if gallery_size < 1:
        raise ValueError("gallery size must be at least 1")
    return -math.expm1(math.log1p(-fpir) / gallery_size)


@dataclass(frozen=True)
class GalleryThreshold:
    target_fpir: float
    gallery_size: int
    fmr_needed: float
    threshold: float
    comparisons: int
    measurable: bool  # enough non-mated comparisons to observe an FMR this small

    def statement(self) -> str:
        if self.measurable:
            return (
                f"threshold {self.threshold:.4f}: set so that about {self.target_fpir:g} of "
                f"searches for people not enrolled in a gallery of {self.gallery_size:,} "
                "return anyone above it"
            )
        return (
            f"threshold {self.threshold:.4f} is above every one of the {self.comparisons:,} "
            f"measured non-mated scores, but the FMR this gallery needs "
            f"({self.fmr_needed:.2g}) is smaller than 1 in {self.comparisons:,}: the target "
            "FPIR cannot be verified with the measurements held"
        )


def threshold_for_gallery(
    nonmated: npt.ArrayLike, target_fpir: float, gallery_size: int
) -> GalleryThreshold:
    """The open-set threshold for a gallery of this size, read from measured scores."""
    s = _sorted_finite(nonmated)
    if s.size == 0:
        raise ValueError("no non-mated scores: no threshold can be chosen")
    need = fmr_for_fpir(target_fpir, gallery_size)
    t = threshold_at_fmr(s, need)
    return GalleryThreshold(
        target_fpir, gallery_size, need, t, int(s.size), measurable=bool(s.size * need >= 1.0)
    )
