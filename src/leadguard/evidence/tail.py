"""The per-search open-set statement: what this probe's own stranger scores say.

An exact search scores the probe against every enrolled subject. If the probe's person is
not enrolled, every one of those scores is a stranger's; if they are, all but one (or a few,
where a person is enrolled under more than one id) still are. So the upper tail of the
probe's own scores describes how high strangers reach *for this probe, in this gallery*: a
blurry or generic probe that many strangers resemble gets a heavier tail, and weaker
statements, with no demographic label needed.

Method (peaks over threshold, the classical extreme-value method; Pickands 1975,
Balkema and de Haan 1974; Coles 2001, ch. 4):

- The scores are the best score of each subject searched (one per subject, as the list).
  Of the ``n`` subjects, the top ``k + EXCLUDED_TOP`` scores form the tail; the next score is
  the tail's threshold ``u`` and the tail share is ``zeta = (k + EXCLUDED_TOP) / n``, with
  ``k = clip(max(TAIL_SHARE * n, min(PRECISE_EXCEEDANCES, MAX_TAIL_SHARE * n)),
  MIN_EXCEEDANCES, MAX_EXCEEDANCES)``: a tenth of the subjects, but in a gallery of under
  1,000 subjects up to 100 scores (never more than a fifth of them), because a tail fitted on
  50 scores gives each search a noisy threshold that costs mates at every FPIR (measured on
  BLUFR's held-out people, docs/evidence.md), while a fifth of the scores stays in the tail.
- The ``EXCLUDED_TOP`` best scores may be the person sought (or the same person under another
  id). Their values are not used; they are treated as *censored*: known only to be at least
  the highest score that is used. Under the hypothesis that the person is not enrolled this
  is true, so the fit stays honest, and a true mate's high score cannot inflate the tail.
- Scores are fitted on Fisher's z scale, ``atanh(score)`` (as the likelihood ratios are):
  a cosine similarity cannot exceed 1, and a tail whose density falls as a power of the
  distance to 1 becomes, on this scale, an exponential tail, the shape-0 case below. On the
  raw scale an exponential tail reaching past 1 makes every statement needlessly weak in a
  gallery of a few hundred people (measured: mates at 0.98 with dlib got p near 0.1).
- The excesses ``y = z - u`` are fitted by maximum likelihood with a generalized Pareto
  distribution ``P(Y > y) = (1 + shape * y / scale) ** (-1 / shape)`` whose **shape is
  constrained to be at least 0**. A negative shape gives the tail an end point; fitted to
  a few hundred strangers it typically ends just above the highest of them, and so says that
  no stranger can ever score higher than one already seen: far too confident (a first check
  on held-out booking-photo searches found the unconstrained fit badly anti-conservative).
  Cosine similarities are bounded, so the true tail does end; a tail that cannot end
  (shape >= 0; at 0, the exponential tail) overstates the far tail, which is the safe side
  for a statement about innocent people. ``exponential=True`` fixes the shape at 0.
- Per comparison, ``q(s) = zeta * P(Y >= atanh(s) - u)``; for the search, treating the ``n``
  subjects as independent tries, ``p(s) = 1 - (1 - q(s)) ** n``: the probability that a
  search of this probe in this gallery puts at least one stranger at ``s`` or above if the
  probe's person is not enrolled. Under that hypothesis the top candidate's ``p`` is close
  to uniform when the fit is right, and conservative (larger) where the tail is bounded.

The fit is refused, with the reason, when too few subjects were searched
(``MIN_SUBJECTS``), or the tail is degenerate (too few distinct scores, no spread, or the
likelihood cannot be maximised), or its threshold for the target runs to the end of the
score scale (``SCALE_END``: a small gallery's 25 tail scores fitted with a large shape once
put it at 1.0000, and a mate at 0.65, above the gallery-size threshold, was hidden). The
caller then falls back to the fixed gallery-size threshold and says so. The
Meta-Recognition Weibull predictor (Scheirer et al., TPAMI 2011) is not used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

EXCLUDED_TOP = 3  # best subjects whose scores are censored (the mate, or a duplicate id)
TAIL_SHARE = 0.10  # share of the subjects searched whose scores form the fitted tail
PRECISE_EXCEEDANCES = 100  # scores wanted for a steady fit, where MAX_TAIL_SHARE allows them
MAX_TAIL_SHARE = 0.20  # largest share of the subjects taken to reach PRECISE_EXCEEDANCES
MIN_EXCEEDANCES = 25  # fewest scores a tail is fitted on
MAX_EXCEEDANCES = 250  # most (beyond, only the extreme matters and the cost grows)
MIN_SUBJECTS = 100  # fewer subjects searched: no fit (too few stranger scores)
MIN_DISTINCT = 10  # fewer distinct tail scores: the tail is degenerate
MIN_SPREAD = 1e-6  # tail scores spread over less than this: degenerate
MAX_SHAPE = 1.0  # shapes above 1 (infinite mean) are not credible for bounded scores
FISHER_Z = "fisher-z"  # fit atanh(score): a cosine's bound at 1 becomes an unbounded tail
IDENTITY = "identity"  # fit the scores as they are (constructed tails in tests)
_EDGE = 1.0 - 1e-9
# a per-search threshold at or above this prints as 1.0000: the fit is refused (decide)
SCALE_END = 0.99995


def to_fit_scale(x: np.ndarray | float, transform: str) -> np.ndarray:
    if transform == IDENTITY:
        return np.asarray(x, dtype=np.float64)
    return np.arctanh(np.clip(np.asarray(x, dtype=np.float64), -_EDGE, _EDGE))


def from_fit_scale(z: float, transform: str) -> float:
    return float(z) if transform == IDENTITY else float(np.tanh(z))


def exceedances(subjects: int) -> int:
    """How many scores below the censored top ones the tail is fitted on."""
    wanted = max(
        math.ceil(TAIL_SHARE * subjects),
        min(PRECISE_EXCEEDANCES, math.floor(MAX_TAIL_SHARE * subjects)),
    )
    return int(min(MAX_EXCEEDANCES, max(MIN_EXCEEDANCES, wanted)))


def scores_needed(subjects: int) -> int:
    """Best-per-subject scores a fit needs: the censored top, the tail, and its threshold."""
    return min(subjects, EXCLUDED_TOP + exceedances(subjects) + 1)


@dataclass(frozen=True)
class TailFit:
    """A fitted upper tail of one probe's stranger scores in one gallery."""

    subjects: int  # subjects searched: the tries, and the tail share's denominator
    threshold: float  # u: scores above it form the tail
    scale: float
    shape: float  # >= 0
    used: int  # tail scores whose values were used
    censored: int  # the top scores known only to be at least ``censored_at``
    censored_at: float
    exponential_only: bool = False  # the shape was fixed at 0 by the caller
    transform: str = FISHER_Z  # the scale the tail was fitted on; threshold etc. are on it

    @property
    def method(self) -> str:
        if self.exponential_only:
            return "exponential tail (shape fixed at 0)"
        return f"generalized Pareto tail, shape constrained >= 0, fitted {self.shape:.3f}"

    @property
    def tail_share(self) -> float:
        return (self.used + self.censored) / self.subjects

    def comparison_rate(self, score: float) -> float:
        """q(s): the share of this probe's strangers expected at ``score`` or above."""
        y = max(0.0, float(to_fit_scale(score, self.transform)) - self.threshold)
        if self.shape < 1e-9:
            surv = math.exp(-y / self.scale)
        else:
            surv = (1.0 + self.shape * y / self.scale) ** (-1.0 / self.shape)
        return self.tail_share * surv

    def search_p(self, score: float) -> float:
        """p(s) = 1 - (1 - q(s))^n: a search of this probe in this gallery puts a stranger at
        ``score`` or above, if the probe's person is not enrolled."""
        q = min(1.0, self.comparison_rate(score))
        if q >= 1.0:
            return 1.0
        return -math.expm1(self.subjects * math.log1p(-q))

    def score_for(self, p: float) -> float:
        """The lowest score whose search probability is at most ``p`` (the per-search
        threshold for a target FPIR ``p``)."""
        if not 0.0 < p < 1.0:
            raise ValueError(f"a probability within (0, 1) is needed, got {p}")
        q = -math.expm1(math.log1p(-p) / self.subjects)
        ratio = q / self.tail_share
        if ratio >= 1.0:
            return from_fit_scale(self.threshold, self.transform)
        if self.shape < 1e-9:
            z = self.threshold - self.scale * math.log(ratio)
        else:
            z = self.threshold + self.scale / self.shape * (ratio ** (-self.shape) - 1.0)
        return from_fit_scale(z, self.transform)

    @property
    def tail_start(self) -> float:
        """The tail's threshold as a score."""
        return from_fit_scale(self.threshold, self.transform)

    def statement(self) -> str:
        on = " on Fisher's z scale, atanh(score)" if self.transform == FISHER_Z else ""
        return (
            f"fitted on this probe's own scores{on}: {self.method}, on the {self.used:,} "
            f"best-per-subject scores above {self.tail_start:.4f} among the "
            f"{self.subjects:,} subjects searched, the top {self.censored} counted only as "
            f"at least {self.censored_at:.4f}, since they may be the person sought"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "fitted": True,
            "method": "exponential" if self.exponential_only else "gpd_shape_ge_0",
            "fitted_on": "atanh(score)" if self.transform == FISHER_Z else "score",
            "subjects_searched": self.subjects,
            "tail_threshold": self.threshold,
            "tail_threshold_score": self.tail_start,
            "scale": self.scale,
            "shape": self.shape,
            "tail_scores_used": self.used,
            "top_scores_censored": self.censored,
            "censored_at": self.censored_at,
            "statement": self.statement(),
        }


