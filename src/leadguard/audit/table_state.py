"""A derived table under the chain: one set digest per space, recorded at every change.

Some tables decide what LeadGuard says or fits but change in thousands of rows at once (the
look-alike counts: one enrollment raises most of them) or are written outside any record an
entry names (the evaluation cache: thousands of templates per run). Naming each row's hash
in an entry, as the chain does for records a change creates, would make entries as large as
the table. Instead each transaction that changes such a table appends a ``STATE`` entry (one
object per space) holding the multiset digest (``core.setdigest``) of the space's rows after
the change and how many rows there are. The digest is updated from the rows the change
replaced and wrote, starting from the **recorded** digest, never from one computed from the
table: a row edited before the change keeps the digest off, so a later change cannot adopt
it. ``audit verify`` recomputes each space's digest from its rows and compares it with the
latest entry's (``Tracked.check``).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import keyed
from leadguard.audit import log as audit
from leadguard.audit.records import read_chain
from leadguard.core import setdigest
from leadguard.storage.tables import AuditEntry

log = logging.getLogger(__name__)

NOT_BYTES = struct.pack("<Q", 2**64 - 1)  # in place of a length: a field holding no bytes


def fields(*parts: bytes) -> bytes:
    """Fields joined with a length before each, so that no edit can move bytes from one
    field into another and leave the record the same (with separators alone, a name ending
    in ``\\0`` plus the first bytes of the next field was the same record)."""
    return b"".join(struct.pack("<Q", len(p)) + p for p in parts)


def _value(v: Any) -> bytes:
    """A field with its type: a text or a number set by hand where bytes belong (SQLite
    keeps any type in any column) never hashes like the bytes of the same characters."""
    if v is None:
        return b"n"
    if isinstance(v, bytes | bytearray | memoryview):
        return b"b" + bytes(v)
    if isinstance(v, str):
        return b"s" + v.encode("utf-8", "surrogatepass")
    if isinstance(v, int) and not isinstance(v, bool):
        return b"i" + str(v).encode()
    return b"?" + repr(v).encode("utf-8", "backslashreplace")


def typed_record(space_key: str, row: tuple[Any, ...]) -> bytes:
    """A row as the digest hashes it: the space and every field, typed and length-prefixed."""
    return fields(_value(space_key), *(_value(v) for v in row))


@dataclass(frozen=True)
class State:
    digest: int
    rows: int
    seq: int | None = None  # the entry that recorded it (None: nothing recorded)


def parse(details: Any) -> State | None:
    """The state an entry's details record (None where they do not hold one)."""
    if not isinstance(details, Mapping):
        return None
    rows = details.get("rows")
    try:
        digest = setdigest.from_hex(str(details.get("digest", "")))
    except ValueError:
        return None
    if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
        return None
    return State(digest, rows)


