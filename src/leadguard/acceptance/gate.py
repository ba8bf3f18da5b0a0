"""The evaluation gate: a face model's embedding space may run open-set searches only after
the workspace holds an accepted evaluation of it.

An evaluation is complete when the workspace holds, for that space: an LFW View 2 record
(``eval verify``), a BLUFR record (``eval identify``), a per-group record (``eval manifest``,
FMR per demographic group at one threshold) and an evidence record (``eval evidence``) whose
fitted model is stored and whose validation passed (calibration loss stated, every predicted
FPIR agreeing with the measured one). An administrator then accepts it (``leadguard models
accept``): the acceptance is stored with the numbers it rests on and audited.

The space of LeadGuard's default pipeline (dlib ResNet, mirrored) ships with an evidence
model that was fitted and validated on LFW for this release (docs/accuracy.md,
docs/evidence.md); a space with a shipped model counts as accepted by the release itself.
Every other space, whatever its backend, needs the workspace's own evaluation and acceptance.

Pure functions over a ``Session``, so that a service layer can wrap them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leadguard.acceptance import records as store
from leadguard.core.errors import LeadGuardError
from leadguard.core.types import EmbeddingSpace
from leadguard.evidence.model import shipped_payload

REQUIRED = {
    "lfw-pairs": "LFW View 2 (leadguard eval verify)",
    "blufr": "BLUFR open-set identification (leadguard eval identify)",
    "manifest": "per-group FMR at one threshold (leadguard eval manifest MANIFEST)",
    "evidence": "evidence model fitted and validated (leadguard eval evidence MANIFEST --blufr)",
}
ADMIN_ROLE = "admin"


class ModelNotAccepted(LeadGuardError):
    """An open-set search in an embedding space without an accepted evaluation."""


class AcceptanceRefused(LeadGuardError):
    """An acceptance that cannot be recorded: evaluation incomplete or not an administrator."""


@dataclass(frozen=True)
class Evaluation:
    """What the workspace holds about one space, the headline numbers, and what is missing."""

    space_key: str
    records: dict[str, int] = field(default_factory=dict)  # protocol -> accuracy record id
    numbers: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Acceptance:
    source: str  # "administrator" | "shipped"
    accepted_by: str
    at: datetime | None
    evaluation: dict[str, Any]
    note: str = ""
    id: int | None = None


def _worst_group(demo: dict[str, Any]) -> dict[str, Any]:
    groups = {
        name: g
        for name, g in demo.get("groups", {}).items()
        if not g.get("too_small") and g.get("fmr") is not None
    }
    if not groups:
        return {}
    worst = max(groups, key=lambda n: groups[n]["fmr"])
    nonzero = [g["fmr"] for g in groups.values() if g["fmr"] > 0]
    lowest = min(nonzero) if nonzero else 0.0
    return {
        "threshold": demo.get("threshold"),
        "overall_fmr": demo.get("overall_fmr"),
        "worst_group": worst,
        "worst_group_fmr": groups[worst]["fmr"],
        "lowest_nonzero_group_fmr": lowest,
        "worst_to_best_ratio": groups[worst]["fmr"] / lowest if lowest > 0 else None,
        "groups_reported": len(groups),
    }


def evaluation(session: Session, space_key: str) -> Evaluation:
    """The evaluation the workspace holds for a space (the newest record of each protocol)."""
    latest = store.latest_records(session, space_key)
    records: dict[str, int] = {}
    numbers: dict[str, Any] = {}
    problems: list[str] = []
    for protocol, what in REQUIRED.items():
        if protocol not in latest:
            problems.append(f"no {what} record")
        else:
            records[protocol] = latest[protocol].id
    if "lfw-pairs" in latest:
        fold = latest["lfw-pairs"].metrics.get("lfw_10fold", {})
        numbers["lfw_view2_accuracy"] = fold.get("mean_accuracy")
        numbers["lfw_view2_sd"] = fold.get("std_accuracy")
    if "blufr" in latest:
        summary = latest["blufr"].metrics.get("summary", {})
        numbers["blufr_rank1"] = summary.get("rank1", {}).get("mean")
        numbers["blufr_fnir_at_fpir_0.01"] = summary.get("fnir_at_fpir_0.01_rank1", {}).get("mean")
    if "manifest" in latest:
        groups = _worst_group(latest["manifest"].metrics.get("demographics", {}))
        if groups:
            numbers["per_group"] = groups
        else:
            problems.append("the per-group record reports no group large enough to measure")
    if "evidence" in latest:
        rec = latest["evidence"]
        lr = rec.metrics.get("likelihood_ratio", {})
        fpir = rec.metrics.get("fpir", [])
        numbers["cllr"] = lr.get("cllr")
        numbers["calibration_loss"] = lr.get("cllr_cal")
        numbers["fpir_checks"] = len(fpir)
        numbers["fpir_checks_agreeing"] = sum(bool(r.get("agree")) for r in fpir)
        if lr.get("cllr_cal") is None:
            problems.append("the evidence record states no calibration loss")
        if not fpir:
            problems.append("the evidence record holds no FPIR validation")
        elif numbers["fpir_checks_agreeing"] < len(fpir):
            problems.append(
                f"the evidence model's predicted FPIR disagrees with the measured one in "
                f"{len(fpir) - numbers['fpir_checks_agreeing']} of {len(fpir)} checks"
            )
        fitted = [m for m, rid, _ in store.evidence_model_ids(session, space_key) if rid == rec.id]
        if not fitted:
            problems.append(f"no evidence model stored from evidence record {rec.id}")
        else:
            numbers["evidence_model"] = fitted[-1]
    return Evaluation(space_key, records, numbers, tuple(problems))


def acceptance(session: Session, space_key: str) -> Acceptance | None:
    """The space's acceptance: the newest administrator's, else the release's (shipped)."""
    row = store.latest_acceptance(session, space_key)
    if row is not None:
        return Acceptance(
            "administrator", row.accepted_by, row.created_at, row.evaluation, row.note, row.id
        )
    if shipped_payload(space_key) is not None:
        return Acceptance(
            "shipped",
            "LeadGuard release (evidence model shipped; docs/accuracy.md, docs/evidence.md)",
            None,
            {},
        )
    return None


