"""Migration 0020: look-alike counts written before it (named by no ``lookalikes.state``
entry) are adopted as they stand, one entry per space, and verify from then on; an edit
after the adoption is found. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from leadguard.audit import lookalike_state
from leadguard.core.config import load_settings
from leadguard.face_models import model_space
from leadguard.storage.tables import AuditEntry
from leadguard.storage.workspace import Workspace
from tests.unit.lookalike_kit import chain_findings, edit_a_count, enroll_batch
from tests.unit.migration_kit import downgrade

pytestmark = pytest.mark.usefixtures("database")


def test_rows_written_before_0020_are_adopted_by_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    downgrade(ws, "0019")
    ws = Workspace(tmp_path / "ws", load_settings(tmp_path / "ws"))  # not upgraded
    with monkeypatch.context() as m:  # the counts as the code of 0019 wrote them: no digest
        m.setattr(lookalike_state, "record_change", lambda *a, **k: None)
        enroll_batch(ws, 0, [1, 1, 2, 3])
    key = model_space(ws.settings).key
    assert "no audit entry records" in chain_findings(ws)[0]
    ws.close()
    ws = Workspace.open(tmp_path / "ws")  # upgraded when opened: 0020 adopts the rows
    try:
        with ws.session() as s:
            adopted = s.scalars(
                select(AuditEntry).where(AuditEntry.action == lookalike_state.ACTION)
            ).all()
        assert [(e.actor, e.object, e.details["rows"]) for e in adopted] == [
            ("migration:0020", lookalike_state.object_of(key), 4)
        ]
        assert chain_findings(ws) == []
        edit_a_count(ws, key)
        assert "contents differ" in chain_findings(ws)[0]
    finally:
        ws.close()
