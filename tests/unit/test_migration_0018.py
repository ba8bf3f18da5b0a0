"""Migration 0018: faces, embedding spaces and duplicate verdicts join the audited tables.
A workspace whose rows of them were written before (named by no entry) fails ``audit
verify`` at the new coverage until the migration's baseline names them; after it, it
verifies, and an edit of one of them is named."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text

from leadguard.audit import log as audit
from leadguard.core.config import Settings
from leadguard.core.types import Box, Detection, FaceTemplate, ImageMeta
from leadguard.evidence.gallery_figures import record_resolution
from leadguard.face_models import create_model
from leadguard.storage import queries as repo
from leadguard.storage.audited_rows import audited_rows
from leadguard.storage.tables import AuditEntry, TemplateRecord
from leadguard.storage.workspace import Workspace
from tests.unit.migration_kit import downgrade

pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL


def _written_as_before_0018(ws: Workspace) -> None:
    """An enrollment whose entry names templates and images but not faces, a space and a
    verdict named by no entry: what LeadGuard wrote before revision 0018."""
    space = create_model(Settings()).space
    rng = np.random.default_rng(3)
    rows = []
    for k, who in enumerate(("ana", "ana", "bob")):
        vec = rng.standard_normal(space.dim).astype(np.float32)
        vec /= np.linalg.norm(vec)
        sha = hashlib.sha256(f"{who}/{k}".encode()).hexdigest()
        rows.append(
            repo.NewTemplate(
                repo.SubjectInfo(who, date(2020, 1, 1 + k)),
                ImageMeta(f"/g/{who}/{k}.jpg", sha, "JPEG", 200, 200, 1000),
                FaceTemplate(Detection(Box(10, 10, 90, 90), 1.0), vec, space.key),
                1,
            )
        )
    with ws.session() as s:
        repo.ensure_space(s, space)
        ids = repo.save_templates(s, rows)
        named = [
            r
            for r in audited_rows(s, ids, [r.image.sha256 for r in rows])
            if r.__tablename__ != "faces"
        ]
        audit.append(s, "enroll_batch", f"gallery:{space.key}", {}, records=named)
        record_resolution(s, space.key, "ana", "bob", "different people", "checked", 0.9, "sup")


def test_an_upgraded_workspace_names_its_faces_spaces_and_verdicts(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    _written_as_before_0018(ws)
    with ws.session() as s:
        before = audit.verify(s)
    unnamed = {p.split(" row")[0] for p in before.record_problems if "named by no" in p}
    assert unnamed == {"faces", "embedding_spaces", "probable_duplicates"}
    downgrade(ws, "0017")

    ws = Workspace.open(tmp_path / "ws")  # upgraded when opened: 0018 runs again
    with ws.session() as s:
        baseline = s.scalars(select(AuditEntry).where(AuditEntry.action == "audit.baseline"))
        assert {e.object for e in baseline} == {
            "table:faces",
            "table:embedding_spaces",
            "table:probable_duplicates",
        }
        check = audit.verify(s)
        face = s.scalars(select(TemplateRecord.face_id)).first()
    assert check.intact, (check.reason, check.record_problems)
    with ws.engine.begin() as conn:
        conn.execute(text("UPDATE faces SET quality = '{}' WHERE id = :i"), {"i": face})
    with ws.session() as s:
        problems = audit.verify(s).record_problems
    assert any(p.startswith(f"faces row {face} was changed") for p in problems), problems
    ws.close()
