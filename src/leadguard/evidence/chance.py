"""False match rate at a score, chance matches in a gallery of N, thresholds by gallery size.

For a search of N gallery templates, each non-mated comparison clears a threshold with
probability FMR, so (treating comparisons as independent) the expected number of innocent
people above it is N x FMR and the probability that at least one is 1 - (1 - FMR)^N.
Solving the latter for a target false-positive identification rate gives the FMR a
threshold must reach: FMR = 1 - (1 - FPIR)^(1/N).

Independence overstates how often a search returns anyone: some probes resemble many
strangers and most resemble none. The open-set threshold is therefore chosen from the
per-probe model in ``distribution.ProbeTails``; docs/evidence.md compares both with
measured open-set searches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from leadguard.core.rate_words import interval_words, rate_words
from leadguard.evaluation.metrics import rate_ci
from leadguard.evidence.distribution import ProbeTails, ScoreHistogram, edge_at_or_above


def _histogram(nonmated: ScoreHistogram | npt.ArrayLike) -> ScoreHistogram:
    return nonmated if isinstance(nonmated, ScoreHistogram) else ScoreHistogram.of(nonmated)


INFORMATIVE_BOUND = 0.01  # bounds above 1 % (and five times the lower end) say nothing
WIDE = 5.0  # an interval above 1 % whose ends differ by more than this factor says nothing


def uninformative(point: float, upper: float, lower: float | None = None) -> bool:
    """An interval that carries no information: its upper end above ``INFORMATIVE_BOUND``
    and more than ``WIDE`` times its lower end (0 of 710 pairs, about 3 independent ones: "up
    to 70.8 %"; 1 of about 3: "4.9 % to 97 %"), or, where no lower end is given, more than
    ten times the estimate. It is said in words, never printed as a figure. A measured rate
    with a tight interval (3.4 %, 95 % interval 2.8 % to 4.0 %) is informative however high
    it is."""
    if upper <= INFORMATIVE_BOUND:
        return False
    if lower is None:
        return upper > 10 * point
    return upper > WIDE * lower


@dataclass(frozen=True)
class FmrAtScore:
    """Share of measured non-mated comparisons scoring at least ``score``."""

    score: float
    count: int  # non-mated comparisons at or above the score
    comparisons: int  # non-mated comparisons measured
    ci: tuple[float, float]  # 95 % interval of the rate
    design_effect: float = 1.0  # the interval is as wide as for comparisons / design_effect

    @property
    def fmr(self) -> float:
        return self.count / self.comparisons

    @property
    def beyond_measured_range(self) -> bool:
        """No measured non-mated comparison scored this high: only an upper bound is known."""
        return self.count == 0

    @property
    def informative(self) -> bool:
        """Its upper bound says something (``uninformative``)."""
        return not uninformative(self.fmr, self.ci[1], self.ci[0])

    def statement(self) -> str:
        eff = self.comparisons / self.design_effect
        if not self.informative:
            found = "none" if self.beyond_measured_range else f"{self.count:,}"
            return (
                f"not measured well enough at this score to be given as a figure ({found} of "
                f"{self.comparisons:,} comparisons of different people, about {eff:,.0f} "
                f"independent ones, scored this high: too few to show that the rate is below "
                f"{INFORMATIVE_BOUND:.0%})"
            )
        if self.beyond_measured_range:
            return (
                f"below 1 in {self.comparisons:,}, the smallest rate we could measure "
                f"(95 % upper bound {rate_words(self.ci[1])})"
            )
        return (
            f"about {rate_words(self.fmr)} ({self.count:,} of {self.comparisons:,} comparisons "
            f"of different people; 95 % interval {interval_words(*self.ci)})"
        )


def share_words(share: float) -> str:
    """A target share in words: "1 in 100" for 0.01, "5 in 100" for 0.05, else a percent."""
    per100 = share * 100
    if per100 >= 1 and abs(per100 - round(per100)) < 1e-9:
        return f"{round(per100)} in 100"
    per1000 = share * 1000
    if abs(per1000 - round(per1000)) < 1e-9 and round(per1000) >= 1:
        return f"{round(per1000)} in 1,000"
    if share < 0.001:  # never "0.00% of"
        return rate_words(share)
    return f"{share:.2%} of"


def fmr_at_score(
    nonmated: ScoreHistogram | npt.ArrayLike, score: float, design_effect: float = 1.0
) -> FmrAtScore:
    """FMR at a score with a Clopper-Pearson interval on the effective number of
    comparisons (comparisons / design effect; 1 = comparisons treated as independent)."""
    h = _histogram(nonmated)
    if h.comparisons == 0:
        raise ValueError("no non-mated scores: the false match rate cannot be stated")
    if design_effect < 1.0:
        raise ValueError(f"a design effect is at least 1, got {design_effect}")
    count = h.at_least(score)
    ci = rate_ci(count / design_effect, h.comparisons / design_effect)
    return FmrAtScore(score, count, h.comparisons, ci, design_effect)


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
    fmr_lower: float | None = None  # its lower end (``uninformative``)

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

    def words(self) -> str:
        """The expected number and the chance of at least one, in plain words; the upper
        ends only where the FMR's own bound is informative."""
        bounded = not uninformative(self.fmr, self.fmr_upper, self.fmr_lower)
        if self.fmr == 0.0 and bounded:
            return (
                f"at most {self.expected_upper:.3g} photos of innocent people are expected to "
                "score this high (95 % bound: no measured comparison of different people did), "
                "and the "
                f"chance that at least one does is at most {rate_words(self.p_at_least_one_upper)}"
            )
        # photos, not people: N counts the gallery's templates (a person may have several)
        text = f"about {self.expected:.3g} photos of innocent people"
        # an upper end that reads as the figure itself ("100.0% (up to 100.0%)") says nothing
        if bounded and f"{self.expected_upper:.3g}" != f"{self.expected:.3g}":
            text += f" (up to {self.expected_upper:.3g})"
        chance, upper = rate_words(self.p_at_least_one), rate_words(self.p_at_least_one_upper)
        text += " are expected to score this high; the chance that at least one does is " + chance
        if bounded and upper != chance:
            text += f" (up to {upper})"
        return text


def chance_matches(at: FmrAtScore, gallery_size: int) -> ChanceMatches:
    if gallery_size < 0:
        raise ValueError("gallery size cannot be negative")
    return ChanceMatches(gallery_size, at.fmr, at.ci[1], at.ci[0])


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
    """The open-set threshold for one gallery size, and what it is expected to do."""

    target_fpir: float
    gallery_size: int
    threshold: float
    predicted_fpir: float
    fmr: FmrAtScore  # the pooled FMR at the threshold
    fmr_needed_if_independent: float  # 1 - (1 - FPIR)^(1/N)
    method: str = "per-probe"  # or "pooled" for galleries beyond the per-probe measurements
    binding_group: str | None = None  # the group whose own rate raised the threshold
    base_threshold: float | None = None  # the threshold for the average probe, if raised
    # the threshold the gallery's shift check compared its own strangers with, where it raised
    # the threshold further (evidence.for_search); its group: ``shift_group``
    shift_from: float | None = None
    shift_group: str | None = None

    @property
    def measurable(self) -> bool:
        """At least one measured non-mated comparison reached the threshold."""
        return not self.fmr.beyond_measured_range

    def statement(self) -> str:
        grouped = self.binding_group is not None and self.base_threshold is not None
        base = next(
            t
            for t in (self.base_threshold if grouped else None, self.shift_from, self.threshold)
            if t is not None
        )
        # the target is met at the base threshold; each raise moves past it and says why
        text = f"threshold {self.threshold:.4f}, " + (
            f"raised from {base:.4f}, the threshold set" if base != self.threshold else "set"
        )
        text += (
            f" so that about {share_words(self.target_fpir)} searches for people who are not "
            f"enrolled return anyone from a gallery of {self.gallery_size:,} templates"
        )
        # an unverifiable threshold prints no predicted rate (it would read 0); a group raise
        # moves the prediction (said with it), the shift check leaves it at what it was
        if self.measurable and not grouped:
            text += f" (predicted share: {self.predicted_fpir:.3g})"
        if self.method == "pooled":
            text += (
                "; the gallery is larger than the number of strangers each calibration probe "
                "was compared with, so the threshold comes from the pooled false match rate, "
                "treating comparisons as independent (this overstates chance candidates)"
            )
        if grouped:
            to = self.shift_from if self.shift_from is not None else self.threshold
            text += (
                f"; then to {to:.4f}, because strangers within {self.binding_group} reached "
                f"{base:.4f} more often than strangers on average: at {to:.4f} they are no more "
                f"frequent than the average stranger at {base:.4f} (the worst_group_threshold "
                "setting; the group whose rate may be highest at the listed scores can be "
                "another)"
            )
            if self.measurable:
                text += (
                    "; predicted share of such searches returning anyone, for the average "
                    f"probe: {self.predicted_fpir:.3g}"
                )
        if self.shift_from is not None:
            # the raise from the base is this one alone, or the second after the group's
            step = "then to" if grouped else "raised to"
            text += (
                f"; {step} {self.threshold:.4f}, where this gallery's own strangers "
                f"({self.shift_group}) reach it no more often than the model's stated rate at "
                f"{self.shift_from:.4f} (the gallery's shift check, not the "
                "worst_group_threshold setting)"
            )
        if not self.measurable:
            text += (
                f"; no measured non-mated comparison reached it, so the rate is known only to "
                f"be below 1 in {self.fmr.comparisons:,} and the target cannot be verified"
            )
        return text


def threshold_for_gallery(
    tails: ProbeTails, nonmated: ScoreHistogram, target_fpir: float, gallery_size: int
) -> GalleryThreshold:
    """The open-set threshold for a gallery of this size, read from measured scores.

    Up to the number of strangers each calibration probe was compared with, the per-probe
    model (validated in docs/evidence.md); beyond it a probe's own rate cannot be resolved,
    so the pooled FMR with independence, which errs towards a higher threshold."""
    if gallery_size < 1:
        raise ValueError("gallery size must be at least 1")
    need = fmr_for_fpir(target_fpir, gallery_size)
    if gallery_size <= float(np.median(tails.comparisons)):
        t = edge_at_or_above(tails.threshold_for_fpir(target_fpir, gallery_size))
        at = fmr_at_score(nonmated, t)
        return GalleryThreshold(target_fpir, gallery_size, t, tails.fpir(t, gallery_size), at, need)
    t = nonmated.threshold_for_fmr(need)
    at = fmr_at_score(nonmated, t)
    predicted = p_at_least_one(at.fmr, gallery_size)
    return GalleryThreshold(target_fpir, gallery_size, t, predicted, at, need, "pooled")
