"""Reading the audit log defensively and checking the working records its entries name
(the record-coverage half of ``audit.verify``).

The chain is read as raw column values, so that a damaged row (invalid JSON in ``details``,
a sequence number stored as text, a NULL hash) becomes a finding that names the row instead
of an exception. Working records are read one query per table (in chunks of ids, to stay
below SQLite's bound-parameter limit) and hashed with ``audit.row_digest``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Text, select, type_coerce
from sqlalchemy.orm import Mapper, Session

from leadguard.storage.tables import AuditEntry, Base

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 5000

# Tables whose every row must be named by some audit entry: a row no entry names was put
# there outside LeadGuard (an inserted admin account, login token, case assignment, subject,
# template, evidence model...). The services writing them name each row they create or
# change; volatile state (``login_state``, ``gallery_generation``) and caches stay outside.
COVERED = (
    "users",
    "auth_tokens",
    "cases",
    "case_assignments",
    "subjects",
    "encounters",
    "images",
    "templates",
    "evidence_models",
    "model_acceptances",
    "accuracy_records",
    "comparison_annotations",
    # where a face is and the quality verdict it was enrolled with, which model and detector
    # a space is, and the agency's verdicts on probable duplicates (migration 0018)
    "faces",
    "embedding_spaces",
    "probable_duplicates",
    # what decides what happens to a person: requests (approved or not), reviews, leads,
    # corroboration, photo-array showings, external searches, and the search log and
    # probes they rest on (migration 0019)
    "search_log",
    "probes",
    "search_requests",
    "reviews",
    "leads",
    "corroborations",
    "lineup_showings",
    "external_searches",
)


@dataclass(frozen=True)
class RawEntry:
    row_id: int
    seq: Any
    at: Any
    actor: Any
    action: Any
    object: Any
    details: Any
    prev_hash: Any
    hash: Any
    problem: str = ""


def read_chain(session: Session, where: ColumnElement[bool] | None = None) -> list[RawEntry]:
    """Every audit_log row (or those ``where`` selects) in chain order (readable rows by
    sequence number, then damaged ones), each with ``problem`` set when the row cannot be
    part of a valid chain."""
    t = AuditEntry.__table__
    q = select(
        t.c.id,
        type_coerce(t.c.seq, Text),
        t.c.at,
        t.c.actor,
        t.c.action,
        t.c.object,
        type_coerce(t.c.details, Text),
        t.c.prev_hash,
        t.c.hash,
    )
    rows = session.execute(q if where is None else q.where(where)).all()
    out = [_parse(*r) for r in rows]
    out.sort(key=lambda e: (0, e.seq, e.row_id) if isinstance(e.seq, int) else (1, 0, e.row_id))
    return out


def _parse(
    row_id: int,
    seq: Any,
    at: Any,
    actor: Any,
    action: Any,
    obj: Any,
    details: Any,
    prev_hash: Any,
    hash_: Any,
) -> RawEntry:
    problem = ""
    n: Any = seq
    if isinstance(seq, str) and re.fullmatch(r"-?\d+", seq.strip()):
        n = int(seq)
    elif not isinstance(seq, int) or isinstance(seq, bool):
        problem = f"sequence number {seq!r} is not a whole number"
    parsed: Any = details
    if not problem:
        try:
            parsed = json.loads(details) if isinstance(details, str | bytes) else details
        except ValueError as exc:
            problem = f"entry {n}: details are not valid JSON ({exc})"
        else:
            if not isinstance(parsed, dict):
                problem = f"entry {n}: details are {type(parsed).__name__}, not an object"
    if not problem:
        for name, value in (("time", at), ("actor", actor), ("action", action), ("object", obj)):
            if not isinstance(value, str):
                problem = f"entry {n}: {name} is {value!r}, not text"
                break
    if not problem:
        for name, value in (("previous hash", prev_hash), ("hash", hash_)):
            if not isinstance(value, str) or not _HEX64.fullmatch(value):
                problem = f"entry {n}: {name} is {value!r}, not a SHA-256 hex digest"
                break
    return RawEntry(row_id, n, at, actor, action, obj, parsed, prev_hash, hash_, problem)


@dataclass
class _Expect:
    seq: int
    sha256: str | None  # None: recorded as deleted


@dataclass
class _Table:
    mapper: Mapper[Any] | None
    expect: dict[Any, _Expect] = field(default_factory=dict)


def _mapper_for(table: str) -> Mapper[Any] | None:
    for m in Base.registry.mappers:
        if _table_name(m) == table:
            return m
    return None


def _table_name(mapper: Mapper[Any]) -> str:
    return str(getattr(mapper.local_table, "name", ""))


def _key(ident: Any) -> Any:
    return tuple(ident) if isinstance(ident, list) else ident


def check_records(
    session: Session, entries: list[tuple[int, dict[str, Any]]]
) -> tuple[int, list[str]]:
    """(records checked, problems) for the records named by these (seq, details) entries:
    the latest entry naming a record decides what it must be now."""
    from leadguard.audit.log import row_digest

    problems: list[str] = []
    tables: dict[str, _Table] = {}
    for seq, details in sorted(entries, key=lambda e: e[0]):
        for listed, deleted in (("records", False), ("deleted_records", True)):
            items = details.get(listed, [])
            if not isinstance(items, list):
                problems.append(f"entry {seq}: {listed} is not a list")
                continue
            for item in items:
                ok = isinstance(item, dict) and isinstance(item.get("table"), str)
                ok = ok and "id" in item and (deleted or isinstance(item.get("sha256"), str))
                if not ok:
                    problems.append(f"entry {seq}: malformed item in {listed}: {item!r}")
                    continue
                tab = tables.get(item["table"])
                if tab is None:
                    tab = tables[item["table"]] = _Table(_mapper_for(item["table"]))
                sha = None if deleted else item["sha256"]
                tab.expect[_key(item["id"])] = _Expect(seq, sha)
    for name in COVERED:
        if name not in tables:
            tables[name] = _Table(_mapper_for(name))
    checked = 0
    for name, tab in sorted(tables.items()):
        if tab.mapper is None:
            problems.append(f"entries name table {name!r}, which LeadGuard does not have")
            continue
        if name in COVERED:
            problems += _unnamed_rows(session, tab.mapper, tab.expect)
        current = _current_rows(session, tab.mapper, list(tab.expect), problems)
        for ident, exp in sorted(tab.expect.items(), key=lambda kv: str(kv[0])):
            checked += 1
            exists = ident in current
            now = current.get(ident)
            if exp.sha256 is None:
                if exists:
                    problems.append(
                        f"{name} row {_show(ident)} exists although audit entry {exp.seq} "
                        "recorded its deletion"
                    )
            elif not exists:
                problems.append(
                    f"{name} row {_show(ident)} was deleted after audit entry {exp.seq}"
                )
            elif now is None:
                continue  # unreadable: already named by _current_rows
            elif row_digest(now)["sha256"] != exp.sha256:
                problems.append(
                    f"{name} row {_show(ident)} was changed after audit entry {exp.seq}"
                )
    return checked, problems


def _unnamed_rows(session: Session, mapper: Mapper[Any], expect: dict[Any, _Expect]) -> list[str]:
    """Rows of a covered table that no audit entry names (one id query per table)."""
    col = mapper.primary_key[0]
    name = _table_name(mapper)
    extra = [i for i in session.scalars(select(col).order_by(col)) if i not in expect]
    if not extra:
        return []
    more = f" and {len(extra) - 10} more" if len(extra) > 10 else ""
    shown = ", ".join(map(str, extra[:10])) + more
    return [
        f"{name} row{'s' if len(extra) > 1 else ''} {shown}: named by no audit entry "
        "(inserted outside LeadGuard)"
    ]


def _show(ident: Any) -> str:
    return "/".join(map(str, ident)) if isinstance(ident, tuple) else str(ident)


def _current_rows(
    session: Session, mapper: Mapper[Any], idents: list[Any], problems: list[str]
) -> dict[Any, Any]:
    """Each existing row by its id, or None for one that cannot be read (and a named
    problem); one query per table (per chunk of ids)."""
    cls = mapper.class_
    pk = mapper.primary_key
    name = _table_name(mapper)
    out: dict[Any, Any] = {}
    if len(pk) != 1:  # composite keys: one lookup per row (no such table is recorded today)
        for ident in idents:
            row = session.get(cls, ident)
            if row is not None:
                out[ident] = row
        return out
    col = pk[0]
    key = mapper.get_property_by_column(col).key
    wanted = [i for i in idents if not isinstance(i, tuple)]
    for start in range(0, len(wanted), _CHUNK):
        part = wanted[start : start + _CHUNK]
        try:
            rows = list(session.scalars(select(cls).where(col.in_(part))))
        except (ValueError, TypeError):  # a damaged value in some row: find it row by row
            rows = []
            for ident in part:
                try:
                    row = session.scalars(select(cls).where(col == ident)).first()
                except (ValueError, TypeError) as exc:
                    problems.append(f"{name} row {ident} cannot be read: {exc}")
                    out[ident] = None
                    continue
                if row is not None:
                    rows.append(row)
        for row in rows:
            out[getattr(row, key)] = row
    return out


def named_records(details: Any) -> Iterator[tuple[tuple[str, Any], str | None]]:
    """The records an entry's details name, in order: ((table, id), the digest recorded,
    or None for a deletion). Malformed items are skipped (``check_records`` names them)."""
    if not isinstance(details, dict):
        return
    for listed, deleted in (("records", False), ("deleted_records", True)):
        items = details.get(listed)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("table"), str):
                sha = item.get("sha256")
                yield (item["table"], _key(item.get("id"))), None if deleted else sha


def acted_problems(rows: list[RawEntry]) -> list[str]:
    """Entries written by an account that was not as the entries before record it: its row
    (``acted_as``) or the login token it acted through (``acted_via``), each as it stood
    when the entry was written (this entry's own records apply first: a password change
    revokes the token it is made through). An account deactivated, demoted or given
    another password, or a revoked token, changed back in the database for a while, used,
    and put back again leaves these. Walked in chain order."""
    from leadguard.audit.log import ACTED_AS, ACTED_VIA

    state: dict[tuple[str, Any], str | None] = {}
    problems: list[str] = []
    for r in sorted(rows, key=lambda e: e.seq):
        details = r.details if isinstance(r.details, dict) else {}
        state.update(named_records(details))
        problems += _acted(r, details.get(ACTED_AS), ACTED_AS, "account's row", state)
        problems += _acted(r, details.get(ACTED_VIA), ACTED_VIA, "login token", state)
    return problems


def _acted(
    r: RawEntry, acted: Any, name: str, what: str, state: dict[tuple[str, Any], str | None]
) -> list[str]:
    if acted is None:
        return []
    if not isinstance(acted, dict) or not isinstance(acted.get("table"), str):
        return [f"entry {r.seq}: malformed {name}: {acted!r}"]
    where = (acted["table"], _key(acted.get("id")))
    if where not in state:
        return [
            f"entry {r.seq} was written by {r.actor!r} through {what} {_show(where[1])}, which "
            "no earlier entry records (inserted outside LeadGuard)"
        ]
    if state[where] != acted.get("sha256"):
        return [
            f"entry {r.seq} was written by {r.actor!r} while the {what} {_show(where[1])} was "
            "not as the entries before it record (changed outside LeadGuard, perhaps put "
            "back since)"
        ]
    return []