@dataclass(frozen=True)
class TailRefused:
    """No per-search fit: why, in words a list can print."""

    reason: str
    subjects: int

    def to_dict(self) -> dict[str, Any]:
        return {"fitted": False, "subjects_searched": self.subjects, "reason": self.reason}


def fit_tail(
    top_scores: Sequence[float] | np.ndarray,
    subjects: int,
    exponential: bool = False,
    transform: str = FISHER_Z,
) -> TailFit | TailRefused:
    """Fit the upper tail of one probe's stranger scores.

    ``top_scores``: the probe's best score per subject for (at least) the
    ``scores_needed(subjects)`` best subjects, in any order; ``subjects``: how many subjects
    were searched."""
    x = np.sort(np.asarray(top_scores, dtype=np.float64))[::-1]
    if subjects < MIN_SUBJECTS:
        return TailRefused(
            f"only {subjects:,} subjects were searched; a per-search fit needs the scores of "
            f"at least {MIN_SUBJECTS:,}",
            subjects,
        )
    need = scores_needed(subjects)
    if x.size < need or not np.isfinite(x[:need]).all():
        return TailRefused(
            f"{x.size:,} usable scores were given where the fit needs {need:,}", subjects
        )
    k = need - EXCLUDED_TOP - 1
    z = to_fit_scale(x[:need], transform)
    u = float(z[need - 1])
    kept = z[EXCLUDED_TOP : EXCLUDED_TOP + k]
    y = kept - u
    distinct = int(np.unique(kept).size)
    if distinct < MIN_DISTINCT or float(y.max()) < MIN_SPREAD:
        return TailRefused(
            f"the probe's tail is degenerate ({distinct} distinct scores among the {k} best, "
            f"spread {float(y.max()):.2g}): no tail can be fitted",
            subjects,
        )
    yc = float(kept[0] - u)  # the censored top scores are at least the highest kept one
    fitted = _fit_gpd(y, EXCLUDED_TOP, yc, exponential)
    if fitted is None:
        return TailRefused("the tail likelihood could not be maximised", subjects)
    scale, shape = fitted
    top_kept = float(x[EXCLUDED_TOP])
    return TailFit(subjects, u, scale, shape, k, EXCLUDED_TOP, top_kept, exponential, transform)


