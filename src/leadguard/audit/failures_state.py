"""The enrollment failures under the chain: one set digest per space (``audit.table_state``).

``enroll_failures`` holds, per space, the images that failed to enroll and why; a later
``enroll`` skips them ("failed before"). A row inserted by hand would keep a person's photo
out of the gallery, with a reason the inserter wrote, and the searches of that person would
list look-alikes instead. So each enrollment batch that writes or deletes failure rows, and
``enroll --retry-failed`` (which clears a space's rows before it retries them), appends an
``enroll.failures.state`` entry with the digest of the space's rows after it. ``audit
verify`` compares the rows with it, and an enrollment whose space's rows are not those the
chain records skips none of them: it retries every image and says why.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from leadguard.audit.table_state import State, Tracked, typed_record
from leadguard.storage import failure_queries as fq

ACTION = "enroll.failures.state"
TABLE = "enroll_failures"

TRACKED = Tracked(
    action=ACTION,
    prefix="enroll_failures:",
    table=TABLE,
    spaces=fq.failure_spaces,
    rows=fq.iter_failure_rows,
    record=typed_record,
    remedy=(
        "`leadguard enroll SOURCE --retry-failed` clears the space's failures (audited) and"
        " retries them"
    ),
)


def finding(session: Session, space_key: str) -> str | None:
    """What is wrong with a space's failure rows against the chain (and their latest entry
    where it stands in the chain), or None."""
    want = TRACKED.trusted(session, space_key)
    if isinstance(want, str):
        return f"the failures of space {space_key} cannot be checked: {want}"
    return TRACKED.finding(space_key, want, TRACKED.of_table(session, space_key))


def record_batch(
    session: Session, space_key: str, before: list[Any], after: list[Any]
) -> State | None:
    """After a batch changed these images' failure rows from ``before`` to ``after``."""
    if before == after:
        return None
    return TRACKED.record_change(session, space_key, "enroll", added=after, removed=before)


def clear(session: Session, space_key: str) -> int:
    """Delete a space's failure rows (``--retry-failed``) and record the empty table, where
    there were rows or a recorded state; returns rows deleted."""
    n = fq.delete_space_failures(session, space_key)
    if n or TRACKED.recorded(session, space_key).seq is not None:
        TRACKED.record_rows(session, space_key, "retry-failed", [])  # what was meant: none
    return n
