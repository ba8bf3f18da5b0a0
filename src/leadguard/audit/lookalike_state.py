"""The look-alike counts under the chain: one set digest per space, recorded at every change.

The counts (``lookalike_counts``) are derived from the templates, but what a list says about
a candidate ("resembles N other enrolled people at least as closely") is read from them, so
an edit of the table changes testimony. They cannot be named row by row like the records a
change creates: one enrollment raises the counts of most enrolled templates. Instead each
transaction that changes them (an enrollment batch, a removal or expungement, a rebuild)
appends a ``lookalikes.state`` entry holding the multiset digest (``core.setdigest``) of the
space's rows after the change and how many rows there are. The digest is updated from the
rows the change replaced and wrote, starting from the **recorded** digest, never from one
computed from the table: a row edited before the change keeps the digest off, so a later
enrollment cannot adopt it. ``audit verify`` recomputes each space's digest from its rows and
compares it with the latest entry's.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core import setdigest
from leadguard.storage import lookalike_queries as laq
from leadguard.storage.tables import AuditEntry

log = logging.getLogger(__name__)

ACTION = "lookalikes.state"
TABLE = "lookalike_counts"

Row = tuple[int, str, bytes]  # (template id, grid name, counts bytes)


def object_of(space_key: str) -> str:
    return f"lookalikes:{space_key}"


_NOT_BYTES = struct.pack("<Q", 2**64 - 1)  # in place of a length: the counts are no bytes


def _record(space_key: str, row: tuple[int, str, bytes | None]) -> bytes:
    """One row as the digest hashes it: every field length-prefixed, so that no edit can
    move bytes from one field into another and leave the record the same (a grid name
    ending in ``\0`` plus the first bytes of the counts was, with separators alone)."""
    template_id, grid, counts = row
    head = (str(template_id).encode(), space_key.encode(), grid.encode())
    out = b"".join(struct.pack("<Q", len(p)) + p for p in head)
    return out + (_NOT_BYTES if counts is None else struct.pack("<Q", len(counts)) + counts)


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


def recorded(session: Session, space_key: str) -> State:
    """The space's state as the latest ``lookalikes.state`` entry records it (the empty
    table's where there is none, or where that entry cannot be read: ``verify`` says so)."""
    row = session.execute(
        select(AuditEntry.seq, AuditEntry.details)
        .where(AuditEntry.action == ACTION, AuditEntry.object == object_of(space_key))
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return State(setdigest.EMPTY, 0)
    state = parse(row[1])
    if state is None:
        log.warning("look-alike state entry %s cannot be read; starting from empty", row[0])
        return State(setdigest.EMPTY, 0, int(row[0]))
    return replace(state, seq=int(row[0]))


def record_change(
    session: Session,
    space_key: str,
    why: str,
    added: Iterable[Row] = (),
    removed: Iterable[Row] = (),
) -> State:
    """Append the state after a change that wrote ``added`` rows and replaced or deleted
    ``removed`` ones (their contents before the change), in the change's transaction."""
    added, removed = list(added), list(removed)
    before = recorded(session, space_key)
    digest = setdigest.update(
        before.digest,
        (_record(space_key, r) for r in added),
        (_record(space_key, r) for r in removed),
    )
    had, now = {r[0] for r in removed}, {r[0] for r in added}
    rows = before.rows + len(now - had) - len(had - now)
    return _append(session, space_key, why, State(digest, rows))


def record_table(session: Session, space_key: str, why: str) -> State:
    """Append the state of the space's rows as they stand (after a rebuild, which recomputes
    every row from the templates, or a migration adopting rows written before)."""
    return _append(session, space_key, why, of_table(session, space_key))


def _append(session: Session, space_key: str, why: str, state: State) -> State:
    session.flush()
    entry = audit.append(
        session,
        ACTION,
        object_of(space_key),
        {"why": why, "rows": state.rows, "digest": setdigest.to_hex(state.digest)},
    )
    return replace(state, seq=entry.seq)


def of_table(session: Session, space_key: str) -> State:
    """The digest and row count of the space's rows as they stand."""
    n = 0

    def records() -> Iterable[bytes]:
        nonlocal n
        for row in laq.iter_space_rows(session, space_key):
            n += 1
            yield _record(space_key, row)

    digest = setdigest.of(records())
    return State(digest, n)


def check(session: Session, latest: Mapping[str, tuple[int, Any]]) -> list[str]:
    """``audit verify``'s findings: for every space with rows or a recorded state, the rows
    as they stand against the latest entry (``latest``: object -> (seq, details), from the
    chain as read)."""
    spaces = set(laq.lookalike_spaces(session))
    prefix = object_of("")
    spaces |= {obj[len(prefix) :] for obj in latest if obj.startswith(prefix)}
    problems: list[str] = []
    for key in sorted(spaces):
        entry = latest.get(object_of(key))
        now = of_table(session, key)
        if entry is None:
            problems.append(
                f"{TABLE} rows of space {key}: {now.rows} rows that no audit entry records"
                " (written outside LeadGuard)"
            )
            continue
        seq, details = entry
        want = parse(details)
        if want is None:
            problems.append(f"{TABLE} rows of space {key}: audit entry {seq} cannot be read")
        elif want.digest != now.digest:
            changed = (
                f"{now.rows} rows where it records {want.rows}"
                if now.rows != want.rows
                else f"{now.rows} rows, as recorded, but their contents differ"
            )
            problems.append(
                f"{TABLE} rows of space {key} are not those audit entry {seq} records"
                f" ({changed}): changed outside LeadGuard; `leadguard gallery check` names"
                " the rows, `leadguard gallery rebuild` recomputes them (audited)"
            )
    return problems
