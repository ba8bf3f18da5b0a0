"""A pairwise likelihood ratio, read as what it is worth for a candidate found by a search.

An LR compares two photos. A candidate on a list was found by comparing the probe with
every enrolled person and keeping the best: even if the person sought is certainly enrolled,
the prior odds that it is any one of S enrolled people are at most 1 : (S - 1) (lower when
the person may not be enrolled at all), so the posterior odds are at most LR / (S - 1); and
the top score is the largest of many tries, so high scores among strangers are expected.

The LR is bounded by what each demographic group's own calibration data can support (lir's
ELUB on the group's own pairs, stored by ``fit.group_lr_bounds``); for a group whose data
cannot support any LR, none is stated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadguard.evidence.calibration import describe_lr

if TYPE_CHECKING:
    from leadguard.evidence.model import EvidenceModel


def odds_words(odds: float) -> str:
    if odds >= 1.0:
        return f"about {odds:,.0f} to 1" if odds >= 10 else f"about {odds:.2g} to 1"
    if odds <= 0:
        return "nil"
    against = 1.0 / odds
    return f"about 1 to {against:,.0f}" if against >= 10 else f"about 1 to {against:.2g}"


@dataclass(frozen=True)
class SearchLr:
    llr: tuple[float, float, float] | None  # log10 LR, low, high; None: not supported
    bounds: tuple[float, float] | None
    bounded_by: str  # "group <g>", "all groups (the person's group is not recorded)", ...
    reason: str  # why no LR is stated (when llr is None)
    gallery_subjects: int
    gallery_templates: int
    rank: int = 1  # the candidate's place on its list (1 = the highest score)
    validated_in: tuple[str, ...] = ()  # the sex/race groups it was validated within

    @property
    def prior_odds_upper(self) -> float | None:
        """1 / (S - 1): the odds before any evidence, if the person is surely enrolled."""
        return None if self.gallery_subjects < 2 else 1.0 / (self.gallery_subjects - 1)

    @property
    def posterior_odds_upper(self) -> float | None:
        """At most LR / (S - 1): prior odds 1 : (S - 1) if the person is surely enrolled."""
        if self.llr is None or self.gallery_subjects < 2:
            return None
        return float(10.0 ** self.llr[0] / (self.gallery_subjects - 1))

    def lines(self, worst_fmr: str | None) -> list[str]:
        beside = f" For comparison, at this score {worst_fmr}." if worst_fmr else ""
        if self.llr is None or self.bounds is None:
            out = [f"Likelihood ratio: none shown, because {self.reason}.{beside}"]
            prior = self.prior_words()
            return [*out, prior] if prior else out
        text = (
            "Likelihood ratio (this photo pair alone, bounded by "
            f"{self.bounded_by}): {describe_lr(*self.llr, self.bounds)}.{beside}"
        )
        odds = self.posterior_odds_upper
        if odds is None:
            return [text]
        s, n = self.gallery_subjects, self.gallery_templates
        return [
            text,
            f"This candidate was found by searching {n:,} photos of {s:,} people: even if the "
            f"person sought is certainly among them, the odds that it is this one are at most "
            f"1 to {s - 1:,} before the score, so this likelihood ratio gives odds of at most "
            f"{odds_words(odds)} that this is the person (less if the person may not be "
            f"enrolled at all). {self._rank_words()}",
        ]

    def prior_words(self) -> str | None:
        """The search-aware reading without an LR: the odds before any other evidence."""
        s = self.gallery_subjects
        if s < 2:
            return None
        return (
            f"This candidate was found by searching {self.gallery_templates:,} photos of {s:,} "
            f"people: before any other evidence, and even if the person sought is certainly "
            f"among them, the odds that it is this one are at most 1 to {s - 1:,}. "
            f"{self._rank_words()}"
        )

    def _rank_words(self) -> str:
        n = self.gallery_templates
        if self.rank <= 1:
            return (
                f"The score is also the highest of {n:,} comparisons, so some strangers are "
                "expected to score high by chance."
            )
        higher = self.rank - 1
        who = "person" if higher == 1 else "people"
        return (
            f"This candidate is ranked {self.rank}: {higher:,} {who} on this list scored higher, "
            f"and among {n:,} comparisons some strangers are expected to score high by chance."
        )

    def to_dict(self) -> dict[str, Any]:
        if self.llr is None or self.bounds is None:
            return {
                "log10_likelihood_ratio": None,
                "likelihood_ratio_withheld_because": self.reason,
                "prior_odds_at_most": self.prior_odds_upper,
                "gallery_subjects_searched": self.gallery_subjects,
            }
        return {
            "log10_likelihood_ratio": round(self.llr[0], 3),
            "log10_likelihood_ratio_ci95": [round(self.llr[1], 3), round(self.llr[2], 3)],
            "likelihood_ratio_bounds_log10": [round(b, 3) for b in self.bounds],
            "likelihood_ratio_bounded_by": self.bounded_by,
            "likelihood_ratio_statement": describe_lr(*self.llr, self.bounds),
            "likelihood_ratio_validated_within": list(self.validated_in),
            "prior_odds_at_most": self.prior_odds_upper,
            "posterior_odds_at_most": self.posterior_odds_upper,
            "gallery_subjects_searched": self.gallery_subjects,
        }


def group_bounds(
    model: EvidenceModel, groups: tuple[str, ...]
) -> tuple[tuple[float, float] | None, str, str]:
    """(bounds, bounded_by, reason). Known groups: the tightest of their own ELUB bounds, none
    if any of them cannot support an LR. Unknown groups: the tightest over all groups."""
    pooled = model.lr.bounds
    table: dict[str, Any] = model.meta.get("group_lr") or {}
    if not table:
        return pooled, "all calibration pairs (this model has no per-group bounds)", ""
    if groups:
        for g in groups:
            e = table.get(g)
            if e is not None and e.get("collapsed"):
                return (
                    None,
                    "",
                    f"within {g} the calibrated likelihood ratios were misleading on the group's "
                    "own calibration pairs (its ELUB bounds collapse to 1), so none is stated",
                )
            if e is None or not e.get("supported"):
                m = e.get("mated", 0) if e else 0
                n = e.get("nonmated", 0) if e else 0
                return (
                    None,
                    "",
                    f"the calibration data within {g} ({m:,} mated and {n:,} non-mated pairs) "
                    "cannot support a likelihood ratio for this group",
                )
        chosen = [table[g]["bounds"] for g in groups]
        by = "the calibration data within " + " and ".join(groups)
    else:
        collapsed = sorted(g for g, e in table.items() if e.get("collapsed"))
        if collapsed:
            return (
                None,
                "",
                "the demographic group is not recorded, and within "
                + ", ".join(collapsed)
                + " the calibration data cannot support any likelihood ratio",
            )
        chosen = [e["bounds"] for e in table.values() if e.get("supported")]
        if not chosen:
            return None, "", "no demographic group's calibration data can support one"
        by = "the most limited group (the demographic group is not recorded)"
    lo = max([pooled[0], *(c[0] for c in chosen)])
    hi = min([pooled[1], *(c[1] for c in chosen)])
    return (min(lo, 0.0), max(hi, 0.0)), by, ""


def search_lr(
    model: EvidenceModel,
    score: float,
    groups: tuple[str, ...],
    gallery_subjects: int,
    gallery_templates: int,
    rank: int = 1,
) -> SearchLr:
    bounds, by, reason = group_bounds(model, groups)
    if bounds is None:
        return SearchLr(None, None, "", reason, gallery_subjects, gallery_templates, rank)
    lo, hi = bounds
    raw = model.lr.at(score)
    llr = (
        min(max(raw[0], lo), hi),
        min(max(raw[1], lo), hi),
        min(max(raw[2], lo), hi),
    )
    return SearchLr(llr, bounds, by, "", gallery_subjects, gallery_templates, rank)


def validated_search_lr(
    model: EvidenceModel,
    score: float,
    probe_groups: tuple[str, ...],
    candidate_groups: tuple[str, ...],
    gallery_subjects: int,
    gallery_templates: int,
    rank: int = 1,
) -> SearchLr:
    """The LR a list shows: only where both people's sex/race groups are recorded and the LR
    was validated within each (``lr_validity``); bounded by every recorded group's own
    calibration data. Otherwise none, with the reason."""
    from leadguard.evidence.lr_validity import shown_lr_groups

    checks, reason = shown_lr_groups(model, probe_groups, candidate_groups)
    if reason:
        return SearchLr(None, None, "", reason, gallery_subjects, gallery_templates, rank)
    known = tuple(dict.fromkeys((*probe_groups, *candidate_groups)))
    lr = search_lr(model, score, known, gallery_subjects, gallery_templates, rank)
    names = tuple(c.group for c in checks)
    if lr.llr is None:
        return lr
    by = (
        f"{lr.bounded_by}; validated within {' and '.join(names)} on the evidence model's "
        "held-out people"
    )
    return SearchLr(lr.llr, lr.bounds, by, "", gallery_subjects, gallery_templates, rank, names)
