"""What a candidate's score is worth, in numbers and plain words, for the gallery searched."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from leadguard.evidence.chance import (
    INFORMATIVE_BOUND,
    ChanceMatches,
    FmrAtScore,
    chance_matches,
    rate_words,
)
from leadguard.evidence.groups import GroupStanding
from leadguard.evidence.lookalikes import Lookalikes
from leadguard.evidence.model import EvidenceModel
from leadguard.evidence.search_lr import SearchLr, validated_search_lr
from leadguard.evidence.tail import OpenSetDecision

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
class ListContext:
    """What every candidate on one list shares: the one named worst group, the probe's
    recorded groups, and the size of the gallery searched."""

    worst_group: str | None
    probe_groups: tuple[str, ...] = ()
    gallery_subjects: int = 0
    shift: str | None = None  # the gallery's own tail says the statements do not hold here


def list_context(
    model: EvidenceModel,
    scores: list[float],
    threshold: float | None,
    probe_groups: tuple[str, ...],
    gallery_subjects: int,
    shift: str | None = None,
) -> ListContext:
    """Name one worst group for the whole list: the one whose FMR may be highest (95 % upper
    bound) at the list's threshold, or at its lowest listed score without one."""
    at = threshold if threshold is not None else (min(scores) if scores else None)
    worst = model.worst_group(at) if at is not None else None
    return ListContext(worst.group if worst else None, probe_groups, gallery_subjects, shift)


@dataclass(frozen=True)
class CandidateEvidence:
    fmr: FmrAtScore
    chance: ChanceMatches
    worst_group: GroupRate | None
    own_groups: tuple[tuple[str, GroupStanding], ...]  # ("probe" | "candidate", standing)
    lr: SearchLr
    photo_age_days: int | None  # incident date minus the photo's encounter date
    newer_encounter: date | None  # a more recent encounter of the same subject, if any
    shift: str | None = None
    # from the probe's own scores: P(a stranger this high | the person is not enrolled)
    open_set_p: float | None = None
    open_set_line: str | None = None
    # the list's worst group is of another recorded sex than this candidate's: not applied
    worst_not_applicable: str | None = None
    # from the gallery's kept counts: other enrolled people at least this close to its photo
    lookalikes: Lookalikes | None = None
    # the newer photo's date minus the incident's (an incident date was given)
    newer_after_incident_days: int | None = None
    # this candidate's score among the gallery's own strangers (evidence.gallery_figures)
    gallery_lines: tuple[str, ...] = ()

    @property
    def llr(self) -> tuple[float, float, float] | None:
        return self.lr.llr

    def worst_fmr_words(self) -> str | None:
        w = self.worst_group
        if w is None:
            return None
        if not w.fmr.informative:
            return (
                f"the false match rate within {w.group} is not measured well enough to be "
                f"shown to be below {INFORMATIVE_BOUND:.0%}"
            )
        return f"the false match rate within {w.group} may be as high as {rate_words(w.fmr.ci[1])}"

    def cells(self) -> tuple[str, str, str]:
        """(FMR at score, worst-group FMR 95 % upper bound, log10 LR) for a summary table."""
        w = self.worst_group
        worst = "-"
        if w is not None:
            bound = f"{w.fmr.ci[1]:.2g}" if w.fmr.informative else "not bounded"
            worst = f"{bound} ({w.group})"
        return (
            f"{self.fmr.fmr:.2g}",
            worst,
            f"{self.llr[0]:+.2f}" if self.llr else "withheld",
        )

    def lines(self) -> list[str]:
        """Plain-words statements, one per line, for the human-readable list."""
        n = self.chance.gallery_size
        out = [f"NOT VALIDATED FOR THIS GALLERY: {self.shift}"] if self.shift else []
        if self.open_set_line:
            out.append(self.open_set_line)
        out += [
            f"False match rate at this score: {self.fmr.statement()}.",
            f"In a gallery of {n:,} photos, {self.chance.words()}.",
        ]
        out += self.gallery_lines
        if self.worst_group is not None:
            w = self.worst_group
            out.append(
                f"For the group whose false match rate may be highest on this list ({w.group}, "
                f"from {w.fmr.comparisons:,} comparisons within it; groups too thinly measured "
                "to bound their rate are not ranked): false match rate "
                f"{w.fmr.statement()}" + (f"; {w.chance.words()}." if w.fmr.informative else ".")
            )
        elif self.worst_not_applicable is not None:
            out.append(
                f"The group whose false match rate may be highest on this list "
                f"({self.worst_not_applicable}) is of another sex than this candidate's recorded "
                "one, so its figures are not given for this candidate; this candidate's own "
                "recorded group follows."
            )
        else:
            out.append(
                "No demographic group was measured well enough at this list's score to be "
                "named as the one whose false match rate may be highest."
            )
        said: set[str] = set()
        for role, st in self.own_groups:
            if st.group in said:
                continue  # the probe's group is also the candidate's: one line for both
            said.add(st.group)
            both = [r for r, o in self.own_groups if o.group == st.group]
            who = (
                "The probe person's described group and this candidate's recorded group"
                if len(set(both)) > 1
                else "The probe person's described group"
                if role == "probe"
                else "This candidate's recorded group"
            )
            out.append(f"{who} {st.statement()}.")
        out += self.lr.lines(self.worst_fmr_words())
        if self.photo_age_days is not None:
            out.append(
                f"The gallery photo is {self.photo_age_days / 365.25:.1f} years older than the "
                "incident."
                if self.photo_age_days >= 0
                else f"The gallery photo was taken {-self.photo_age_days / 365.25:.1f} years after "
                "the incident."
            )
        if self.newer_encounter is not None:
            after = self.newer_after_incident_days
            when = (
                ""
                if after is None
                else f", taken {after / 365.25:.1f} years after the incident"
                if after > 0
                else f", taken {-after / 365.25:.1f} years before the incident"
                if after < 0
                else ", taken on the day of the incident"
            )
            out.append(
                f"This subject has a more recent photo in the gallery ({self.newer_encounter}"
                f"{when})."
            )
        if self.lookalikes is not None:
            out.append(self.lookalikes.line())
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

        def own(role: str, st: GroupStanding) -> dict[str, Any]:
            f = st.fmr
            return {
                "role": role,
                "group": st.group,
                "measured": f is not None,
                "adequately_measured": st.adequate,
                "false_match_rate": f.fmr if f else None,
                "false_match_rate_ci95": list(f.ci) if f else None,
                "nonmated_comparisons_measured": f.comparisons if f else 0,
                "statement": st.statement(),
            }

        w = self.worst_group
        return {
            **rate(self.fmr, self.chance),
            "worst_group": {"group": w.group, **rate(w.fmr, w.chance)} if w else None,
            "worst_group_not_applicable_to_candidate": self.worst_not_applicable,
            "recorded_groups": [own(r, st) for r, st in self.own_groups],
            **self.lr.to_dict(),
            "not_validated_for_this_gallery": self.shift,
            "p_stranger_this_high_if_not_enrolled": self.open_set_p,
            "lookalikes_in_gallery": self.lookalikes.to_dict() if self.lookalikes else None,
            "photo_age_days_at_incident": self.photo_age_days,
            "newer_encounter_in_gallery": self.newer_encounter.isoformat()
            if self.newer_encounter
            else None,
            "newer_encounter_after_incident_days": self.newer_after_incident_days,
            "gallery_figures": list(self.gallery_lines),
            "statements": self.lines(),
        }


