"""A record id no database integer holds (typed at a prompt or in a URL) is a record that
does not exist: a clear message from every command and route that takes one, never a
traceback or a 500, and the refusal is recorded like any other."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from leadguard.cli.main import app
from leadguard.server.app import create_app
from leadguard.services import accounts
from leadguard.services.casework import service as cw
from leadguard.services.context import Context
from tests.unit.accounts_kit import PW, north_desk

HUGE = "99999999999999999999999"
IDS = [HUGE, str(2**63), "0", "-5"]
COMMANDS = [
    ["request", "approve", "{id}"],
    ["request", "run", "{id}"],
    ["review", "packet", "{id}"],
    ["review", "reveal", "{id}"],
    ["lead", "outcome", "{id}", "--outcome", "refuted", "--details", "n"],
    ["lead", "brief", "{id}", "x"],
    ["report", "lead", "{id}", "--out", "{out}"],
]


@pytest.fixture()
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    c = north_desk(tmp_path / "ws", monkeypatch)
    sup = accounts.login(c, "sup", PW).actor
    cw.open_case(c, sup, "C-1", "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")
    return c


@pytest.mark.parametrize("ident", IDS[:3])  # "-5" reads as an option: a usage error
def test_every_command_names_a_missing_record(ctx: Context, tmp_path: Path, ident: str) -> None:
    runner = CliRunner()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "COLUMNS": "200"}
    ws = str(ctx.root)
    login = runner.invoke(app, ["login", "sup", "--password-stdin", "-w", ws], input=PW, env=env)
    assert login.exit_code == 0, login.output
    for cmd in COMMANDS:
        args = [a.format(id=ident, out=tmp_path / "r.pdf") for a in cmd]
        r = runner.invoke(app, [*args, "-w", ws], env=env)
        shown = " ".join(r.output.split())
        assert r.exit_code != 0, (cmd, shown)
        assert r.exception is None or isinstance(r.exception, SystemExit), (cmd, r.exception)
        assert "Traceback" not in r.output, (cmd, shown)
        assert "does not exist" in shown or "no such" in shown, (cmd, shown)


def test_every_route_names_a_missing_record(ctx: Context) -> None:
    api = create_app(ctx, secure_cookies=False, preload=False)
    with TestClient(api, raise_server_exceptions=False) as client:
        token = client.post("/api/login", json={"username": "sup", "password": PW}).json()
        auth = {"Authorization": f"Bearer {token['token']}"}
        for ident in IDS:
            for method, url in (
                ("POST", f"/api/requests/{ident}/approve"),
                ("POST", f"/api/requests/{ident}/run"),
                ("GET", f"/api/requests/{ident}/packet"),
                ("GET", f"/api/requests/{ident}/reveal"),
                ("GET", f"/api/requests/{ident}/probe"),
                ("POST", f"/api/leads/{ident}/outcome"),
            ):
                body = {"outcome": "refuted", "details": "n"} if "outcome" in url else None
                r = client.request(method, url, headers=auth, json=body)
                assert r.status_code in (400, 404, 422), (url, r.status_code, r.text)
            for cursor in ("before", "after"):
                r = client.get(f"/api/audit/page?{cursor}={ident}", headers=auth)
                assert r.status_code in (200, 422), (cursor, ident, r.status_code, r.text)