def _profile(y: np.ndarray, censored: int, yc: float, tau: np.ndarray) -> tuple[np.ndarray, ...]:
    """The profile log-likelihood over tau = shape / scale (Grimshaw's reparameterisation):
    for a given tau the shape's MLE is closed-form, (A + c B) / k with A = sum log(1 + tau y)
    and B = log(1 + tau yc) for the ``c`` censored excesses."""
    k = y.size
    a = np.log1p(np.multiply.outer(tau, y)).sum(axis=-1)
    b = np.log1p(tau * yc)
    shape = (a + censored * b) / k
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = -k * np.log(shape) + k * np.log(tau) - k - a
    return ll, shape


def _fit_gpd(
    y: np.ndarray, censored: int, yc: float, exponential: bool
) -> tuple[float, float] | None:
    """Maximum-likelihood (scale, shape) with 0 <= shape <= MAX_SHAPE; the shape-0 limit is
    the exponential tail, whose scale is closed-form."""
    k = y.size
    exp_scale = float((y.sum() + censored * yc) / k)
    if not exp_scale > 0:
        return None
    if exponential:
        return exp_scale, 0.0
    best_ll, best = -k * math.log(exp_scale) - k, (exp_scale, 0.0)
    tau = np.geomspace(1e-4, 1e4, 801) / exp_scale
    ll, shape = _profile(y, censored, yc, tau)
    ok = np.isfinite(ll) & (shape > 0) & (shape <= MAX_SHAPE)
    if ok.any():
        i = int(np.flatnonzero(ok)[np.argmax(ll[ok])])
        lo, hi = tau[max(i - 1, 0)], tau[min(i + 1, tau.size - 1)]
        fine = np.geomspace(lo, hi, 201)  # refine between the neighbours of the grid's best
        fll, fshape = _profile(y, censored, yc, fine)
        fok = np.isfinite(fll) & (fshape > 0) & (fshape <= MAX_SHAPE)
        if fok.any():
            j = int(np.flatnonzero(fok)[np.argmax(fll[fok])])
            if fll[j] > best_ll:
                best_ll, best = float(fll[j]), (float(fshape[j] / fine[j]), float(fshape[j]))
    if not (math.isfinite(best[0]) and best[0] > 0):
        return None
    return best


