"""Is a record as the audit log last recorded it? Checked where a record is acted on, not
only by ``verify`` afterwards.

``verify`` finds a record edited after the entry that names it, but only while the edit
stays. An insider who can write the database and cannot read the audit key could otherwise
insert a login token, let the server act on it as an administrator (each entry then has a
correct code) and delete the token; or swap a password hash or a role, log in, and put the
row back. Nothing would be left for ``verify`` to find. So the rows that decide who is
acting (an account, its login token) are compared, each time they are used, with the digest
that the latest entry naming them recorded; that entry's own hash and code are checked.

The latest entry naming a row is searched among those with the row's object (``user:NAME``
for accounts and their tokens) and a migration's baseline entries of its table
(``table:NAME``), then, for a row none of them names, among all entries. An entry from
before the key's adoption (it has no code) vouches only if unbroken hashes link it to the
adoption entry. Per process, a row's recorded digest is kept with the last entry searched,
so a later check reads only the entries written since.

The check reads entries by object, so an insider who changes the object of the newest entry
naming a row hides it here; ``verify`` still finds what was done meanwhile, because every
entry an account writes records that account's row as it stood (``log.ACTED_AS``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadguard.audit import keyed
from leadguard.audit import log as audit
from leadguard.audit.records import RawEntry, named_records, read_chain
from leadguard.storage.tables import AuditEntry


@dataclass
class Recorded:
    """What this process learnt of the log: for (table, id), the digest its latest entry
    records (None: its deletion) and the last sequence number searched."""

    rows: dict[tuple[str, Any], tuple[str | None, int]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _names(entry: RawEntry, table: str, ident: Any) -> tuple[bool, str | None]:
    """(whether the entry names the row, the digest it records: None for a deletion)."""
    found: tuple[bool, str | None] = (False, None)
    for where, sha in named_records(entry.details):
        if where == (table, ident):
            found = (True, sha if isinstance(sha, str) or sha is None else "")
    return found


def _latest(entries: list[RawEntry], table: str, ident: Any) -> tuple[RawEntry, str | None] | None:
    for entry in reversed(entries):
        named, sha = _names(entry, table, ident)
        if named:
            return entry, sha
    return None


def _entry_problem(session: Session, entry: RawEntry) -> str | None:
    """Why this entry cannot vouch for a row: unreadable, altered, without its code, or
    (written before the key was adopted, so without a code) not linked by unbroken hashes
    to the adoption entry, whose code holds."""
    if entry.problem:
        return f"audit entry {entry.seq} cannot be read ({entry.problem})"
    if audit.entry_hash(entry) != entry.hash:
        return f"audit entry {entry.seq} was altered after it was written"
    adopted = keyed.adopted_at(session) if keyed.session_key(session) is not None else None
    if adopted is None or entry.seq >= adopted:
        return keyed.local_problem(session, entry.seq, entry.hash)
    span = read_chain(session, (AuditEntry.seq >= entry.seq) & (AuditEntry.seq <= adopted))
    for before, after in pairwise(span):
        linked = after.seq == before.seq + 1 and after.prev_hash == before.hash
        if after.problem or not linked or audit.entry_hash(after) != after.hash:
            return (
                f"audit entry {entry.seq}, written before the key was adopted, is not linked "
                f"to the adoption (entry {adopted}) by unbroken hashes"
            )
    if not span or span[-1].seq != adopted:
        return f"audit entry {adopted}, the key's adoption, cannot be read"
    return keyed.local_problem(session, adopted, span[-1].hash)


def problem(session: Session, rows: list[Any], obj: str, known: Recorded) -> str | None:
    """Why these rows cannot be acted on (None: each is as the latest entry naming it
    records). ``obj``: the object of the entries that change them (a migration's baseline
    entries, ``table:NAME``, are read too)."""
    head = session.scalar(select(func.max(AuditEntry.seq))) or 0
    if not isinstance(head, int):
        return f"the audit log's last sequence number {head!r} is not a whole number"
    digests = [audit.row_digest(r) for r in rows]
    with known.lock:
        cached = {(d["table"], d["id"]): known.rows.get((d["table"], d["id"])) for d in digests}
    since = min((c[1] if c else 0) for c in cached.values())
    if since > head:
        return f"the audit log ends at entry {head}, before entry {since} that was read earlier"
    # the entries that change such rows, and a migration's baseline of their tables
    objects = {obj} | {f"table:{d['table']}" for d in digests}
    where = (AuditEntry.seq > since) & AuditEntry.object.in_(sorted(objects))
    recent = read_chain(session, where) if since < head else []  # nothing new: no query
    learnt: dict[tuple[str, Any], tuple[str | None, int]] = {}
    for d in digests:
        table, ident = d["table"], d["id"]
        before = cached[(table, ident)]
        found = _latest([e for e in recent if before is None or e.seq > before[1]], table, ident)
        if found is None and before is None:  # named only outside its object (a migration)
            found = _latest(read_chain(session, AuditEntry.seq <= head), table, ident)
        if found is not None:
            entry, sha = found
            if why := _entry_problem(session, entry):
                return why
            seen = f"audit entry {entry.seq}"
        elif before is None:
            return f"{table} row {ident} is named by no audit entry (inserted outside LeadGuard)"
        else:
            sha, seen = before[0], f"the audit log (up to entry {before[1]})"
        if sha != d["sha256"]:
            return f"{table} row {ident} is not as {seen} recorded it"
        learnt[(table, ident)] = (sha, head)
    with known.lock:
        known.rows.update(learnt)
    return None