def candidate_evidence(
    model: EvidenceModel,
    score: float,
    gallery_size: int,
    photo_date: date | None,
    latest_date: date | None,
    incident: date | None,
    context: ListContext | None = None,
    candidate_groups: tuple[str, ...] = (),
    open_set: OpenSetDecision | None = None,
    rank: int = 1,
) -> CandidateEvidence:
    ctx = context or list_context(model, [score], None, (), gallery_size)
    at = model.fmr(score)
    group = None
    mismatch = _other_sex(ctx.worst_group, candidate_groups)
    if ctx.worst_group is not None and mismatch is None:
        st = model.group_standing(ctx.worst_group, score)
        if st.fmr is not None:
            group = GroupRate(ctx.worst_group, st.fmr, chance_matches(st.fmr, gallery_size))
    own = tuple(("probe", model.group_standing(g, score)) for g in ctx.probe_groups) + tuple(
        ("candidate", model.group_standing(g, score)) for g in candidate_groups
    )
    lr = validated_search_lr(
        model,
        score,
        ctx.probe_groups,
        candidate_groups,
        ctx.gallery_subjects or gallery_size,
        gallery_size,
        rank,
    )
    age = (incident - photo_date).days if incident and photo_date else None
    newer = latest_date if latest_date and photo_date and latest_date > photo_date else None
    return CandidateEvidence(
        at,
        chance_matches(at, gallery_size),
        group,
        own,
        lr,
        age,
        newer,
        ctx.shift,
        open_set.p(score) if open_set else None,
        open_set.candidate_line(score) if open_set else None,
        mismatch,
        newer_after_incident_days=(newer - incident).days if newer and incident else None,
    )


def group_sex(group: str) -> str | None:
    """The sex a group is defined by: "sex F" and "F/african" are both F."""
    if group.startswith("sex "):
        return group[4:].strip() or None
    return group.split("/", 1)[0].strip() or None if "/" in group else None


def _other_sex(worst: str | None, candidate_groups: tuple[str, ...]) -> str | None:
    """The worst group's name when it is of another sex than the candidate's recorded one
    (a woman candidate never gets a male group's figures); None when it applies or when
    either sex is unknown."""
    if worst is None:
        return None
    ws = group_sex(worst)
    own = {x for g in candidate_groups if (x := group_sex(g))}
    return worst if ws is not None and own and ws not in own else None
