"""Face searches run outside LeadGuard: a retailer's own system, another agency's, a
commercial service. Whoever ran it, its result reaches the case as a name; recorded here it
is audited and disclosed, but it is never a lead and never corroboration (it is a face
comparison, and what it names is exactly what a LeadGuard search would have to test). The
person it names becomes a lead only the way anyone does: a LeadGuard search under an
approved request of the case, blind review, release."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.quality.gate import workspace_policy
from leadguard.services.casework.service import case_by_number, check_case
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.tables import ExternalSearch, User

NOTICE = (
    "a face search run outside LeadGuard: it is a face comparison, so it is never "
    "corroboration and never a lead here. The person it names can become a lead only through "
    "a LeadGuard search under an approved request of this case, with blind review; it is "
    "disclosed with the case"
)


@dataclass(frozen=True)
class ExternalSearchInfo:
    id: int
    case: str
    recorded_by: str
    run_by: str
    system: str
    run_on: date
    candidate: str
    probe_sha256: str | None
    how_received: str
    notes: str
    recorded_at: datetime
    notice: str = NOTICE


def info(s: Session, row: ExternalSearch, number: str) -> ExternalSearchInfo:
    user = s.get(User, row.recorded_by)
    return ExternalSearchInfo(
        row.id,
        number,
        user.username if user else "?",
        row.run_by,
        row.system,
        row.run_on,
        row.candidate,
        row.probe_sha256,
        row.how_received,
        row.notes,
        row.created_at,
    )


def _required(**fields: str) -> None:
    empty = [k.replace("_", " ") for k, v in fields.items() if not v.strip()]
    if empty:
        raise InputError(f"an external search needs {', '.join(empty)}")


def record_external_search(
    ctx: Context,
    actor: Actor,
    number: str,
    run_by: str,
    system: str,
    run_on: date,
    candidate: str,
    how_received: str,
    probe: Path | None = None,
    source_type: str | None = None,
    notes: str = "",
    probe_name: str | None = None,
) -> ExternalSearchInfo:
    """Record under case ``number`` a face search someone else ran: who ran it, which
    system, when, the person it named, how it reached the case, and its probe (stored as
    received, with its declared source type) where there is one. ``probe_name`` is the
    name the probe is stored under (an upload's label; the path by default)."""
    from leadguard.pipeline.decode import decode_image, read_file
    from leadguard.quality.provenance import check_source_type, editor_flag, read_exif
    from leadguard.search.intake import store_probe

    with refusals(ctx, actor, "external.record", f"case:{number}"):
        _required(who_ran_it=run_by, system=system, candidate=candidate, how_received=how_received)
        if run_on > date.today():
            raise InputError(f"the external search's date {run_on} is in the future")
        with ctx.session() as s:
            case = case_by_number(s, number)
            check_case(s, current_user(s, actor), "external.record", case)
            if run_on < case.incident_date:
                raise InputError(
                    f"the external search's date {run_on} is before the incident "
                    f"({case.incident_date}): it cannot have searched this incident's probe"
                )
        data = None
        if probe is not None:
            if source_type is None:
                raise InputError("an external search's probe needs its declared source type")
            data = read_file(probe, ctx.settings.max_image_bytes)
            # the search's header and decode checks: a truncated file cannot have been searched
            decode_image(data, probe_name or str(probe), ctx.settings.max_image_pixels)
            check_source_type(source_type, workspace_policy(ctx.ws).prohibited_source_types)
        with ctx.session() as s:
            case = case_by_number(s, number)
            probe_row = None
            if data is not None and probe is not None and source_type is not None:
                exif = read_exif(data)
                probe_row = store_probe(
                    s,
                    data,
                    probe_name or str(probe),
                    source_type,
                    exif,
                    editor_flag(exif),
                    None,
                    [],
                )
            row = ExternalSearch(
                case_id=case.id,
                recorded_by=actor.id,
                run_by=run_by.strip(),
                system=system.strip(),
                run_on=run_on,
                candidate=candidate.strip(),
                probe_id=probe_row.id if probe_row else None,
                probe_sha256=probe_row.sha256 if probe_row else None,
                how_received=how_received.strip(),
                notes=notes,
            )
            s.add(row)
            s.flush()
            audit.append(
                s,
                "external.record",
                f"case:{number}/external:{row.id}",
                {
                    "run_by": row.run_by,
                    "system": row.system,
                    "run_on": run_on.isoformat(),
                    "candidate": row.candidate,
                    "how_received": row.how_received,
                    "probe_sha256": row.probe_sha256,
                    "never": ["lead", "corroboration"],
                },
                actor=actor.username,
                records=[row],
            )
            return info(s, row, number)


def external_searches(s: Session, case_id: int) -> list[ExternalSearch]:
    q = select(ExternalSearch).where(ExternalSearch.case_id == case_id).order_by(ExternalSearch.id)
    return list(s.scalars(q))


def list_external_searches(ctx: Context, actor: Actor, number: str) -> list[ExternalSearchInfo]:
    with refusals(ctx, actor, "case.view", f"case:{number}"), ctx.session() as s:
        case = case_by_number(s, number)
        check_case(s, current_user(s, actor), "case.view", case)
        return [info(s, row, number) for row in external_searches(s, case.id)]
