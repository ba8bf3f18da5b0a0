"""Report services: the lead report, the disclosure packet and the transparency report
(docs/reports.md). Each authorises the acting user, reads stored records, renders, writes
the files and audits them with the SHA-256 of each file written."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.core.files import not_replaceable, replace_file
from leadguard.reports.document import Document
from leadguard.reports.html import render_html
from leadguard.reports.lead import lead_document
from leadguard.reports.pdf import render_pdf
from leadguard.services import report_data
from leadguard.services.authz import authorize
from leadguard.services.casework.policy import CaseworkPolicy, PolicyRefused
from leadguard.services.casework.service import check_case, policy
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.db import by_id
from leadguard.storage.tables import Case, Lead, SearchRequest, User


@dataclass(frozen=True)
class WrittenFile:
    path: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class Written:
    files: tuple[WrittenFile, ...]
    audit_seq: int  # the audit entry that records them


def write_atomic(path: Path, data: bytes) -> WrittenFile:
    """Write atomically (a temporary file of its own, renamed into place), never over a
    device, a FIFO or a folder."""
    if why := not_replaceable(path):
        raise InputError(f"{path} {why}")
    replace_file(path, data)
    return WrittenFile(path, hashlib.sha256(data).hexdigest(), len(data))


def out_folder(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    return out


def render_both(doc: Document, out: Path, stem: str) -> list[WrittenFile]:
    return [
        write_atomic(out / f"{stem}.pdf", render_pdf(doc)),
        write_atomic(out / f"{stem}.html", render_html(doc)),
    ]


def _lead_case(ctx: Context, lead_id: int) -> str:
    with ctx.session() as s:
        lead = by_id(s, Lead, lead_id)
        req = s.get(SearchRequest, lead.request_id) if lead else None
        case = s.get(Case, req.case_id) if req else None
        return f"case:{case.number}/lead:{lead_id}" if case else f"lead:{lead_id}"


def lead_report(ctx: Context, actor: Actor, lead_id: int, out: Path) -> Written:
    """The lead report (PDF and HTML) of a released lead: supervisors of the case's unit,
    auditors, and examiners assigned to the case."""
    obj = _lead_case(ctx, lead_id)
    with refusals(ctx, actor, "report.lead", obj):
        out = out_folder(out)
        with ctx.session() as s:
            user = current_user(s, actor)
            authorize(user, "report.lead")
            rec = report_data.lead_record(s, lead_id)
            case = s.scalars(select(Case).where(Case.number == rec["case"]["number"])).one()
            check_case(s, user, "report.lead", case)
            blind_to(s, user, rec["request"]["id"], case, policy(ctx, observe=False))
        files = render_both(lead_document(rec), out, f"lead-{lead_id}")
        with ctx.session() as s:
            entry = audit.append(
                s,
                "report.lead",
                obj,
                {
                    "lead": lead_id,
                    "search": rec["search"]["id"],
                    "files": {f.path.name: f.sha256 for f in files},
                },
                actor=actor.username,
            )
            seq = entry.seq
        return Written(tuple(files), seq)


def blind_to(s: Session, user: User, request_id: int, case: Case, pol: CaseworkPolicy) -> None:
    """Refuse what shows a request's scores or decisions to a user who may still review it
    (a third reviewer is blind like the first two)."""
    from leadguard.services.casework.review import still_to_review

    req = by_id(s, SearchRequest, request_id)
    if req is not None and still_to_review(s, user, req, case, pol):
        raise PolicyRefused(
            "blind_review",
            f"{user.username} may still review request {request_id}: its scores and "
            "decisions are shown to them only after their own review is in",
        )


def parse_period(start: str, end: str) -> tuple[date, date]:
    try:
        a, b = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        raise InputError(f"--from/--to: {exc} (use YYYY-MM-DD)") from None
    if b < a:
        raise InputError(f"--to {b} is before --from {a}")
    return a, b
