"""Expungement under a court order, and the audit trail of real enrollments and searches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadguard.cli.main import app
from leadguard.core.serialize import candidate_list_dict
from leadguard.evaluation.templates import compute_templates
from leadguard.face_models import model_space
from leadguard.gallery.enroll import enroll
from leadguard.search.request import SearchRequest
from leadguard.services.report_photos import candidate_photos
from leadguard.storage.tables import AuditEntry, ImageRecord, TemplateCache
from leadguard.storage.workspace import Workspace
from tests.integration.conftest import write_manifest
from tests.models import search

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("database")]  # SQLite, PG
runner = CliRunner()


def test_expunged_subject_leaves_storage_and_search_and_is_logged(
    tmp_path: Path, johns_split
) -> None:
    enrolled, probes = johns_split
    gone, kept = probes[0][1], probes[1][1]
    rows = [r for r in enrolled if r[1] in (gone, kept)]
    ws = Workspace.init(tmp_path / "ws", workers=1)
    enroll(ws, write_manifest(tmp_path / "m.csv", rows))
    gone_paths = [p for p, s in rows if s == gone]
    compute_templates(ws, model_space(ws.settings), gone_paths[:2])  # an evaluation cache too
    before = search(ws, SearchRequest(probes[0][0], investigation=2))
    assert before.candidates[0].subject == gone
    with ws.session() as s:
        [shown, *_] = candidate_photos(s, candidate_list_dict(before))
        assert shown["stored"] is not None and shown["problem"] is None

    res = runner.invoke(
        app, ["gallery", "expunge", gone, "--order", "CO-2026-117", "-w", str(ws.root)]
    )
    assert res.exit_code == 0, res.output
    assert "under order CO-2026-117" in res.output and "FAILED" not in res.output
    after = search(ws, SearchRequest(probes[0][0], investigation=5))
    assert gone not in {c.subject for c in after.candidates}
    with ws.session() as s:  # a later report or packet of the old list: the photo not re-read
        [shown, *_] = candidate_photos(s, candidate_list_dict(before))
        assert shown["stored"] is None and shown["data"] is None
        assert (
            shown["problem"] == "the gallery photo was expunged (order CO-2026-117): not read again"
        )
        assert Path(before.candidates[0].image_path).exists()  # although the file is still there
    with ws.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "gallery_expunge")).one()
        assert entry.object == f"subject:{gone}" and entry.details["order"] == "CO-2026-117"
        assert entry.details["cached_templates_purged"] == 2
        shas = entry.details["images"]
        assert shas and not s.scalars(select(ImageRecord).where(ImageRecord.sha256.in_(shas))).all()
        assert not s.scalars(select(TemplateCache).where(TemplateCache.sha256.in_(shas))).all()
        actions = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert actions.count("enroll_batch") >= 1 and actions.count("search") == 2
    assert "probe_received" in actions and "evidence_model_stored" in actions

    res = runner.invoke(app, ["audit", "verify", "-w", str(ws.root)])
    assert res.exit_code == 0 and "audit log intact" in res.output
    out = tmp_path / "trail.jsonl"
    res = runner.invoke(
        app,
        ["audit", "export", "--out", str(out), "--object", f"subject:{gone}", "-w", str(ws.root)],
    )
    assert res.exit_code == 0
    lines = [json.loads(ln) for ln in out.read_text().splitlines()]
    assert [ln["action"] for ln in lines] == ["gallery_expunge"]

    with ws.engine.begin() as conn:  # an insider edits the record of the expungement
        edited = (
            "jsonb_set(details::jsonb, '{order}', '\"none\"')::json"
            if conn.dialect.name == "postgresql"
            else "json_set(details, '$.order', 'none')"
        )
        conn.exec_driver_sql(
            f"UPDATE audit_log SET details = {edited} WHERE action = 'gallery_expunge'"
        )
    res = runner.invoke(app, ["audit", "verify", "-w", str(ws.root)])
    assert res.exit_code == 1 and "BROKEN" in res.output and "altered" in res.output
    res = runner.invoke(app, ["gallery", "expunge", kept, "--order", " ", "-w", str(ws.root)])
    assert res.exit_code == 2 and "--order" in res.output
