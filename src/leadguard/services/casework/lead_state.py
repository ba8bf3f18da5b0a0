"""What a lead stands on: its case, whether it is final (refuted, or excluded by a
supervisor's ruling), its corroboration records and its photo-array showings. Reads only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.core.errors import InputError
from leadguard.services.casework.policy import PolicyRefused
from leadguard.services.context import Context
from leadguard.storage.db import by_id
from leadguard.storage.tables import Case, Corroboration, Lead, LineupShowing, SearchRequest


def get_lead(s: Session, lead_id: int) -> tuple[Lead, Case]:
    lead = by_id(s, Lead, lead_id)
    if lead is None:
        raise InputError(f"lead {lead_id} does not exist")
    req = s.get(SearchRequest, lead.request_id)
    assert req is not None
    case = s.get(Case, req.case_id)
    assert case is not None
    return lead, case


def lead_object(ctx: Context, lead_id: int) -> str:
    """``case:N/lead:L`` (the audit object of the lead's entries and refusals)."""
    with ctx.session() as s:
        try:
            return f"case:{get_lead(s, lead_id)[1].number}/lead:{lead_id}"
        except InputError:
            return f"lead:{lead_id}"


def lead_final(s: Session, lead: Lead) -> str | None:
    """Why the lead is closed for good, or None: refuted at any point of its outcome history
    (a later outcome does not revive it), or excluded by a supervisor's latest ruling."""
    for o in lead.outcomes or ():
        if o.get("outcome") == "refuted":
            return f"refuted on {str(o.get('at', '?'))[:10]} by {o.get('by', '?')}"
    if lead.outcome == "refuted":
        return "refuted"
    req = s.get(SearchRequest, lead.request_id)
    rulings = [
        a for a in (req.adjudications if req else None) or () if a.get("subject") == lead.subject
    ]
    if rulings and not rulings[-1].get("release"):
        return f"excluded by adjudication on {rulings[-1].get('on')} by {rulings[-1].get('by')}"
    return None


def refuse_if_final(s: Session, lead: Lead, what: str) -> None:
    why = lead_final(s, lead)
    if why:
        raise PolicyRefused(
            "lead_final",
            f"lead {lead.id} ({lead.subject}) is final: {why}; no {what} can be built on it",
        )


def corroboration_rows(s: Session, lead: Lead) -> list[Corroboration]:
    q = select(Corroboration).where(Corroboration.lead_id == lead.id).order_by(Corroboration.id)
    return list(s.scalars(q))


def corroboration_dicts(s: Session, lead: Lead) -> list[dict[str, Any]]:
    """Every corroboration entry of the lead: the structured records, then the older
    free-text entries marked ``legacy`` (never counted as independent)."""
    out: list[dict[str, Any]] = []
    for c in corroboration_rows(s, lead):
        out.append(
            {
                "id": c.id,
                "kind": c.kind,
                "description": c.description,
                "how_obtained": c.how_obtained,
                "obtained_by": c.obtained_by,
                "obtained_on": c.obtained_on.isoformat(),
                "face_comparison_involved": c.face_comparison_involved,
                "witness_shown_candidate": c.witness_shown_candidate,
                "links_to": c.links_to,
                "witness": c.witness,
                "witness_relationship": c.witness_relationship,
                "identified_on": c.identified_on.isoformat() if c.identified_on else None,
                "counts": c.counts,
                "recorded_by": c.recorded_by,
                "legacy": False,
            }
        )
    for old in lead.corroboration or ():
        out.append(
            {
                "kind": "legacy",
                "category": old.get("category"),
                "description": old.get("what"),
                "obtained_by": old.get("obtained_by"),
                "obtained_on": old.get("obtained_on"),
                "recorded_by": old.get("recorded_by") or old.get("by"),
                "counts": False,
                "legacy": True,
            }
        )
    return out


def independent(s: Session, lead: Lead) -> bool:
    """Independent evidence linking the person to the offence is on record (presence-only
    and legacy free-text entries do not count)."""
    return any(c.counts for c in corroboration_rows(s, lead))


def showings(s: Session, lead: Lead) -> list[LineupShowing]:
    q = select(LineupShowing).where(LineupShowing.lead_id == lead.id).order_by(LineupShowing.id)
    return list(s.scalars(q))


def showing_dicts(s: Session, lead: Lead) -> list[dict[str, Any]]:
    out = [
        {
            "id": w.id,
            "array_entry": w.array_entry,
            "administrator": w.administrator,
            "witness": w.witness,
            "witness_type": w.witness_type,
            "witness_note": w.witness_note,
            "instruction": w.instruction,
            "decisions": w.decisions,
            "recorded_by": w.recorded_by,
            "recorded_at": w.recorded_at.isoformat(),
        }
        for w in showings(s, lead)
    ]
    if lead.lineup_recorded and not out:
        out.append({"witness_type": "not recorded (shown before witness types were kept)"})
    return out
