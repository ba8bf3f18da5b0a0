"""The database's triggers: LeadGuard's own, and any other.

A trigger runs inside LeadGuard's own transactions, after the values it hashes are known: a
trigger created by hand could re-insert a row that LeadGuard just deleted, or change one it
just wrote. LeadGuard creates three (migration 0010: the gallery generation counter), and
``audit verify`` names every other (``audit.log.verify``).
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

OWN = frozenset(f"templates_{event}_bump" for event in ("insert", "update", "delete"))

_PG = (
    "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
)
_SQLITE = "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'"


def foreign_triggers(session: Session) -> list[tuple[str, str]]:
    """(name, table) of every trigger LeadGuard did not create."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    rows = session.execute(text(_SQLITE if sqlite else _PG)).all()
    return sorted((str(name), str(table)) for name, table in rows if name not in OWN)
