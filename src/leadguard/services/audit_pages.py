"""The audit log one page at a time, newest first, for the web page: read from the database
by sequence number (its unique index), never the whole log.

Who reads what is exactly ``services.audit.trail``'s rule (the same checks, the same
``readable`` filter for readers who are not auditors) and entries under blind review are
sealed by the same ``casework.blind.seal``; only the selection is narrower (a page) and
the filters run in SQL. Reading a page is itself an audited export, as ``trail`` is."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core import textsafe
from leadguard.core.errors import InputError
from leadguard.services.audit import case_objects, readable
from leadguard.services.authz import NotAllowed
from leadguard.services.casework.service import check_case
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.services.gallery import operator_check
from leadguard.storage.db import MAX_ID
from leadguard.storage.tables import AuditEntry, Case, User

MAX_PAGE = 200
_FIRST_BATCH = 100  # entries read per query at first; grows while readers filter rows out
_MAX_BATCH = 20_000


@dataclass(frozen=True)
class AuditQuery:
    """One page of the log: filters and where the page starts.

    ``action``: one action or a dotted family (``login`` selects ``login`` and
    ``login.failed``, never ``loginx``); ``actor``: one user exactly; ``since`` / ``until``:
    calendar days, both included, in the workspace's ``time_zone``; ``prefix``: an object and
    its parts (``audit.object_clause``). ``before``: entries older than this sequence number
    (the next page); ``after``: entries newer than it (the page before)."""

    case: str | None = None
    actor: str | None = None
    action: str | None = None
    since: date | None = None
    until: date | None = None
    prefix: str = ""
    before: int | None = None
    after: int | None = None
    size: int = 50


@dataclass(frozen=True)
class AuditPage:
    entries: list[dict[str, Any]]  # newest first, as ``audit.entry_dict`` (sealed ones marked)
    older: int | None  # ``before`` of the next (older) page, None at the oldest
    newer: int | None  # ``after`` of the previous (newer) page, None at the newest
    zone: str  # the workspace's time zone, in which ``since`` / ``until`` were read


def page(ctx: Context, actor: Actor | None, q: AuditQuery) -> AuditPage:
    """A page of the entries ``actor`` may read, newest first. Refusals as ``trail``'s
    (recorded); the read is recorded as an ``audit.export`` of the page."""
    from leadguard.services.casework.service import policy

    if not 1 <= q.size <= MAX_PAGE:
        raise InputError(f"page size {q.size}: from 1 to {MAX_PAGE}")
    if q.since and q.until and q.since > q.until:
        raise InputError(f"from {q.since} to {q.until}: the first day is after the last")
    number = q.case or None
    obj = f"case:{number}" if number else "audit"
    operator_check(ctx, actor, "audit.read", obj)
    required = policy(ctx, observe=False).examiners_required
    zone = ctx.settings.time_zone
    with refusals(ctx, actor, "audit.read", obj), ctx.session() as s:
        reader = current_user(s, actor) if actor is not None and ctx.has_accounts() else None
        case = None
        if number is not None:
            case = s.scalars(select(Case).where(Case.number == number)).first()
            if reader is not None and case is not None:
                check_case(s, reader, "audit.read", case)
            elif reader is not None and reader.role != "auditor":
                raise NotAllowed(
                    f"{reader.username} ({reader.role}) may not read case {number}: it has no "
                    "record (refused at opening), so its entries are for auditors"
                )
        base, objects = _selection(s, q, number, ZoneInfo(zone))
        if number is not None and case is None and not _exists(s, number, objects):
            raise InputError(f"case {number!r} does not exist and has no audit entries")
        newest_first = q.after is None
        start = q.before if newest_first else q.after
        if start is not None:  # a cursor past any stored sequence number reads as the last one
            start = min(start, MAX_ID)
        rows = _scan(s, base, newest_first, start, q.size + 1, reader, required, number, objects)
    more = len(rows) > q.size
    rows = rows[: q.size]
    if not newest_first:
        rows.reverse()
    if newest_first:
        older = rows[-1]["seq"] if more and rows else None
        newer = rows[0]["seq"] if q.before is not None and rows else None
    else:
        newer = rows[0]["seq"] if more and rows else None
        older = rows[-1]["seq"] if rows else None
    shown = {k: str(v) for k, v in asdict(q).items() if v not in (None, "")}
    with ctx.session() as s:
        audit.append(
            s,
            "audit.export",
            obj,
            {"entries": len(rows), "prefix": q.prefix, "page": shown},
            actor=actor.username if actor else None,
        )
    return AuditPage(rows, older, newer, zone)


def day_bounds(day: date, zone: ZoneInfo) -> tuple[str, str]:
    """The UTC instants (as stored: ISO 8601) at which a calendar day in ``zone`` begins and
    the next one begins; stored times compare as text because every one is UTC in the same
    form (``2026-12-02T13:37:56.123456+00:00``)."""

    def utc(d: date) -> str:
        start = datetime.combine(d, time(0), tzinfo=zone).astimezone(UTC)
        return start.strftime("%Y-%m-%dT%H:%M:%S")

    # the calendar's first and last days have no instant before or after them (0001-01-01
    # in a zone east of UTC, the day after 9999-12-31): the bound is then every stored time
    # ("" is before all of them; second 60 of the last minute after all, in any collation)
    try:
        begins = utc(day)
    except OverflowError:
        begins = ""
    try:
        ends = utc(day + timedelta(days=1))
    except OverflowError:
        ends = "9999-12-31T23:59:60"
    return begins, ends


def _selection(
    s: Session, q: AuditQuery, number: str | None, zone: ZoneInfo
) -> tuple[Select[AuditEntry], list[str]]:
    """The page's SQL filters, and the objects of a case's requests (``services.audit
    .entries``: the case's own entries and those of its searches and probes)."""
    base = select(AuditEntry)
    objects: list[str] = []
    if number is not None:
        objects = case_objects(s, number)
        base = base.where(
            or_(audit.object_clause(f"case:{number}"), AuditEntry.object.in_(objects))
        )
    elif q.prefix:
        base = base.where(audit.object_clause(q.prefix))
    if q.action:
        base = base.where(_action_clause(q.action))
    if q.actor:
        base = base.where(AuditEntry.actor == q.actor)
    if q.since:
        base = base.where(AuditEntry.at >= day_bounds(q.since, zone)[0])
    if q.until:
        base = base.where(AuditEntry.at < day_bounds(q.until, zone)[1])
    return base, objects


def _action_clause(action: str) -> ColumnElement[bool]:
    col = AuditEntry.action
    family = action + "."
    return or_(col == action, func.substr(col, 1, len(family)) == family)


def _exists(s: Session, number: str, objects: list[str]) -> bool:
    q = select(AuditEntry.object).where(
        or_(audit.object_clause(f"case:{number}"), AuditEntry.object.in_(objects))
    )
    return any(o in objects or textsafe.case_of(o) == number for o in s.scalars(q.limit(1000)))


def _scan(
    s: Session,
    base: Select[AuditEntry],
    newest_first: bool,
    start: int | None,
    want: int,
    reader: User | None,
    required: int,
    number: str | None,
    objects: list[str],
) -> list[dict[str, Any]]:
    """Up to ``want`` entries from ``start`` on (exclusive), in batches by sequence number:
    sealed, then kept if the reader may read them (as ``trail``)."""
    from leadguard.services.casework.blind import seal

    out: list[dict[str, Any]] = []
    cursor, batch = start, _FIRST_BATCH
    order = AuditEntry.seq.desc() if newest_first else AuditEntry.seq
    while len(out) < want:
        q = base
        if cursor is not None:
            q = q.where(AuditEntry.seq < cursor if newest_first else AuditEntry.seq > cursor)
        got = list(s.scalars(q.order_by(order).limit(batch)))
        if not got:
            break
        cursor = got[-1].seq
        rows = [
            audit.entry_dict(e)
            for e in got
            # exact: case M-A1's entries never take case M-A1/X's (case:M-A1/X/...)
            if number is None or e.object in objects or textsafe.case_of(e.object) == number
        ]
        rows = seal(s, rows, required)
        if reader is not None and reader.role != "auditor":
            rows = readable(s, reader, rows)
        out += rows
        if len(got) < batch:
            break
        batch = min(batch * 4, _MAX_BATCH)
    return out[:want]
