"""Real enrollments (the dlib model on real faces) are covered by the audit log: the
templates and images an enrollment batch created are hashed in its entry, so a template
edited or deleted in the database is named; a removal records what it deletes; vectors
swapped inside the index file are found by ``index check``; the CLI anchors the head."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from leadguard.audit import log as audit
from leadguard.cli.main import app
from leadguard.face_models import model_space
from leadguard.gallery.enroll import enroll
from leadguard.gallery.maintenance import check_index, open_index, remove_subject
from leadguard.index.registry import new_index
from leadguard.storage.tables import AuditEntry
from leadguard.storage.workspace import Workspace
from tests.conftest import new_database_url
from tests.integration.conftest import write_manifest
from tests.pgserver import copy_workspace

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("database")]  # SQLite, PG
runner = CliRunner()


@pytest.fixture(scope="module")
def enrolled(tmp_path_factory: pytest.TempPathFactory, johns_split, backend: str, request) -> Path:
    """Two subjects, three photos each, enrolled in two batches."""
    enrolled_rows, _ = johns_split
    subjects = sorted({s for _, s in enrolled_rows})[:2]
    rows = [r for s in subjects for r in [x for x in enrolled_rows if x[1] == s][:3]]
    root = tmp_path_factory.mktemp("coverage")
    url = new_database_url(request, backend)
    ws = Workspace.init(root / "ws", workers=1, commit_every=4, database_url=url)
    report = enroll(ws, write_manifest(root / "m.csv", rows))
    assert report.enrolled == 6
    ws.close()
    return root / "ws"


@pytest.fixture
def ws(enrolled: Path, tmp_path: Path, backend: str, request) -> Iterator[Workspace]:
    server = request.getfixturevalue("pg_server") if backend == "postgres" else None
    copy_workspace(enrolled, tmp_path / "ws", server)
    w = Workspace.open(tmp_path / "ws")
    assert w.engine.dialect.name == {"sqlite": "sqlite", "postgres": "postgresql"}[backend]
    yield w
    w.close()


def check(ws: Workspace) -> audit.ChainCheck:
    with ws.session() as s:
        return audit.verify(s)


def _entries(ws: Workspace, action: str) -> list[AuditEntry]:
    with ws.session() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def sql(ws: Workspace, statement: str) -> None:
    with ws.engine.begin() as conn:
        conn.execute(text(statement))


def test_enrollment_entries_hash_their_templates_and_images(ws: Workspace) -> None:
    with ws.session() as s:
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "enroll_batch")).all()
    named = [r for e in entries for r in e.details["records"]]
    # commit_every=4 caps a batch at four images; a slow machine also commits on the timer,
    # so the number of batches is not fixed, only their size and what they name together
    assert len(entries) >= 2
    for e in entries:
        assert 1 <= sum(r["table"] == "images" for r in e.details["records"]) <= 4
    tables = [r["table"] for r in named]
    assert tables.count("images") == 6 and tables.count("templates") == 6
    assert tables.count("faces") == 6  # where each face is, its enrolled quality verdict
    assert set(tables) == {"images", "faces", "templates", "subjects", "encounters"}
    with ws.engine.connect() as conn:
        people = conn.execute(text("SELECT count(*) FROM subjects")).scalar_one()
        visits = conn.execute(text("SELECT count(*) FROM encounters")).scalar_one()
        models = conn.execute(text("SELECT count(*) FROM evidence_models")).scalar_one()
    assert people == 2 and models == 1  # the shipped evidence model, adopted at enrollment
    spaces = _entries(ws, "embedding_space_registered")
    assert [r["table"] for e in spaces for r in e.details["records"]] == ["embedding_spaces"]
    c = check(ws)
    # 6 images, 6 faces, 6 templates, the people and their visits, the model and the space
    assert c.intact and c.records_checked == 18 + people + visits + models + 1, c.record_problems


def test_a_template_edited_or_deleted_in_the_database_is_named(ws: Workspace) -> None:
    # an insider swaps two subjects' vectors in the database
    with ws.engine.begin() as conn:
        (a, va), (b, vb) = conn.execute(
            text("SELECT id, vector FROM templates ORDER BY id LIMIT 2")
        ).all()
        conn.execute(text("UPDATE templates SET vector = :v WHERE id = :i"), {"v": vb, "i": a})
        conn.execute(text("UPDATE templates SET vector = :v WHERE id = :i"), {"v": va, "i": b})
    problems = check(ws).record_problems
    assert [p.split(" was ")[0] for p in problems] == [f"templates row {a}", f"templates row {b}"]
    assert all("changed after audit entry" in p for p in problems)
    with ws.engine.begin() as conn:
        last = conn.execute(text("SELECT max(id) FROM templates")).scalar_one()
        conn.execute(text("DELETE FROM templates WHERE id = :i"), {"i": last})
    deleted = [p for p in check(ws).record_problems if "deleted" in p]
    assert len(deleted) == 1 and deleted[0].startswith(f"templates row {last} was deleted after")


def test_a_removal_records_what_it_deletes(ws: Workspace) -> None:
    with ws.session() as s:
        subject = s.execute(text("SELECT external_id FROM subjects LIMIT 1")).scalar_one()
        people = s.execute(text("SELECT count(*) FROM subjects")).scalar_one()
        visits = s.execute(text("SELECT count(*) FROM encounters")).scalar_one()
        models = s.execute(text("SELECT count(*) FROM evidence_models")).scalar_one()
    assert remove_subject(ws, subject) == 3
    with ws.session() as s:
        e = s.scalars(select(AuditEntry).where(AuditEntry.action == "gallery_remove")).one()
        gone = [r["table"] for r in e.details["deleted_records"]]
    assert gone.count("images") == 3 and gone.count("templates") == 3
    assert gone.count("faces") == 3
    assert gone.count("subjects") == 1 and gone.count("encounters") >= 1
    c = check(ws)
    assert c.intact and c.records_checked == 18 + people + visits + models + 1, c.record_problems


def test_vectors_swapped_inside_the_index_file_are_found(ws: Workspace) -> None:
    space = model_space(ws.settings)
    index = open_index(ws, space)
    parts = list(index.stored())  # every segment's rows
    ids = np.concatenate([p[0] for p in parts])
    vecs = np.concatenate([p[1] for p in parts])
    swapped = vecs.copy()
    swapped[[0, 1]] = vecs[[1, 0]]
    forged = new_index(ws.settings.index_backend, space.key, space.dim, "")
    forged.add(ids, swapped)
    forged.save(ws.index_path(space.key))  # same ids, same id fingerprint: only vectors moved
    assert np.array_equal(np.sort(forged.ids()), np.sort(index.ids()))
    result = check_index(ws, space)
    assert not result.consistent and result.vectors_differ == 2
    assert set(result.differing_ids) == {int(ids[0]), int(ids[1])}
    res = runner.invoke(app, ["index", "check", "-w", str(ws.root)])
    assert res.exit_code == 1 and "vectors differing from the database: 2" in res.output
    res = runner.invoke(app, ["index", "rebuild", "-w", str(ws.root)])
    assert res.exit_code == 0 and check_index(ws, space).consistent


def test_anchor_and_verify_from_the_command_line(ws: Workspace, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    w = ["-w", str(ws.root)]
    with ws.session() as s:  # a last entry that names no rows: cutting it off leaves none
        audit.append(s, "note", "audit", {})  # unnamed, which the chain alone would catch
    res = runner.invoke(app, ["audit", "keygen", "--out", str(ws.root / "k.key"), *w])
    assert res.exit_code == 2 and "inside the workspace" in res.output
    res = runner.invoke(app, ["audit", "keygen", "--out", str(keys / "k.key"), *w])
    assert res.exit_code == 0, res.output
    pub = ["--public-key", str(keys / "k.key.pub")]
    res = runner.invoke(
        app, ["audit", "anchor", "--key", str(keys / "k.key"), "--out", str(tmp_path / "a"), *w]
    )
    assert res.exit_code == 0 and "anchored entry" in res.output, res.output
    verify = ["audit", "verify", "--anchor", str(tmp_path / "a"), *pub, *w]
    res = runner.invoke(app, verify)
    assert res.exit_code == 0 and "ok" in res.output and "intact" in res.output, res.output
    with ws.session() as s:
        n = s.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    sql(ws, f"DELETE FROM audit_log WHERE seq = {n}")
    assert runner.invoke(app, ["audit", "verify", *w]).exit_code == 0  # chain alone: no
    res = runner.invoke(app, verify)
    assert res.exit_code == 1 and "cut off the end" in res.output
    doc = json.loads((tmp_path / "a").read_text())
    doc["anchor"]["seq"] = n - 1
    (tmp_path / "a").write_text(json.dumps(doc))
    res = runner.invoke(app, verify)
    assert res.exit_code == 2 and "signature does not verify" in res.output
    assert "Traceback" not in res.output
