"""Enrollment failures under the chain (``audit.failures_state``), on real faces with dlib:
the failures a run records verify; a failure row inserted by hand (which would keep a
person's photo out of the gallery) is named by ``audit verify``, and the next enrollment
skips no earlier failure and says why; ``enroll --retry-failed`` clears the space's
failures (audited) and the workspace verifies again."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select, text
from typer.testing import CliRunner

from leadguard.audit import failures_state
from leadguard.audit import log as audit
from leadguard.cli.main import app
from leadguard.face_models import model_space
from leadguard.gallery.enroll import enroll
from leadguard.storage.tables import AuditEntry
from leadguard.storage.workspace import Workspace
from tests.conftest import LFW

pytestmark = pytest.mark.integration
FACE = LFW / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
HIDDEN = LFW / "images" / "Aaron_Sorkin" / "Aaron_Sorkin_0001.jpg"


def _findings(ws: Workspace) -> list[str]:
    with ws.session() as s:
        found = audit.verify(s).record_problems
    return [p for p in found if p.startswith(failures_state.TABLE)]


def test_an_inserted_failure_is_found_and_hides_no_one(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "aaron").mkdir(parents=True)
    shutil.copy(FACE, src / "aaron" / "good.jpg")
    Image.new("RGB", (320, 240), (200, 180, 160)).save(src / "aaron" / "wall.png")  # no face
    (src / "aaron" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4)
    ws = Workspace.init(tmp_path / "ws", workers=1)
    try:
        first = enroll(ws, src)
        assert first.enrolled == 1 and len(first.failed) == 2
        assert _findings(ws) == []
        key = model_space(ws.settings).key
        with ws.session() as s:
            states = s.scalars(
                select(AuditEntry.details).where(AuditEntry.action == failures_state.ACTION)
            ).all()
        assert [d["rows"] for d in states] == [2]

        (src / "sorkin").mkdir()  # a person whose photo an insider keeps out of the gallery
        shutil.copy(HIDDEN, src / "sorkin" / "1.jpg")
        sha = hashlib.sha256(HIDDEN.read_bytes()).hexdigest()
        with ws.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO enroll_failures (sha256, space_key, source_path, reason_code,"
                    " message, created_at) VALUES (:s, :k, 'x', 'no_face', 'no face found',"
                    " '2026-01-01')"
                ),
                {"s": sha, "k": key},
            )
        found = _findings(ws)
        assert len(found) == 1 and "3 rows where it records 2" in found[0], found
        assert "--retry-failed" in found[0]

        second = enroll(ws, src)
        assert second.enrolled == 1  # Sorkin's photo, not skipped as "failed before"
        assert not [why for _, why in second.skipped if why.startswith("failed before")]
        assert len(second.notices) == 1 and "no earlier failure is skipped" in second.notices[0]
        assert len(_findings(ws)) == 1  # the run did not adopt the inserted row

        done = CliRunner().invoke(app, ["enroll", str(src), "--retry-failed", "-w", str(ws.root)])
        assert done.exit_code == 0, done.output
        assert _findings(ws) == []
        third = enroll(ws, src)  # the failures are skipped again, as recorded
        assert sorted(why.split(" (")[0] for _, why in third.skipped).count("failed before") == 2
        assert not third.notices and _findings(ws) == []
    finally:
        ws.close()
