"""Migration 0011: failed-login counters move out of the hashed accounts (data kept), and
the rows the chain now covers are named by baseline entries, so an upgraded workspace
verifies; down and up again keeps the counters."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from leadguard.audit import log as audit
from leadguard.services import accounts
from leadguard.services.authz import NotAllowed
from leadguard.services.casework import service as cw
from leadguard.services.context import Context
from leadguard.storage import db
from leadguard.storage.tables import AuditEntry, LoginState
from leadguard.storage.workspace import Workspace
from tests.unit.accounts_kit import cheap_hashing

pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL

PW = "correct horse battery staple"


@pytest.fixture(autouse=True)
def _cheap_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_hashing(monkeypatch)


def test_an_upgraded_workspace_keeps_its_counters_and_verifies(tmp_path: Path) -> None:
    ctx = Context(Workspace.init(tmp_path / "ws"))
    accounts.add_user(ctx, None, "admin", PW, "admin")
    admin = accounts.login(ctx, "admin", PW).actor
    accounts.add_user(ctx, admin, "ex1", PW, "examiner")
    accounts.add_user(ctx, admin, "sup", PW, "supervisor")
    sup = accounts.login(ctx, "sup", PW).actor  # a case: JSON, date and time columns
    attrs = {"height_cm": 180, "notes": "tattoo, left arm"}
    cw.open_case(ctx, sup, "C-1", "Robbery", date(2026, 3, 1), "d", attrs, "Det. R", "w")
    cw.assign(ctx, sup, "C-1", "ex1")
    for _ in range(3):
        with pytest.raises(NotAllowed):
            accounts.login(ctx, "ex1", "wrong password, again")
    url = ctx.ws.engine.url.render_as_string(hide_password=False)
    ctx.close()

    engine = db.make_engine(url)
    cfg = db.alembic_config(db.redact(url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
    with engine.begin() as conn:  # as revision 0010 kept them: on the hashed account row
        assert conn.execute(text("SELECT failed_logins FROM users WHERE id = 2")).scalar() == 3
        assert "login_state" not in inspect(conn).get_table_names()
        conn.execute(text("UPDATE users SET failed_logins = 4 WHERE id = 2"))
    engine.dispose()

    ws = Workspace.open(tmp_path / "ws")  # upgraded when opened
    with ws.session() as s:
        state = s.get(LoginState, 2)
        assert state is not None and state.failed_logins == 4
        baseline = s.scalars(select(AuditEntry).where(AuditEntry.action == "audit.baseline"))
        tables = {e.object for e in baseline}
        assert {"table:users", "table:auth_tokens", "table:cases"} <= tables
        check = audit.verify(s)
    assert check.intact, (check.reason, check.record_problems)
    with ws.engine.begin() as conn:
        conn.execute(text("UPDATE users SET role = 'admin' WHERE id = 2"))
    with ws.session() as s:
        assert any("users row 2 was changed" in p for p in audit.verify(s).record_problems)
    ws.close()
