"""The public transparency report for a period (docs/reports.md): counts only, read from
stored records; audited with the SHA-256 of each file written."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.reports.transparency import transparency_document
from leadguard.services import report_data as rd
from leadguard.services.casework.lead_state import independent
from leadguard.services.context import Actor, Context
from leadguard.services.gallery import operator_check
from leadguard.services.reports import Written, out_folder, render_both
from leadguard.storage.tables import AuditEntry, Case, Lead, SearchLog, SearchRequest, Subject

NO_CASE = "no case request (unprotected or urgent override)"


def _day(v: datetime) -> date:
    return v.date()


def _offences(s: Session) -> dict[str, dict[int, str]]:
    """Offence of each search and each probe, through the request that ran or holds it."""
    by_search: dict[int, str] = {}
    by_probe: dict[int, str] = {}
    for req, case in s.execute(select(SearchRequest, Case).join(Case)):
        if req.search_id is not None:
            by_search[req.search_id] = case.offence
        for p in rd.probes_of(s, req.probe_id):
            by_probe[p.id] = case.offence
    return {"search": by_search, "probe": by_probe}


def _outcome(row: SearchLog) -> str:
    if row.mode == "refused":
        return f"refused: {row.outcome}"
    return row.outcome


def period_data(s: Session, start: date, end: date) -> dict[str, Any]:
    off = _offences(s)
    searches: Counter[tuple[str, str]] = Counter()
    quality: Counter[str] = Counter()
    for row in s.scalars(select(SearchLog).order_by(SearchLog.id)):
        if not start <= _day(row.created_at) <= end:
            continue
        offence = off["search"].get(row.id) or off["probe"].get(row.probe_id or -1) or NO_CASE
        searches[(offence, _outcome(row))] += 1
        if row.outcome == "refused_quality":
            for f in (row.result.get("quality") or {}).get("findings", []):
                if "refusal floor" in str(f):
                    quality[str(f).split(" = ", 1)[0]] += 1
    policy: Counter[str] = Counter()
    head: AuditEntry | None = None
    for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
        day = date.fromisoformat(e.at[:10])
        if day > end:
            break
        head = e
        if day >= start and e.action == "refused":
            d = e.details
            policy[f"{d.get('refused')}: {d.get('rule') or d.get('kind')}"] += 1
    leads: list[dict[str, Any]] = []
    for lead, _req, case in s.execute(
        select(Lead, SearchRequest, Case)
        .join(SearchRequest, Lead.request_id == SearchRequest.id)
        .join(Case, SearchRequest.case_id == Case.id)
        .order_by(Lead.id)
    ):
        if not start <= _day(lead.released_at) <= end:
            continue
        subject = s.scalars(select(Subject).where(Subject.external_id == lead.subject)).first()
        outcomes = [o.get("outcome") for o in lead.outcomes or []]
        leads.append(
            {
                "offence": case.offence,
                "group": f"{(subject.sex if subject else None) or 'sex not recorded'} / "
                f"{(subject.race if subject else None) or 'race not recorded'}",
                "corroborated": independent(s, lead),
                "refuted": "refuted" in outcomes,
                "no_further_action": "no_further_action" in outcomes,
                "suspect_identified": case.status == "suspect_identified",
                "lineup": lead.lineup_recorded,
            }
        )
    check = audit.verify(s)
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "searches": [
            {"offence": o, "outcome": k, "count": n} for (o, k), n in sorted(searches.items())
        ],
        "quality_refusals": dict(sorted(quality.items())),
        "policy_refusals": dict(sorted(policy.items())),
        "leads": leads,
        "chain": {
            "intact": check.intact,
            "reason": check.reason if not check.intact else "intact",
            "head_seq": head.seq if head else None,
            "head_hash": head.hash if head else None,
        },
    }


def transparency_report(
    ctx: Context, actor: Actor | None, start: date, end: date, out: Path
) -> Written:
    """Supervisors and auditors (anyone in a workspace without accounts)."""
    obj = f"transparency:{start.isoformat()}..{end.isoformat()}"
    operator_check(ctx, actor, "report.transparency", obj)
    out = out_folder(out)
    with ctx.session() as s:
        data = period_data(s, start, end)
    files = render_both(transparency_document(data), out, f"transparency-{start}-{end}")
    with ctx.session() as s:
        entry = audit.append(
            s,
            "report.transparency",
            obj,
            {"files": {f.path.name: f.sha256 for f in files}},
            actor=actor.username if actor else None,
        )
        return Written(tuple(files), entry.seq)
