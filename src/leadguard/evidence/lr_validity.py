"""Which likelihood ratios a list may show: only those validated for the groups compared.

A pairwise likelihood ratio (LR) is calibrated on pooled pairs. Within a group the model
separates badly, strangers reach high scores more often, and the pooled LR overstates the
evidence: measured with SFace, a quarter of the non-mated pairs of East Asian women got a
stated LR above 10 where only the probe's sex was recorded. So an LR is shown for a
candidate only when

- both the probe's and the candidate's sex *and* race are recorded (their sex/race group:
  a sex alone pools the groups whose LRs differ most), and
- the LR was validated within each of those groups: on the evidence model's held-out
  people (``group_validation``, never the people it was fitted on), the share of non-mated
  pairs within the group whose stated LR exceeds 100 is at most ``LR_TARGET`` with 95 %
  confidence (Clopper-Pearson on pairs; with no such pair, that takes about 3,000 held-out
  pairs within the group).

Otherwise the list says why none is shown. Validation is of the model's domain (its
held-out half of LFW for the shipped models), which the statement names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from leadguard.evaluation.metrics import rate_ci

if TYPE_CHECKING:
    from leadguard.evidence.model import EvidenceModel

LR_TARGET = 0.001  # at most this share of a group's non-mated pairs may get an LR above 100
STRONG_LOG10 = 2.0  # "above 100"


@dataclass(frozen=True)
class LrValidity:
    """Whether the model's LRs were shown to hold within one group, and on what."""

    group: str
    validated: bool
    reason: str  # why not (empty when validated)
    held_out_pairs: int = 0
    over_100: int = 0  # held-out non-mated pairs within the group with a stated LR above 100
    upper: float | None = None  # 95 % upper bound of that share

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "validated": self.validated,
            "reason": self.reason or None,
            "held_out_nonmated_pairs": self.held_out_pairs,
            "held_out_nonmated_lr_over_100": self.over_100,
            "share_lr_over_100_upper95": self.upper,
        }


def fine_groups(groups: tuple[str, ...]) -> tuple[str, ...]:
    """The sex/race groups among a face's recorded groups ("F/african", not "sex F")."""
    return tuple(g for g in groups if "/" in g)


def _rows(model: EvidenceModel) -> dict[str, dict[str, Any]]:
    val = (model.meta.get("validation") or {}).get("groups") or {}
    return {r["group"]: r for r in val.get("groups") or [] if "group" in r}


def lr_validity(model: EvidenceModel, group: str) -> LrValidity:
    row = _rows(model).get(group)
    if row is None:
        return LrValidity(
            group,
            False,
            f"the evidence model's held-out people hold too few pairs within {group} to check "
            "its likelihood ratios there",
        )
    pairs = int(row.get("held_out_nonmated_pairs") or 0)
    stated = row.get("stated_lr")
    if stated is None:
        return LrValidity(
            group,
            False,
            f"the calibration data within {group} cannot support a likelihood ratio",
            pairs,
        )
    count = round(float(stated.get("nonmated_lr_over_100") or 0.0) * pairs)
    upper = rate_ci(count, pairs)[1] if pairs else 1.0
    if upper > LR_TARGET:
        return LrValidity(
            group,
            False,
            f"within {group}, {count:,} of {pairs:,} held-out pairs of different people got a "
            f"likelihood ratio above 100; that shows at most {upper:.2%} of them do (95 %), not "
            f"at most {LR_TARGET:.1%}",
            pairs,
            count,
            upper,
        )
    return LrValidity(group, True, "", pairs, count, upper)


def shown_lr_groups(
    model: EvidenceModel, probe_groups: tuple[str, ...], candidate_groups: tuple[str, ...]
) -> tuple[tuple[LrValidity, ...], str]:
    """(the validity of each sex/race group compared, why no LR is shown: "" when one is)."""
    probe, cand = fine_groups(probe_groups), fine_groups(candidate_groups)
    missing = [w for w, gs in (("probe's", probe), ("candidate's", cand)) if not gs]
    if missing:
        return (), (
            f"the {' and the '.join(missing)} sex and race are not both recorded; a "
            "likelihood ratio is shown only where both people's groups are recorded and it "
            "was validated within both (a sex alone pools groups whose ratios differ most)"
        )
    checks = tuple(lr_validity(model, g) for g in dict.fromkeys((*probe, *cand)))
    failed = [c for c in checks if not c.validated]
    if failed:
        return checks, "; ".join(c.reason for c in failed)
    return checks, ""
