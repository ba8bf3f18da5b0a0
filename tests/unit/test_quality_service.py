"""``leadguard quality IMAGE`` goes through one service, ``services.evaluation.measure_quality``:
authorised (examiners, supervisors and admins measure a photo; a reviewer or auditor may not,
and the refusal is recorded) and audited with the photo's SHA-256 and the verdict, never the
photo. Real model, real face."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from leadguard.services import accounts
from leadguard.services.authz import NotAllowed
from leadguard.services.evaluation import measure_quality
from leadguard.storage.tables import AuditEntry
from tests.conftest import FIXTURES
from tests.unit.accounts_kit import PW, north_desk

FACE = sorted((FIXTURES / "dlib_johns").glob("*/*.jpg"))[0]


def test_measuring_a_photo_is_authorised_and_audited(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = north_desk(tmp_path / "ws", monkeypatch)
    admin = accounts.login(ctx, "admin", PW).actor
    accounts.add_user(ctx, admin, "aud", PW, "auditor")
    ex1 = accounts.login(ctx, "ex1", PW).actor
    verdict = measure_quality(ctx, ex1, FACE, None)
    assert verdict.decision in ("pass", "warn", "refuse")
    assert "sharpness" in verdict.measures
    aud = accounts.login(ctx, "aud", PW).actor
    with pytest.raises(NotAllowed):
        measure_quality(ctx, aud, FACE, None)
    with ctx.session() as s:
        done = s.scalars(select(AuditEntry).where(AuditEntry.action == "quality.measure")).all()
        refused = s.scalars(select(AuditEntry).where(AuditEntry.action == "refused")).all()
    assert [e.actor for e in done] == ["ex1"]
    assert done[0].details["sha256"] == hashlib.sha256(FACE.read_bytes()).hexdigest()
    assert done[0].details["decision"] == verdict.decision
    assert str(FACE) not in str(done[0].details)  # the digest, not where the photo lies
    assert [(e.actor, e.details["refused"]) for e in refused] == [("aud", "quality.measure")]