def accept(
    session: Session,
    space: EmbeddingSpace,
    model_name: str,
    username: str,
    role: str,
    note: str = "",
) -> Acceptance:
    """Record an administrator's acceptance of a completely evaluated space (audited)."""
    if role != ADMIN_ROLE:
        raise AcceptanceRefused(
            f"{username} ({role}) may not accept a face model: only an administrator may"
        )
    ev = evaluation(session, space.key)
    if not ev.complete:
        raise AcceptanceRefused(
            f"face model {model_name!r} (space {space.key}) cannot be accepted: "
            + "; ".join(ev.problems)
        )
    payload = {"records": ev.records, "numbers": ev.numbers}
    row = store.add_acceptance(
        session, space.key, model_name, space.to_dict(), payload, username, note
    )
    return Acceptance("administrator", username, row.created_at, payload, note, row.id)


def require_open_set(session: Session, space: EmbeddingSpace) -> Acceptance:
    """The space's acceptance, or ModelNotAccepted saying what is missing."""
    found = acceptance(session, space.key)
    if found is not None:
        return found
    ev = evaluation(session, space.key)
    missing = "; ".join(ev.problems) if ev.problems else "evaluation complete, not yet accepted"
    raise ModelNotAccepted(
        f"embedding space {space.key} ({space.model_name}) has no accepted evaluation, so it "
        f"may not run open-set searches ({missing}); evaluate it and have an administrator run "
        "`leadguard models accept`, or ask for an investigation-mode list"
    )
