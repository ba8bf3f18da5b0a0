"""A search names the evidence model behind its statements: the shipped model too, even in a
workspace that never stored it (it is stored and audited in the search's transaction), so
that the lead report and the disclosure packet can give its bytes and SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from leadguard.evidence import model as evidence_model
from leadguard.face_models import model_space
from leadguard.gallery.enroll import enroll
from leadguard.search.request import SearchRequest
from leadguard.storage.tables import AuditEntry, EvidenceModelRecord, SearchLog
from leadguard.storage.workspace import Workspace
from tests.integration.conftest import write_manifest
from tests.models import search

pytestmark = pytest.mark.integration


def test_a_search_on_the_shipped_model_records_it_by_id(
    tmp_path: Path, johns_split: tuple[list[tuple[Path, str]], list[tuple[Path, str]]]
) -> None:
    enrolled, probes = johns_split
    ws = Workspace.init(tmp_path / "ws", workers=1)
    try:
        enroll(ws, write_manifest(tmp_path / "m.csv", enrolled[::5]))
        space = model_space(ws.settings).key
        with ws.session() as s:  # as a workspace enrolled before the shipped model was stored
            s.execute(delete(EvidenceModelRecord))
            last = s.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq.desc())).first()
        before = evidence_model.latest(ws, space)
        assert before is not None and before.id is None and before.source == "shipped"

        result = search(ws, SearchRequest(probes[0][0], source_type="surveillance_still"))
        with ws.session() as s:
            row = s.get(SearchLog, result.search_id)
            assert row is not None and row.evidence_model_id is not None
            rec = s.get(EvidenceModelRecord, row.evidence_model_id)
            assert rec is not None and rec.source == "shipped"
            shipped = evidence_model.shipped_payload(space)
            assert shipped is not None and rec.payload == shipped
            assert rec.payload_sha256 == hashlib.sha256(shipped).hexdigest()
            assert row.result["evidence_model"]["id"] == rec.id
            stored = s.scalars(
                select(AuditEntry).where(
                    AuditEntry.object == f"evidence_model:{rec.id}", AuditEntry.seq > (last or 0)
                )
            ).all()
            assert [e.action for e in stored] == ["evidence_model_stored"]
        # the next search uses the stored row: no second copy
        again = search(ws, SearchRequest(probes[1][0], source_type="surveillance_still"))
        with ws.session() as s:
            assert len(s.scalars(select(EvidenceModelRecord)).all()) == 1
            row2 = s.get(SearchLog, again.search_id)
            assert row2 is not None and row2.evidence_model_id == rec.id
    finally:
        ws.close()
