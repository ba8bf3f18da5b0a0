"""What a candidate's score is worth, in numbers and plain words, for the gallery searched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from leadguard.evidence.calibration import describe_lr
from leadguard.evidence.chance import ChanceMatches, FmrAtScore, chance_matches
from leadguard.evidence.model import EvidenceModel

INVESTIGATION_NOTICE = (
    "INVESTIGATION MODE: this list always holds {n} people (fewer only if the gallery is "
    "smaller), whether or not the person sought is enrolled. No threshold was applied: "
    "everyone on it may be a stranger who merely looks alike."
)
NO_CANDIDATE = "No candidate above the threshold: nobody in the gallery scored high enough."


@dataclass(frozen=True)
class GroupRate:
    group: str
    fmr: FmrAtScore
    chance: ChanceMatches


@dataclass(frozen=True)
class CandidateEvidence:
    fmr: FmrAtScore
    chance: ChanceMatches
    worst_group: GroupRate | None
    llr: tuple[float, float, float]  # log10 LR, low, high
    llr_bounds: tuple[float, float]
    photo_age_days: int | None  # incident date minus the photo's encounter date
    newer_encounter: date | None  # a more recent encounter of the same subject, if any

    def lines(self) -> list[str]:
        """Plain-words statements, one per line, for the human-readable list."""
        n = self.chance.gallery_size
        out = [
            f"False match rate at this score: {self.fmr.statement()}.",
            f"In a gallery of {n:,} photos, about {self.chance.expected:.3g} innocent people "
            f"(up to {self.chance.expected_upper:.3g}) are expected to score this high; the "
            f"chance that at least one does is {self.chance.p_at_least_one:.1%} "
            f"(up to {self.chance.p_at_least_one_upper:.1%}).",
        ]
        if self.worst_group is not None:
            w = self.worst_group
            out.append(
                f"For the group the model handles worst at this score ({w.group}, from "
                f"{w.fmr.comparisons:,} comparisons within it): false match rate "
                f"{w.fmr.statement()}; {w.chance.expected:.3g} innocent people expected "
                f"(up to {w.chance.expected_upper:.3g}), at least one with chance "
                f"{w.chance.p_at_least_one:.1%} (up to {w.chance.p_at_least_one_upper:.1%})."
            )
        out.append("Likelihood ratio: " + describe_lr(*self.llr, self.llr_bounds) + ".")
        if self.photo_age_days is not None:
            out.append(
                f"The gallery photo is {self.photo_age_days / 365.25:.1f} years older than the "
                "incident."
                if self.photo_age_days >= 0
                else f"The gallery photo was taken {-self.photo_age_days / 365.25:.1f} years after "
                "the incident."
            )
        if self.newer_encounter is not None:
            out.append(
                f"This subject has a more recent photo in the gallery ({self.newer_encounter})."
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        def rate(f: FmrAtScore, c: ChanceMatches) -> dict[str, Any]:
            return {
                "false_match_rate": f.fmr,
                "false_match_rate_ci95": list(f.ci),
                "nonmated_comparisons_at_or_above": f.count,
                "nonmated_comparisons_measured": f.comparisons,
                "design_effect": round(f.design_effect, 2),
                "beyond_measured_range": f.beyond_measured_range,
                "statement": f.statement(),
                "expected_innocent_at_or_above": c.expected,
                "expected_innocent_upper": c.expected_upper,
                "p_at_least_one_innocent": c.p_at_least_one,
                "p_at_least_one_innocent_upper": c.p_at_least_one_upper,
            }

        w = self.worst_group
        return {
            **rate(self.fmr, self.chance),
            "worst_group": {"group": w.group, **rate(w.fmr, w.chance)} if w else None,
            "log10_likelihood_ratio": round(self.llr[0], 3),
            "log10_likelihood_ratio_ci95": [round(self.llr[1], 3), round(self.llr[2], 3)],
            "likelihood_ratio_bounds_log10": list(self.llr_bounds),
            "likelihood_ratio_statement": describe_lr(*self.llr, self.llr_bounds),
            "photo_age_days_at_incident": self.photo_age_days,
            "newer_encounter_in_gallery": self.newer_encounter.isoformat()
            if self.newer_encounter
            else None,
            "statements": self.lines(),
        }


def candidate_evidence(
    model: EvidenceModel,
    score: float,
    gallery_size: int,
    photo_date: date | None,
    latest_date: date | None,
    incident: date | None,
) -> CandidateEvidence:
    at = model.fmr(score)
    worst = model.worst_group(score)
    group = GroupRate(worst[0], worst[1], chance_matches(worst[1], gallery_size)) if worst else None
    age = (incident - photo_date).days if incident and photo_date else None
    newer = latest_date if latest_date and photo_date and latest_date > photo_date else None
    return CandidateEvidence(
        at,
        chance_matches(at, gallery_size),
        group,
        model.lr.at(score),
        model.lr.bounds,
        age,
        newer,
    )
