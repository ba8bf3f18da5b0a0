"""``gallery reembed`` SIGKILLed 20 times and resumed, on SQLite and on PostgreSQL: a small
gallery enrolled with dlib-resnet is moved into SFace's space by real processes, each killed
at a chosen point of its commit path (``killpoints``: inside a batch's transaction, after its
commit, between an index segment and its meta.json, between the index save and its digests,
inside the digests' transaction, during a repair, at the gallery tail), counted by events,
never by time. Afterwards every image has exactly one template in each space, nothing was
lost or doubled, the old space is untouched (rows, vectors and index files), ``index check``
is consistent for both spaces and ``audit verify`` is clean."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadguard.audit import log as audit
from leadguard.core.types import EmbeddingSpace
from leadguard.face_models import create_model
from leadguard.gallery.enroll import enroll
from leadguard.gallery.maintenance import check_index
from leadguard.storage.tables import (
    AuditEntry,
    Encounter,
    EnrollFailure,
    FaceRecord,
    ImageRecord,
    Subject,
    TemplateRecord,
)
from leadguard.storage.workspace import Workspace
from tests.conftest import FIXTURES
from tests.integration import crashkit, killpoints
from tests.integration.conftest import write_manifest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("database")]

# (point, N): the run is killed the Nth time it reaches the point. With one image a batch,
# the kills that leave the index behind the database are followed by ones that land in the
# next run's repair (index_saved, files_txn, meta_replaced, segment_written at N = 1).
SCHEDULE: list[tuple[str, int]] = [
    ("batch_txn", 1),  # the very first run: the space row committed, no template
    ("result", 1),
    ("batch_committed", 1),  # template 1 committed, index not saved
    ("index_saved", 1),  # the next run's repair saved, its digests not recorded
    ("files_txn", 1),  # ... the repair's digests written, not committed
    ("meta_replaced", 1),  # ... the repair's meta.json replaced, no digests
    ("segment_written", 1),  # ... the repair's segment written, meta.json not replaced
    ("batch_committed", 2),
    ("segment_written", 3),
    ("meta_replaced", 2),
    ("index_saved", 2),
    ("files_txn", 2),
    ("result", 3),
    ("batch_txn", 2),
    ("batch_committed", 1),
    ("result", 2),
    ("index_saved", 3),
    ("segment_written", 2),
    ("files_txn", 3),
    ("tail", 1),  # every image done, killed at the end of the run
]
PHOTOS_EACH = 4  # 5 Johns x 4 = 20 images


def gallery(tmp_path: Path) -> Path:
    by_subject: dict[str, list[Path]] = {}
    for p in sorted((FIXTURES / "dlib_johns").glob("*/*.jpg")):
        by_subject.setdefault(p.parent.name, []).append(p)
    rows = [(p, who) for who, ps in sorted(by_subject.items()) for p in ps[:PHOTOS_EACH]]
    return write_manifest(tmp_path / "gallery.csv", rows)


def space_rows(ws: Workspace, space_key: str) -> dict[int, tuple[int, str]]:
    """template id -> (image id, SHA-256 of the vector bytes)."""
    with ws.session() as s:
        rows = s.execute(
            select(TemplateRecord.id, FaceRecord.image_id, TemplateRecord.vector)
            .join(FaceRecord, TemplateRecord.face_id == FaceRecord.id)
            .where(TemplateRecord.space_key == space_key)
        )
        return {t: (img, hashlib.sha256(bytes(v)).hexdigest()) for t, img, v in rows}


def index_files(ws: Workspace, space_key: str) -> dict[str, str]:
    folder = ws.index_path(space_key)
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def people(ws: Workspace) -> tuple[list[tuple[int, str]], ...]:
    """Subjects, encounters and images as stored (ids and what identifies them)."""
    with ws.session() as s:
        subjects = s.execute(select(Subject.id, Subject.external_id).order_by(Subject.id))
        encounters = s.execute(select(Encounter.id, Encounter.subject_id).order_by(Encounter.id))
        images = s.execute(select(ImageRecord.id, ImageRecord.sha256).order_by(ImageRecord.id))
        return (
            [tuple(r) for r in subjects],  # type: ignore[misc]
            [(i, str(sub)) for i, sub in encounters],
            [tuple(r) for r in images],  # type: ignore[misc]
        )


def after_a_kill(ws_path: Path, space: EmbeddingSpace) -> tuple[int, bool]:
    """(templates committed in ``space``, whether its index agrees with them)."""
    ws = Workspace.open(ws_path)
    try:
        with ws.session() as s:
            n = s.scalar(select(func.count()).where(TemplateRecord.space_key == space.key))
        return int(n or 0), check_index(ws, space).consistent
    finally:
        ws.close()


def cli(ws: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    p = crashkit.start(*args, "-w", str(ws), env=env)
    out, _ = p.communicate(timeout=600)
    return p.returncode, out.decode("utf-8", "replace")


@pytest.mark.slow
def test_twenty_sigkills_during_reembed_lose_and_double_nothing(tmp_path: Path) -> None:
    assert len(SCHEDULE) == 20 and {p for p, _ in SCHEDULE} == set(killpoints.POINTS)
    ws_path = tmp_path / "ws"
    ws = Workspace.init(ws_path, workers=1)
    first = enroll(ws, gallery(tmp_path))
    assert first.enrolled == 5 * PHOTOS_EACH and not first.failed, first
    old = create_model(ws.settings).space
    new = create_model(ws.settings, "sface").space
    assert old.key != new.key
    old_rows, old_files, before = space_rows(ws, old.key), index_files(ws, old.key), people(ws)
    images = {img for img, _ in old_rows.values()}
    assert len(images) == first.enrolled
    ws.close()

    reembed = ("gallery", "reembed", "--model", "sface", "-w", str(ws_path), "--workers", "1")
    env = {"LEADGUARD_COMMIT_EVERY": "1"}  # one image a batch: many commits to land in
    marker = tmp_path / "killed-at"
    seen, orphans = killpoints.killed_runs(
        SCHEDULE, marker, reembed, lambda: after_a_kill(ws_path, new), env=env
    )
    after_kill = [committed for committed, _ in seen]
    index_behind = sum(not agrees for _, agrees in seen)  # the new space's index behind
    assert orphans == 0
    assert index_behind >= 5, index_behind  # the next runs had an index to repair
    assert after_kill == sorted(after_kill), after_kill  # committed work is never lost
    assert 0 < after_kill[-2] < first.enrolled, after_kill  # killed runs made progress
    assert after_kill[-1] == first.enrolled  # the tail kill came after the last batch

    code, out = cli(ws_path, *reembed[:4], "--workers", "1")
    assert code == 0 and "Traceback" not in out, out
    for space_env in ({}, {"LEADGUARD_FACE_MODEL": "sface"}):  # index check of each space
        code, out = cli(ws_path, "index", "check", env=space_env)
        assert code == 0 and "consistent" in out and "INCONSISTENT" not in out, out
    code, out = cli(ws_path, "audit", "verify")
    assert code == 0 and "Traceback" not in out, out

    ws = Workspace.open(ws_path)
    try:
        # the old space untouched: the same templates, vectors and index files
        assert space_rows(ws, old.key) == old_rows
        assert index_files(ws, old.key) == old_files
        assert people(ws) == before  # no subject, encounter or image added or doubled
        # every image exactly once in the new space, none lost, no face without a template
        moved = space_rows(ws, new.key)
        assert sorted(img for img, _ in moved.values()) == sorted(images), moved
        with ws.session() as s:
            faces = s.scalar(select(func.count()).where(FaceRecord.space_key == new.key))
            failed = s.scalar(select(func.count()).where(EnrollFailure.space_key == new.key))
            chain = audit.verify(s)
            batches = s.scalars(
                select(AuditEntry).where(
                    AuditEntry.action == "enroll_batch",
                    AuditEntry.object == f"gallery:{new.key}",
                )
            )
            named = [t for e in batches for t in e.details.get("templates", [])]
        assert faces == len(moved) and failed == 0
        assert chain.intact, (chain.reason, chain.record_problems)
        assert sorted(named) == sorted(moved), named  # each template logged once, by id
        for space in (old, new):
            check = check_index(ws, space)
            assert check.consistent, check
            assert check.index_templates == first.enrolled and not check.file_problems
    finally:
        ws.close()
