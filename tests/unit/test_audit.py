"""The audit log's hash chain catches an edited, deleted, inserted and reordered entry
(tampering done directly in the database, as an insider would)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from leadguard.audit import log as audit
from leadguard.storage.workspace import Workspace

pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.init(tmp_path / "ws")
    with w.session() as s:
        for i in range(1, 6):
            audit.append(s, "search", f"search:{i}", {"n": i}, actor="examiner-a")
    return w


def check(ws: Workspace) -> audit.ChainCheck:
    with ws.session() as s:
        return audit.verify(s)


def sql(ws: Workspace, statement: str) -> None:
    with ws.engine.begin() as conn:
        conn.execute(text(statement))


def test_an_untouched_chain_is_intact(ws: Workspace) -> None:
    c = check(ws)
    assert c.intact and c.entries == 6  # the schema's entry (written at init) and five


def test_an_edited_entry_is_named(ws: Workspace) -> None:
    sql(ws, "UPDATE audit_log SET details = '{\"n\": 99}' WHERE seq = 3")
    c = check(ws)
    assert c.broken_at == 3 and "altered" in c.reason
    sql(ws, "UPDATE audit_log SET details = '{\"n\": 2}' WHERE seq = 3")  # as it was
    assert check(ws).intact
    sql(ws, "UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2")
    assert check(ws).broken_at == 2


def test_a_deleted_entry_is_named(ws: Workspace) -> None:
    sql(ws, "DELETE FROM audit_log WHERE seq = 2")
    c = check(ws)
    assert c.broken_at == 2 and "deleted" in c.reason


def test_an_inserted_entry_is_named(ws: Workspace) -> None:
    # make room after entry 2 and slip a forged entry in, with a well-formed hash of its own
    sql(ws, "UPDATE audit_log SET seq = seq + 100 WHERE seq > 2")
    sql(ws, "UPDATE audit_log SET seq = seq - 99 WHERE seq > 100")
    forged = audit.content_hash("f" * 64, 3, "2026-01-01T00:00:00+00:00", "x", "search", "o", {})
    sql(
        ws,
        "INSERT INTO audit_log (seq, at, actor, action, object, details, prev_hash, hash) "
        f"VALUES (3, '2026-01-01T00:00:00+00:00', 'x', 'search', 'o', '{{}}', '{'f' * 64}', "
        f"'{forged}')",
    )
    c = check(ws)
    assert c.broken_at == 3 and "inserted or reordered" in c.reason


def test_reordered_entries_are_named(ws: Workspace) -> None:
    sql(ws, "UPDATE audit_log SET seq = 100 WHERE seq = 2")
    sql(ws, "UPDATE audit_log SET seq = 2 WHERE seq = 4")
    sql(ws, "UPDATE audit_log SET seq = 4 WHERE seq = 100")
    c = check(ws)
    assert c.broken_at == 2 and "inserted or reordered" in c.reason


def test_an_entry_rolls_back_with_its_change(ws: Workspace) -> None:
    with pytest.raises(RuntimeError), ws.session() as s:
        audit.append(s, "gallery_remove", "subject:x", {})
        raise RuntimeError("the change failed")
    assert check(ws).entries == 6


def test_export_carries_the_chain(ws: Workspace) -> None:
    with ws.session() as s:
        rows = list(audit.export(s, "search:3"))
        everything = list(audit.export(s))
    assert [r["object"] for r in rows] == ["search:3"]
    prev = audit.GENESIS
    for r in everything:  # a recipient can recompute every hash from the export alone
        h = audit.content_hash(
            prev, r["seq"], r["at"], r["actor"], r["action"], r["object"], r["details"]
        )
        assert r["prev_hash"] == prev and r["hash"] == h
        prev = h


def test_an_entry_records_the_content_hash_of_the_rows_it_names(tmp_path: Path) -> None:
    from leadguard.storage.tables import AuditEntry, User

    w = Workspace.init(tmp_path / "ws2")
    with w.session() as s:
        u = User(username="ana", password_hash="x", role="examiner", active=True)
        s.add(u)
        e = audit.append(s, "user_added", "user:ana", {}, actor="admin", records=[u])
        rec = e.details["records"][0]
        assert rec["table"] == "users" and rec["id"] == u.id
        assert rec == audit.row_digest(u)
        u.role = "supervisor"
        s.flush()
        assert audit.row_digest(u)["sha256"] != rec["sha256"]
        assert s.get(AuditEntry, e.id) is not None
