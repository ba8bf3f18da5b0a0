"""``leadguard audit``: bad output paths and damaged rows give a clear one-line answer,
never a traceback, and a refused export logs nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DataError
from typer.testing import CliRunner

from leadguard.audit import log as audit
from leadguard.cli.main import app
from leadguard.storage.tables import AuditEntry
from leadguard.storage.workspace import Workspace

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    w = Workspace.init(tmp_path / "ws")
    with w.session() as s:  # entry 1 is the schema's own (init); search:i is entry i
        for i in range(2, 4):
            audit.append(s, "search", f"search:{i}", {"n": i}, actor="examiner-a")
    return w


def entries(ws: Workspace) -> int:
    with ws.session() as s:
        return int(s.scalar(select(func.count(AuditEntry.id))) or 0)


def test_export_to_a_folder_is_refused_before_anything_is_logged(
    ws: Workspace, tmp_path: Path
) -> None:
    before = entries(ws)
    res = runner.invoke(app, ["audit", "export", "--out", str(tmp_path), "-w", str(ws.root)])
    assert res.exit_code == 2 and "is a folder" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(
        app, ["audit", "export", "--out", str(tmp_path / "no" / "t.jsonl"), "-w", str(ws.root)]
    )
    assert res.exit_code == 2 and "does not exist" in res.output
    assert entries(ws) == before


def test_export_writes_the_trail(ws: Workspace, tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    res = runner.invoke(app, ["audit", "export", "--out", str(out), "-w", str(ws.root)])
    assert res.exit_code == 0, res.output
    assert [json.loads(ln)["seq"] for ln in out.read_text().splitlines()] == [1, 2, 3]
    assert not (tmp_path / "t.jsonl.tmp").exists()


def test_verify_names_a_damaged_row_without_a_traceback(ws: Workspace, database: str) -> None:
    damage = text("UPDATE audit_log SET details = '{oops' WHERE seq = 2")
    if database == "postgres":  # a json column refuses the damage outright
        with pytest.raises(DataError), ws.engine.begin() as conn:
            conn.execute(damage)
        return
    with ws.engine.begin() as conn:
        conn.execute(damage)
    before = entries(ws)
    res = runner.invoke(app, ["audit", "verify", "-w", str(ws.root)])
    assert res.exit_code == 1 and isinstance(res.exception, SystemExit | None)
    assert "BROKEN" in res.output and "audit_log row id 2" in res.output
    assert "not valid JSON" in res.output and "Traceback" not in res.output
    assert entries(ws) == before  # verify wrote nothing


def test_verify_without_an_anchor_says_what_it_cannot_see(ws: Workspace) -> None:
    res = runner.invoke(app, ["audit", "verify", "-w", str(ws.root)])
    assert res.exit_code == 0 and "audit log intact: 3 entries" in res.output
    assert "only caught against a signed anchor" in res.output


def test_a_missing_anchor_or_key_is_a_clear_error(ws: Workspace, tmp_path: Path) -> None:
    w = ["-w", str(ws.root)]
    res = runner.invoke(app, ["audit", "verify", "--anchor", str(tmp_path / "none"), *w])
    assert res.exit_code == 2 and "cannot be read" in res.output
    res = runner.invoke(
        app, ["audit", "anchor", "--key", str(tmp_path / "k"), "--out", str(tmp_path / "a"), *w]
    )
    assert res.exit_code == 2 and "key file" in res.output and "cannot be read" in res.output


def test_a_written_document_is_checked_against_the_entry_that_recorded_it(
    ws: Workspace, tmp_path: Path
) -> None:
    import hashlib

    report = tmp_path / "lead-1.html"
    report.write_text("<p>candidate: ana</p>")
    sha = hashlib.sha256(report.read_bytes()).hexdigest()
    with ws.session() as s:  # as services.reports records a lead report
        audit.append(s, "report.lead", "case:C-1", {"lead": 1, "files": {report.name: sha}})
    edited = tmp_path / "lead-1-edited.html"
    edited.write_text("<p>candidate: bob</p>")
    w = ["-w", str(ws.root)]
    res = runner.invoke(app, ["audit", "document", str(report), *w], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert "as written: report.lead in audit entry 4" in " ".join(res.output.split())
    res = runner.invoke(
        app, ["audit", "document", str(report), str(edited), str(tmp_path / "none"), *w]
    )
    assert res.exit_code == 1 and "Traceback" not in res.output
    flat = " ".join(res.output.split())
    assert "lead-1-edited.html: NOT RECORDED: SHA-256" in flat
    assert "none: NOT RECORDED: cannot be read" in flat and "as written" in flat


def test_a_packet_zip_is_found_by_its_own_digest_and_a_pipe_is_refused(
    ws: Workspace, tmp_path: Path
) -> None:
    import hashlib
    import os

    packet = tmp_path / "disclosure-C-1.zip"
    packet.write_bytes(b"PK zip bytes")
    sha = hashlib.sha256(packet.read_bytes()).hexdigest()
    with ws.session() as s:  # as services.disclosure records a packet: its own digest
        audit.append(s, "case.disclose", "case:C-1", {"file": packet.name, "sha256": sha})
        audit.append(s, "case.packet", "case:C-1", {"files": {"copy.zip": sha}})  # later
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    w = ["-w", str(ws.root)]
    res = runner.invoke(app, ["audit", "document", str(packet), str(fifo), *w])
    flat = " ".join(res.output.split())
    assert "as written: case.disclose in audit entry 4" in flat, flat  # the first, not the copy
    assert "pipe: NOT RECORDED: is not a regular file" in flat and res.exit_code == 1