def p_words(p: float) -> str:
    """A search probability as a list prints it: extrapolations far below what one search's
    scores can check are bounded, not quoted; a chance short of certain never reads 100.0%."""
    if 0.995 <= p < 1.0:
        return "over 99.5%"
    if p >= 0.01:
        return f"{p:.1%}"
    if p >= 1e-4:
        return f"1 in {float(f'{1 / p:.3g}'):,.0f}"
    return "below 1 in 10,000, extrapolated from the fitted tail"


@dataclass(frozen=True)
class OpenSetDecision:
    """Which score a search lists from, and why: the per-search fit's threshold for the
    target FPIR, never below the fixed gallery-size threshold (the floor), which is also the
    fallback when the fit is refused."""

    target_fpir: float
    floor: float | None  # the gallery-size threshold; None in investigation mode
    fit: TailFit | TailRefused

    @property
    def fitted(self) -> bool:
        return isinstance(self.fit, TailFit)

    @property
    def per_search_threshold(self) -> float | None:
        return self.fit.score_for(self.target_fpir) if isinstance(self.fit, TailFit) else None

    @property
    def listing_threshold(self) -> float | None:
        own = self.per_search_threshold
        if self.floor is None:
            return None
        return self.floor if own is None else max(self.floor, own)

    @property
    def basis(self) -> str:
        """The basis: "per-search" (the fit set the score), "floor" (the fit's score was lower),
        "fallback" (no fit), or "investigation" (no threshold)."""
        if self.floor is None:
            return "investigation"
        own = self.per_search_threshold
        if own is None:
            return "fallback"
        return "per-search" if own > self.floor else "floor"

    def p(self, score: float) -> float | None:
        return self.fit.search_p(score) if isinstance(self.fit, TailFit) else None

    def statement(self) -> str:
        fit = self.fit
        if isinstance(fit, TailRefused):
            text = f"no per-search open-set fit: {fit.reason}"
            if self.floor is not None:
                text += (
                    f"; candidates are listed at the fixed gallery-size threshold "
                    f"{self.floor:.4f} alone, without this probe's own tail"
                )
            return text
        own = fit.score_for(self.target_fpir)
        text = (
            f"per-search open-set threshold {own:.4f}: the score a stranger reaches in a search "
            f"of this probe in this gallery with probability {self.target_fpir:g} if the "
            f"probe's person is not enrolled; {fit.statement()}"
        )
        if self.basis == "per-search":
            text += f"; it is above the gallery-size threshold {self.floor:.4f} and is used"
        elif self.basis == "floor":
            text += (
                f"; the gallery-size threshold {self.floor:.4f} is higher and is used as the "
                "floor (never listed below it)"
            )
        return text

    def candidate_line(self, score: float) -> str | None:
        p = self.p(score)
        if p is None:
            return None
        return (
            f"If the person in the probe is not enrolled, a search of this probe in this "
            f"gallery of {self.fit.subjects:,} subjects puts at least one stranger at this score "
            f"or higher with probability {p_words(p)}; this is read from this probe's own "
            "scores against the gallery."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_fpir": self.target_fpir,
            "gallery_size_threshold": self.floor,
            "per_search_threshold": self.per_search_threshold,
            "listing_threshold": self.listing_threshold,
            "basis": self.basis,
            "fit": self.fit.to_dict(),
            "statement": self.statement(),
        }


