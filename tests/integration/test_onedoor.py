"""One door, through the command line: once a workspace has an account, nothing reads or
changes gallery or casework data without a login and the right role; a search runs only
from an approved request or as an audited supervisor override."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadguard.cli.main import app
from tests.integration.conftest import write_manifest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("database")]  # SQLite, PG
PW = "correct horse battery staple"
runner = CliRunner()


def run(ws: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    res = runner.invoke(app, [*args, "-w", str(ws)], input=stdin, env=env)
    return res.exit_code, res.output


def test_one_door(tmp_path: Path, johns_split, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    enrolled, probes = johns_split
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    rows = [r for r in enrolled if r[1] in (probes[0][1], probes[1][1])]
    code, out = run(ws, "enroll", str(write_manifest(tmp_path / "m.csv", rows)), "--workers", "1")
    assert code == 0, out
    probe = str(probes[0][0])

    code, out = run(ws, "search", probe, "--source-type", "other")
    assert code == 0 and "UNPROTECTED WORKSPACE" in out  # no accounts: said on every search

    code, out = run(ws, "user", "add", "admin", "--role", "admin", "--password-stdin", stdin=PW)
    assert code == 0, out
    code, out = run(ws, "search", probe, "--source-type", "other")
    assert code == 2 and "approved request" in out
    for args in (("searches",), ("gallery", "stats"), ("gallery", "remove", probes[1][1])):
        code, out = run(ws, *args)
        assert code == 2 and "needs a login" in out, args

    code, out = run(ws, "login", "admin", "--password-stdin", stdin=PW)
    assert code == 0, out
    tokens = tmp_path / "config" / "leadguard" / "sessions.json"
    assert stat.S_IMODE(os.stat(tokens).st_mode) == 0o600
    assert PW not in tokens.read_text()
    code, out = run(ws, "searches")
    assert code == 0
    code, out = run(ws, "search", probe, "--source-type", "other")
    assert code == 2 and "approved request" in out  # an admin does no casework
    for name, role in (("sup", "supervisor"), ("ex1", "examiner")):
        code, out = run(
            ws,
            "user",
            "add",
            name,
            "--role",
            role,
            "--unit",
            "north",
            "--password-stdin",
            stdin=PW,
        )
        assert code == 0, out
    code, out = run(ws, "user", "list", "--json")
    assert {u["username"] for u in json.loads(out)} == {"admin", "sup", "ex1"}

    code, out = run(ws, "login", "sup", "--password-stdin", stdin=PW)
    assert code == 0
    code, out = run(
        ws,
        "case",
        "open",
        "C-9",
        "--offence",
        "robbery",
        "--incident-date",
        "2026-01-05",
        "--description",
        "d",
        "--officer",
        "o",
        "--authority",
        "warrant",
    )
    assert code == 0, out
    code, out = run(ws, "search", probe, "--source-type", "other", "--urgent", "--case", "C-9")
    assert code == 2 and "--reason" in out
    code, out = run(
        ws,
        "search",
        probe,
        "--source-type",
        "other",
        "--urgent",
        "--case",
        "C-9",
        "--reason",
        "child abduction in progress",
        "--json",
    )
    assert code == 0, out
    data = json.loads(out)
    assert data["notices"][0].startswith("URGENT OVERRIDE by sup on case C-9")
    code, out = run(ws, "case", "show", "C-9")
    assert code == 0 and "C-9" in out

    code, out = run(ws, "login", "ex1", "--password-stdin", stdin=PW)
    code, out = run(
        ws,
        "search",
        probe,
        "--source-type",
        "other",
        "--urgent",
        "--case",
        "C-9",
        "--reason",
        "x",
    )
    assert code == 2 and "may not search.override" in out

    code, out = run(ws, "searches", env={"LEADGUARD_TARGET_FPIR": "0.05"})
    assert code == 2 and "LEADGUARD_TARGET_FPIR" in out

    code, out = run(ws, "login", "admin", "--password-stdin", stdin=PW)
    code, out = run(ws, "audit", "export", "C-9", "--out", str(tmp_path / "c9.jsonl"))
    assert code == 2 and "may not audit.read" in out
    code, out = run(ws, "login", "sup", "--password-stdin", stdin=PW)
    code, out = run(ws, "audit", "export", "C-9", "--out", str(tmp_path / "c9.jsonl"))
    assert code == 0, out
    trail = [json.loads(x) for x in (tmp_path / "c9.jsonl").read_text().splitlines()]
    override = [e for e in trail if e["action"] == "search.override"]
    assert override and override[0]["details"]["flagged_for_review"] is True
    refused = [e for e in trail if e["action"] == "refused"]
    assert any(e["actor"] == "ex1" and e["details"]["refused"] == "search" for e in refused)

    code, out = run(ws, "logout")
    assert code == 0
    code, out = run(ws, "case", "list")
    assert code == 2 and "needs a login" in out


def test_unprotected_mode_can_be_forbidden(tmp_path: Path, johns) -> None:
    ws = tmp_path / "w"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    settings = ws / "leadguard.toml"  # kept: it may name the database (PostgreSQL)
    settings.write_text(settings.read_text() + "allow_unprotected = false\n")
    code, out = run(ws, "search", str(johns.mated_probes[0][0]), "--source-type", "other")
    assert code == 2 and "allow_unprotected is false" in out


def test_a_failed_search_commits_its_probe_log_row_and_audit(tmp_path: Path, johns) -> None:
    from PIL import Image
    from sqlalchemy import func, select

    from leadguard.audit import log as audit
    from leadguard.core.errors import NoFace
    from leadguard.services.context import Context
    from leadguard.services.search import SearchRequest, search
    from leadguard.storage.tables import AuditEntry, ProbeRecord, SearchLog

    blank = tmp_path / "blank.png"
    Image.new("RGB", (320, 320), (90, 100, 110)).save(blank)
    ctx = Context(johns.ws)

    def count(table: type) -> int:
        with ctx.session() as s:
            return int(s.scalar(select(func.count()).select_from(table)) or 0)

    before = (count(ProbeRecord), count(SearchLog), count(AuditEntry))
    with pytest.raises(NoFace):
        search(ctx, None, SearchRequest(blank, "other"))
    after = (count(ProbeRecord), count(SearchLog), count(AuditEntry))
    assert after[0] == before[0] + 1 and after[1] == before[1] + 1
    with ctx.session() as s:
        row = s.scalars(select(SearchLog).order_by(SearchLog.id.desc())).first()
        assert row is not None and row.outcome == "no_face" and row.mode == "refused"
        actions = s.scalars(
            select(AuditEntry.action).order_by(AuditEntry.seq.desc()).limit(3)
        ).all()
        assert {"probe_received", "search_refused", "refused"} == set(actions)
        assert audit.verify(s).intact
