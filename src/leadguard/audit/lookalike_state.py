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

from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from leadguard.audit.table_state import NOT_BYTES, State, Tracked, fields
from leadguard.storage import lookalike_queries as laq

ACTION = "lookalikes.state"
TABLE = "lookalike_counts"

Row = tuple[int, str, bytes]  # (template id, grid name, counts bytes)


def _record(space_key: str, row: tuple[Any, ...]) -> bytes:
    """One row as the digest hashes it: every field length-prefixed; counts that are not
    bytes (a text or a number set by hand in SQLite) marked as such."""
    template_id, grid, counts = row
    head = fields(
        str(template_id).encode(), space_key.encode(), grid.encode("utf-8", "surrogateescape")
    )
    return head + (NOT_BYTES if counts is None else fields(counts))


TRACKED = Tracked(
    action=ACTION,
    prefix="lookalikes:",
    table=TABLE,
    spaces=laq.lookalike_spaces,
    rows=laq.iter_space_rows,
    record=_record,
    remedy=(
        "`leadguard gallery check` names the rows, `leadguard gallery rebuild` recomputes"
        " them (audited)"
    ),
)


def object_of(space_key: str) -> str:
    return TRACKED.object_of(space_key)


def recorded(session: Session, space_key: str) -> State:
    """The space's state as the latest ``lookalikes.state`` entry records it."""
    return TRACKED.recorded(session, space_key)


def record_change(
    session: Session,
    space_key: str,
    why: str,
    added: Iterable[Row] = (),
    removed: Iterable[Row] = (),
) -> State:
    """Append the state after a change that wrote ``added`` rows and replaced or deleted
    ``removed`` ones (their contents before the change), in the change's transaction."""
    return TRACKED.record_change(session, space_key, why, added, removed)


def record_rows(session: Session, space_key: str, why: str, rows: Iterable[Row]) -> State:
    """Append the state of a space whose rows a rebuild replaced with ``rows`` (as written,
    not read back)."""
    return TRACKED.record_rows(session, space_key, why, rows)


def record_table(session: Session, space_key: str, why: str) -> State:
    """Append the state of the space's rows as they stand (a migration adopting rows
    written before it)."""
    return TRACKED.record_table(session, space_key, why)


def of_table(session: Session, space_key: str) -> State:
    """The digest and row count of the space's rows as they stand."""
    return TRACKED.of_table(session, space_key)