def runs_off_scale(fit: TailFit, own: float) -> bool:
    """A per-search threshold at the end of the score scale from a short tail: too few
    scores (fewer than ``PRECISE_EXCEEDANCES``) to extrapolate so far, so the fit is refused
    and the floor lists. From a long tail the same threshold is the fit's finding, that this
    probe is too generic to list anyone (measured on utkface64: refusing those too raised the
    share of stranger searches listing someone at target 1 % from 8.2 % to 9.5 %)."""
    return own >= SCALE_END and fit.used < PRECISE_EXCEEDANCES


def decide(
    top_scores: Sequence[float] | np.ndarray,
    subjects: int,
    target_fpir: float,
    floor: float | None,
    exponential: bool = False,
    transform: str = FISHER_Z,
) -> OpenSetDecision:
    """Fit this probe's tail and decide the score the list starts from."""
    fit = fit_tail(top_scores, subjects, exponential, transform)
    # in open-set mode a threshold nobody can reach hides every candidate, mates too (in
    # investigation mode nothing is hidden: the fit's weak statements stand)
    if isinstance(fit, TailFit) and floor is not None:
        own = fit.score_for(target_fpir)
        if runs_off_scale(fit, own):
            fit = TailRefused(
                f"the tail fitted on only {fit.used:,} of this probe's scores ({fit.method}) "
                f"puts the score a stranger reaches with probability {target_fpir:g} at "
                f"{own:.6f}, the "
                "end of the score scale, where nobody could be listed: too few scores to "
                "extrapolate that far",
                subjects,
            )
    return OpenSetDecision(target_fpir, floor, fit)
