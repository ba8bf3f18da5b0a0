"""A trigger created by hand runs inside LeadGuard's transactions, after the values it
hashes are known. A red-team pass kept an enrollment failure in place through
``enroll --retry-failed`` with one (the clearing recorded the table as read back). Now a
clearing records what it meant (no rows), and ``audit verify`` names every trigger that
LeadGuard did not create. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from leadguard.audit import failures_state
from leadguard.audit import log as audit
from leadguard.face_models import model_space
from leadguard.storage import failure_queries
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace

pytestmark = pytest.mark.usefixtures("database")

VICTIM = "e" * 64
KEEP = {
    "sqlite": [
        "CREATE TRIGGER keep_it AFTER DELETE ON enroll_failures BEGIN INSERT INTO "
        "enroll_failures (sha256, space_key, source_path, reason_code, message, created_at) "
        f"VALUES ('{VICTIM}', old.space_key, 'x', 'no_face', 'no face', '2026-01-01'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION keep_it() RETURNS trigger AS $$ BEGIN INSERT INTO enroll_failures "
        "(sha256, space_key, source_path, reason_code, message, created_at) VALUES "
        f"('{VICTIM}', 'k', 'x', 'no_face', 'no face', now()) ON CONFLICT DO NOTHING; "
        "RETURN NULL; END; $$ LANGUAGE plpgsql",
        "CREATE TRIGGER keep_it AFTER DELETE ON enroll_failures FOR EACH STATEMENT "
        "EXECUTE FUNCTION keep_it()",
    ],
}


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = Workspace.init(tmp_path / "ws")
    yield w
    w.close()


def _problems(ws: Workspace) -> tuple[str, ...]:
    with ws.session() as s:
        return audit.verify(s).record_problems


def test_leadguards_own_triggers_are_no_finding(ws: Workspace) -> None:
    assert _problems(ws) == ()


def test_a_trigger_that_keeps_a_failure_through_a_clearing_is_found(ws: Workspace) -> None:
    key = model_space(ws.settings).key
    with ws.session() as s:  # a failure, recorded as an enrollment batch records it
        before = failure_queries.failure_rows_of(s, key, ["d" * 64])
        repo.save_failure(s, "d" * 64, key, "/g/wall.png", "no_face", "no face found")
        s.flush()
        failures_state.record_batch(
            s, key, before, failure_queries.failure_rows_of(s, key, ["d" * 64])
        )
    assert _problems(ws) == ()
    with ws.engine.begin() as conn:
        for statement in KEEP[ws.engine.dialect.name]:
            conn.execute(text(statement.replace("'k'", f"'{key}'")))
    found = _problems(ws)
    assert len(found) == 1 and found[0].startswith("database trigger 'keep_it' on table"), found
    with ws.session() as s:  # `enroll --retry-failed`: the clearing records no rows
        failures_state.clear(s, key)
    with ws.engine.begin() as conn:  # the trigger dropped again, its row left behind
        conn.execute(
            text(
                "DROP TRIGGER keep_it"
                + (" ON enroll_failures" if ws.engine.dialect.name == "postgresql" else "")
            )
        )
    found = _problems(ws)
    assert len(found) == 1 and "enroll_failures rows of space" in found[0], found
    assert "1 rows where it records 0" in found[0]
