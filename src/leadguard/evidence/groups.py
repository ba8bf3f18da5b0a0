"""Demographic groups in evidence statements: ranked by what the data can rule out.

A group's false match rate at a score is known only as well as its within-group comparisons
allow. Ranking groups by their point estimate hides exactly the groups that matter: a small
group in which no measured pair reached the score has a point estimate of 0 but may have a
high rate. So groups are ranked by the 95 % upper bound of their within-group FMR (Clopper-
Pearson on the effective number of comparisons), and a statement says plainly when a group's
rate at a score is only bounded, or not measured at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from leadguard.evidence.chance import FmrAtScore, fmr_at_score, rate_words

if TYPE_CHECKING:
    from leadguard.evidence.model import EvidenceModel

MIN_GROUP_COMPARISONS = 300  # fewer within-group non-mated pairs: the group is not ranked


# words that record that a sex or race is not known: no group (a witness's "?" once made
# a group "sex ?", measured nowhere, and printed as one)
UNKNOWN = frozenset({"unknown", "unk", "not known", "unsure", "uncertain", "n/a", "na", "none"})


def known(value: str | None) -> str:
    """``value`` stripped, or "" where it records no group: blank, an unknown-word, or no
    letter or digit at all ("?", "-")."""
    v = (value or "").strip()
    if not any(c.isalnum() for c in v) or v.casefold() in UNKNOWN:
        return ""
    return v


# spellings of the two recorded sexes: one group each ("male", "m" and "M" were once three)
SEX_WORDS = {
    "M": frozenset({"m", "male", "man", "men"}),
    "F": frozenset({"f", "female", "woman", "women"}),
}


def sex_code(value: str | None) -> str:
    """A recorded sex as one code: ``M`` or ``F`` for any of their spellings, another value
    as given (a single letter in capitals), "" where it records nothing."""
    v = " ".join(known(value).split())
    for code, words in SEX_WORDS.items():
        if v.casefold() in words:
            return code
    return v.upper() if len(v) == 1 else v


def race_code(value: str | None) -> str:
    """A recorded race as one code: lower case, single spaces ("" where it records
    nothing), so that "White" and "white " are one group."""
    return " ".join(known(value).casefold().split())


def subject_groups(sex: str | None, race: str | None) -> tuple[str, ...]:
    """Groups a face is compared within: its sex, and its sex/race where both are known."""
    sex, race = sex_code(sex), race_code(race)
    out = [f"sex {sex}"] if sex else []
    if sex and race:
        out.append(f"{sex}/{race}")
    return tuple(out)


@dataclass(frozen=True)
class GroupStanding:
    """What the model knows about one group's false match rate at one score."""

    group: str
    fmr: FmrAtScore | None  # None: no within-group comparison was measured at all
    adequate: bool  # enough within-group comparisons to be ranked

    @property
    def upper(self) -> float:
        return 1.0 if self.fmr is None else self.fmr.ci[1]

    @property
    def measured_at_score(self) -> bool:
        return self.fmr is not None and self.fmr.count > 0

    def statement(self) -> str:
        f = self.fmr
        if f is None:
            return (
                f"{self.group}: not measured (no comparisons within this group in the "
                "calibration data), so nothing is known about its false match rate"
            )
        eff = f.comparisons / f.design_effect
        if not f.informative:
            text = f"{self.group}: false match rate {f.statement()}"
        elif f.count == 0:
            text = (
                f"{self.group}: no measured comparison within this group scored this high; its "
                f"{f.comparisons:,} comparisons (about {eff:,.0f} independent ones) only bound "
                f"the false match rate below {rate_words(f.ci[1])} (95 %)"
            )
        else:
            text = f"{self.group}: false match rate {f.statement()}"
        if not self.adequate:
            text += "; too few comparisons to rank this group"
        return text


def group_design_effect(model: EvidenceModel, group: str, score: float) -> float:
    """The group's measured design effect; without one, the comparisons per pair of people
    where recorded, else the largest effect measured for any group at this score (so a
    thin group's interval is never narrower than a well-measured group's)."""
    measured = (model.meta.get("group_design_effects") or {}).get(group)
    if measured:
        return model.design_effect(score, group)
    people = (model.meta.get("group_people") or {}).get(group)
    hist = model.groups.get(group)
    if people and hist is not None and people > 1:
        return max(1.0, hist.comparisons / (people * (people - 1) / 2))
    effects = [model.design_effect(score, g) for g in model.meta.get("group_design_effects") or {}]
    return max([model.design_effect(score), *effects])


def standing(model: EvidenceModel, group: str, score: float) -> GroupStanding:
    hist = model.groups.get(group)
    if hist is None or hist.comparisons == 0:
        return GroupStanding(group, None, False)
    at = fmr_at_score(hist, score, group_design_effect(model, group, score))
    return GroupStanding(group, at, hist.comparisons >= MIN_GROUP_COMPARISONS)


def ranked_groups(model: EvidenceModel, score: float) -> list[GroupStanding]:
    """The adequately measured groups whose bound at this score is informative, the one whose
    FMR at this score may be highest first:
    by 95 % upper bound, then point estimate, then name. Every document ranks groups this
    way, so the first is the one worst group a list names, in every section."""
    ranked = [standing(model, g, score) for g in sorted(model.groups)]
    # a group too thinly measured to bound its rate (``FmrAtScore.informative``) is not
    # ranked: naming it "worst" would only say that nothing is known about it
    ranked = [r for r in ranked if r.adequate and r.fmr is not None and r.fmr.informative]
    return sorted(ranked, key=lambda r: (-r.upper, -(r.fmr.fmr if r.fmr else 0.0), r.group))


def worst_group(model: EvidenceModel, score: float) -> GroupStanding | None:
    """The adequately measured group whose within-group FMR at this score may be highest:
    the highest 95 % upper bound (ties: the higher point estimate)."""
    ranked = ranked_groups(model, score)
    return ranked[0] if ranked else None


def group_threshold(model: EvidenceModel, base: float) -> tuple[float, str | None]:
    """The lowest score at or above ``base`` at which every adequately measured group's
    within-group FMR is no higher than the pooled FMR at ``base``: the per-probe FPIR model
    sets ``base`` for the average probe, and this holds the same rate for the worst group.
    Returns the threshold and the group that set it (None: no group needed more)."""
    target = model.nonmated.at_least(base) / model.nonmated.comparisons
    best, binding = base, None
    for g, hist in sorted(model.groups.items()):
        if hist.comparisons < MIN_GROUP_COMPARISONS:
            continue
        t = hist.threshold_for_fmr(target)
        if t > best:
            best, binding = t, g
    return float(best), binding
