"""The schema's revision, recorded in the audit chain, so that setting it back is refused.

A migration that brings a table under the chain (``audit.baseline``) names its rows as they
stand. Without a record of which revisions already ran, ``UPDATE alembic_version SET
version_num = '0017'`` would make the next command re-run such a migration, and rows edited
or inserted by hand would be adopted as if they had always been there. So every upgrade that
changes the revision appends a ``schema.upgrade`` entry (from, to), and an upgrade refuses to
start from a revision below the one the chain records (a baseline entry's revision counts
too: those were written before this record existed). An operator's ``alembic downgrade``
through LeadGuard's migrations is recorded as ``schema.downgrade``: allowed, and on record;
the baselines of the upgrade after it adopt rows as they then stand, which the log shows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, inspect, select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.errors import WorkspaceError
from leadguard.storage.tables import AuditEntry

ACTION = "schema.upgrade"
DOWN = "schema.downgrade"  # an operator's ``alembic downgrade``: on record, visible
ACTOR = "migration"


def _number(revision: Any) -> int | None:
    return int(revision) if isinstance(revision, str) and revision.isdigit() else None


def recorded(conn: Connection) -> tuple[int, str] | None:
    """(entry, revision): where the chain says this database's schema stands. The newest
    ``schema.upgrade`` or ``schema.downgrade`` entry says it; before those were written,
    the newest revision of a migration's baseline entries."""
    if "audit_log" not in inspect(conn).get_table_names():
        return None
    t = AuditEntry.__table__
    actions = (ACTION, DOWN, "audit.baseline")
    rows = conn.execute(select(t.c.seq, t.c.action, t.c.details).where(t.c.action.in_(actions)))
    moved: tuple[int, str] | None = None
    baseline: tuple[int, int, str] | None = None
    for seq, action, details in sorted(rows, key=lambda r: int(r[0])):
        d = details if isinstance(details, dict) else {}
        if action in (ACTION, DOWN):
            moved = (int(seq), str(d.get("to")))
            continue
        n = _number(d.get("revision"))
        if n is not None and (baseline is None or n > baseline[0]):
            baseline = (n, int(seq), str(d["revision"]))
    if moved is not None:
        return moved
    return (baseline[1], baseline[2]) if baseline else None


def refuse_if_set_back(conn: Connection, current: str | None) -> None:
    """Refuse to migrate a database whose revision is older than its own chain says."""
    newest = recorded(conn)
    if newest is None:
        return
    seq, revision = newest
    now, then = _number(current), _number(revision)
    if then is not None and (now is None or now < then):
        raise WorkspaceError(
            f"the database's schema revision is {current or 'none'}, but audit entry {seq} "
            f"records revision {revision}: the revision was set back outside LeadGuard. "
            "Nothing was migrated; restore the database from a backup and run "
            "`leadguard audit verify` with an anchor"
        )


def record(
    conn: Connection, before: str | None, after: str | None, info: dict[str, Any] | None = None
) -> None:
    """Append the entry of a migration run that changed the revision (a downgrade to an
    empty schema leaves no log to write in). ``info``: the workspace's session info (its
    audit key), used where the schema reached has ``audit_macs``."""
    tables = inspect(conn).get_table_names()
    if after == before or "audit_log" not in tables:
        return
    down = after is None or (_number(before) or 0) > (_number(after) or 0)
    session = Session(bind=conn, info=dict(info or {}) if "audit_macs" in tables else {})
    audit.append(
        session, DOWN if down else ACTION, "schema", {"from": before, "to": after}, actor=ACTOR
    )
    session.flush()