@dataclass(frozen=True)
class Tracked:
    """One derived table kept under the chain. A row is a tuple whose first field names it
    (unique within a space: a template id, an image hash); ``record`` is the bytes the
    digest hashes for it."""

    action: str  # the state entries' action
    prefix: str  # their object is prefix + space key
    table: str  # as findings name it
    spaces: Callable[[Session], list[Any]]  # the space keys of the rows (as stored)
    rows: Callable[[Session, str], Iterator[tuple[Any, ...]]]  # a space's rows, as stored
    record: Callable[[str, tuple[Any, ...]], bytes]  # (space key, row) -> hashed bytes
    remedy: str  # what a finding tells the operator to do ("{space}": the space's key)

    def object_of(self, space_key: str) -> str:
        return f"{self.prefix}{space_key}"

    def recorded(self, session: Session, space_key: str) -> State:
        """The space's state as its latest entry records it (the empty table's where there
        is none, or where that entry cannot be read: ``verify`` says so)."""
        row = session.execute(
            select(AuditEntry.seq, AuditEntry.details)
            .where(AuditEntry.action == self.action, AuditEntry.object == self.object_of(space_key))
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).first()
        if row is None:
            return State(setdigest.EMPTY, 0)
        state = parse(row[1])
        seq = row[0] if isinstance(row[0], int) and not isinstance(row[0], bool) else None
        if state is None or seq is None:  # ``verify`` names the damaged entry
            log.warning("%s entry %r cannot be read; starting from empty", self.action, row[0])
            return State(setdigest.EMPTY, 0, seq)
        return replace(state, seq=seq)

    def trusted(self, session: Session, space_key: str) -> State | str:
        """The space's recorded state for a reader that acts on the rows (an evaluation, an
        enrollment), with its entry checked where it stands in the chain: its own hash, the
        entry before it and the one after (``verify`` walks the whole chain). A string says
        why the state cannot be trusted (an entry altered, damaged or out of place)."""
        obj = self.object_of(space_key)
        mine = read_chain(session, (AuditEntry.action == self.action) & (AuditEntry.object == obj))
        if not mine:
            return State(setdigest.EMPTY, 0)
        if bad := [r for r in mine if r.problem]:
            row = bad[0]
            return f"audit entry row id {row.row_id} ({self.action} of {obj}): {row.problem}"
        last = mine[-1]
        state = parse(last.details)
        if state is None:
            return f"audit entry {last.seq} ({self.action} of {obj}) cannot be read"
        if audit.entry_hash(last) != last.hash:
            return (
                f"audit entry {last.seq} ({self.action} of {obj}) was altered after it was written"
            )
        around = {
            r.seq: r
            for r in read_chain(session, AuditEntry.seq.in_([last.seq - 1, last.seq + 1]))
            if not r.problem
        }
        before, after = around.get(last.seq - 1), around.get(last.seq + 1)
        where = f"audit entry {last.seq} ({self.action} of {obj})"
        if before is None and last.seq != 1:
            return f"{where}: entry {last.seq - 1} before it is missing or damaged"
        if last.prev_hash != (before.hash if before is not None else audit.GENESIS):
            return f"{where} does not follow the entry before it (inserted or reordered)"
        if after is not None and after.prev_hash != last.hash:
            return f"{where}: the entry after it does not follow it (altered or inserted)"
        if why := keyed.local_problem(session, last.seq, last.hash):
            return f"{where}: {why}"
        return replace(state, seq=last.seq)

    def record_change(
        self,
        session: Session,
        space_key: str,
        why: str,
        added: Iterable[tuple[Any, ...]] = (),
        removed: Iterable[tuple[Any, ...]] = (),
    ) -> State:
        """Append the state after a change that wrote ``added`` rows and replaced or deleted
        ``removed`` ones (their contents before the change), in the change's transaction."""
        added, removed = list(added), list(removed)
        before = self.recorded(session, space_key)
        digest = setdigest.update(
            before.digest,
            (self.record(space_key, r) for r in added),
            (self.record(space_key, r) for r in removed),
        )
        had, now = {r[0] for r in removed}, {r[0] for r in added}
        rows = before.rows + len(now - had) - len(had - now)
        return self._append(session, space_key, why, State(digest, rows))

    def record_rows(
        self, session: Session, space_key: str, why: str, rows: Iterable[tuple[Any, ...]]
    ) -> State:
        """Append the state of a space whose rows a change replaced with ``rows`` (a clearing,
        a rebuild): computed from what was written, never read back, so that rows put in
        meanwhile by anything else (a trigger created by hand) stay a finding."""
        return self._append(session, space_key, why, self.of_rows(space_key, rows))

    def record_table(self, session: Session, space_key: str, why: str) -> State:
        """Append the state of the space's rows as they stand (a migration adopting rows
        written before it)."""
        return self._append(session, space_key, why, self.of_table(session, space_key))

    def _append(self, session: Session, space_key: str, why: str, state: State) -> State:
        session.flush()
        entry = audit.append(
            session,
            self.action,
            self.object_of(space_key),
            {"why": why, "rows": state.rows, "digest": setdigest.to_hex(state.digest)},
        )
        return replace(state, seq=entry.seq)

    def of_rows(self, space_key: str, rows: Iterable[tuple[Any, ...]]) -> State:
        """The digest and count of these rows of a space."""
        n = 0

        def records() -> Iterable[bytes]:
            nonlocal n
            for row in rows:
                n += 1
                yield self.record(space_key, row)

        digest = setdigest.of(records())
        return State(digest, n)

    def of_table(self, session: Session, space_key: str) -> State:
        """The digest and row count of the space's rows as they stand."""
        return self.of_rows(space_key, self.rows(session, space_key))

    def finding(self, space_key: str, want: State, now: State) -> str | None:
        """What is wrong where a space's rows (``now``) are not the recorded ones (``want``;
        ``seq`` None where no entry records the space), or None."""
        if now.digest == want.digest:
            return None
        remedy = self.remedy.format(space=space_key)
        if want.seq is None:
            return (
                f"{self.table} rows of space {space_key}: {now.rows} rows that no audit entry"
                f" records (written outside LeadGuard); {remedy}"
            )
        changed = (
            f"{now.rows} rows where it records {want.rows}"
            if now.rows != want.rows
            else f"{now.rows} rows, as recorded, but their contents differ"
        )
        return (
            f"{self.table} rows of space {space_key} are not those audit entry {want.seq}"
            f" records ({changed}): changed outside LeadGuard; {remedy}"
        )

    def check(self, session: Session, latest: Mapping[str, tuple[int, Any]]) -> list[str]:
        """``audit verify``'s findings: for every space with rows or a recorded state, the
        rows as they stand against the latest entry (``latest``: object -> (seq, details),
        from the chain as read; objects of other prefixes are ignored)."""
        stored = self.spaces(session)
        problems = [
            f"{self.table} rows whose space key is {key!r}, not text: written outside LeadGuard"
            for key in stored
            if not isinstance(key, str)
        ]
        spaces = {key for key in stored if isinstance(key, str)}
        spaces |= {o[len(self.prefix) :] for o in latest if o.startswith(self.prefix)}
        for key in sorted(spaces):
            want = State(setdigest.EMPTY, 0)  # no entry: the empty table's
            if (entry := latest.get(self.object_of(key))) is not None:
                if (parsed := parse(entry[1])) is None:
                    problems.append(
                        f"{self.table} rows of space {key}: audit entry {entry[0]} cannot be read"
                    )
                    continue
                want = replace(parsed, seq=entry[0])
            if found := self.finding(key, want, self.of_table(session, key)):
                problems.append(found)
        return problems
