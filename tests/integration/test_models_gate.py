"""A second face model end to end (SFace: enroll, search), the evaluation gate that keeps it
from open-set search until an administrator accepts its evaluation, and moving a gallery to
its embedding space."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadguard.acceptance import gate as models_gate
from leadguard.cli.main import app
from leadguard.core.config import SETTINGS_FILE
from leadguard.core.errors import EvidenceUnavailable
from leadguard.evidence import model as evidence_model
from leadguard.face_models import create_model
from leadguard.gallery.enroll import enroll
from leadguard.gallery.reembed import reembed
from leadguard.search.request import SearchRequest
from leadguard.services import accounts
from leadguard.services.context import Context
from leadguard.storage import queries as repo
from leadguard.storage.tables import AccuracyRecord, AuditEntry
from leadguard.storage.workspace import Workspace
from tests.integration.conftest import write_manifest
from tests.models import search

pytestmark = pytest.mark.integration
PW = "correct horse battery"
runner = CliRunner()


@pytest.fixture(scope="module")
def sface_ws(tmp_path_factory: pytest.TempPathFactory, johns_split) -> Workspace:
    enrolled, _ = johns_split
    root = tmp_path_factory.mktemp("sface")
    # SFace's own space ships evaluated; its mirrored variant is a space nobody evaluated
    Workspace.init(root / "ws", face_model="sface").close()
    settings = root / "ws" / SETTINGS_FILE
    settings.write_text(
        settings.read_text().replace("# sface_mirror = false", "sface_mirror = true")
    )
    ws = Workspace.open(root / "ws", workers=1)
    assert (
        ws.settings.sface_mirror
        and evidence_model.shipped_payload(create_model(ws.settings).space.key) is None
    )
    report = enroll(ws, write_manifest(root / "gallery.csv", enrolled))
    assert report.enrolled == 49 and not report.failed
    return ws


def test_sface_enrolls_and_searches_end_to_end(sface_ws, johns_split) -> None:
    _, probes = johns_split
    space = create_model(sface_ws.settings).space
    assert space.model_name.startswith("sface")
    with sface_ws.session() as s:
        assert repo.gallery_counts(s, space.key) == (5, 49)
    for probe, subject in probes:
        result = search(sface_ws, SearchRequest(probe, investigation=5))
        assert result.candidates[0].subject == subject, probe
        assert result.space.key == space.key
        assert result.quality is not None
    # no evidence model measured for this space: no open-set list
    with pytest.raises(EvidenceUnavailable):
        search(sface_ws, SearchRequest(probes[0][0]))


def _relabelled_evidence(ws: Workspace, space_key: str, record_id: int) -> None:
    """dlib's shipped evidence model under SFace's key: it exercises the gate only (its
    thresholds mean nothing for SFace scores)."""
    payload = evidence_model.shipped_payload(create_model(ws.settings, "dlib").space.key)
    assert payload is not None
    shipped = evidence_model.EvidenceModel.from_bytes(payload)
    model = dataclasses.replace(shipped, space_key=space_key)
    evidence_model.store(ws, model.to_bytes(), model, "test: relabelled", record_id)


def _record(ws: Workspace, space_key: str, protocol: str, metrics: dict) -> int:
    with ws.session() as s:
        rec = AccuracyRecord(
            space_key=space_key,
            space={},
            protocol=protocol,
            dataset="test",
            dataset_checksum="",
            command="test",
            software_version="test",
            metrics=metrics,
            report_dir="",
            score_files=[],
        )
        s.add(rec)
        s.flush()
        return rec.id


def test_the_gate_refuses_an_unevaluated_model_until_an_admin_accepts(
    sface_ws, johns_split, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    _, probes = johns_split
    ws = sface_ws
    space = create_model(ws.settings).space
    ctx = Context(ws)
    admin = accounts.add_user(ctx, None, "admin", PW, "admin")
    admin_actor = accounts.login(ctx, "admin", PW).actor
    examiner = accounts.add_user(ctx, admin_actor, "exam", PW, "examiner")
    evidence_id = _record(
        ws,
        space.key,
        "evidence",
        {
            "likelihood_ratio": {"cllr": 0.03, "cllr_cal": 0.004},
            "fpir": [{"gallery_size": 250, "agree": True}, {"gallery_size": 500, "agree": False}],
        },
    )
    _relabelled_evidence(ws, space.key, evidence_id)

    with pytest.raises(models_gate.ModelNotAccepted, match="no LFW View 2"):
        search(ws, SearchRequest(probes[0][0]))
    assert search(ws, SearchRequest(probes[0][0], investigation=3)).mode == "investigation"
    with ws.session() as s:
        ev = models_gate.evaluation(s, space.key)
        assert not ev.complete and len(ev.problems) == 4  # three protocols, one FPIR disagreement
        with pytest.raises(models_gate.AcceptanceRefused, match="only an administrator"):
            models_gate.accept(s, space, "sface", examiner.username, examiner.role)
    with ws.session() as s, pytest.raises(models_gate.AcceptanceRefused, match="disagrees"):
        models_gate.accept(s, space, "sface", admin.username, admin.role)

    _record(ws, space.key, "lfw-pairs", {"lfw_10fold": {"mean_accuracy": 0.99, "std_accuracy": 0}})
    _record(ws, space.key, "blufr", {"summary": {"rank1": {"mean": 0.98}}})
    _record(
        ws,
        space.key,
        "manifest",
        {
            "demographics": {
                "threshold": 0.4,
                "groups": {
                    "F": {"fmr": 0.002, "too_small": False},
                    "M": {"fmr": 0.001, "too_small": False},
                },
            }
        },
    )
    newer = _record(
        ws,
        space.key,
        "evidence",
        {
            "likelihood_ratio": {"cllr": 0.03, "cllr_cal": 0.004},
            "fpir": [{"gallery_size": 250, "agree": True}],
        },
    )
    with ws.session() as s:
        assert "no evidence model stored from evidence record" in " ".join(
            models_gate.evaluation(s, space.key).problems
        )
    _relabelled_evidence(ws, space.key, newer)
    with ws.session() as s:
        ev = models_gate.evaluation(s, space.key)
        assert ev.complete, ev.problems
        assert ev.numbers["per_group"]["worst_group"] == "F"
        assert ev.numbers["per_group"]["worst_to_best_ratio"] == pytest.approx(2.0)

    res = runner.invoke(app, ["models", "accept", "sface", "-w", str(ws.root)])
    assert res.exit_code == 2 and "needs a login" in res.output
    res = runner.invoke(app, ["login", "exam", "-w", str(ws.root), "--password-stdin"], input=PW)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["models", "accept", "sface", "-w", str(ws.root)])
    assert res.exit_code == 2 and "may not model.accept" in res.output
    res = runner.invoke(app, ["login", "admin", "-w", str(ws.root), "--password-stdin"], input=PW)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["models", "accept", "sface", "-w", str(ws.root), "--note", "t"])
    assert res.exit_code == 0, res.output
    with ws.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "model_accepted")).one()
        assert entry.actor == "admin" and entry.object == f"embedding_space:{space.key}"
        assert entry.details["evaluation"]["numbers"]["lfw_view2_accuracy"] == 0.99
    result = search(ws, SearchRequest(probes[0][0]))
    assert result.mode == "open-set"

    res = runner.invoke(app, ["models", "list", "-w", str(ws.root), "--json"])  # as admin
    assert res.exit_code == 0, res.output
    rows = {r["model"]: r for r in json.loads(res.output)}
    # the workspace's settings file chooses the model (recorded when it was made); accepting
    # a space does not choose it
    assert rows["sface"]["chosen"] and not rows["dlib-resnet"]["chosen"]
    assert rows["sface"]["acceptance"]["source"] == "administrator"
    assert rows["sface"]["open_set_search"]
    assert rows["dlib-resnet"]["acceptance"]["source"] == "shipped"


def test_the_default_space_is_accepted_by_its_shipped_evaluation(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    with ws.session() as s:
        found = models_gate.require_open_set(s, create_model(ws.settings).space)
    assert found.source == "shipped"
    mirrorless = create_model(ws.settings.model_copy(update={"mirror": False})).space
    with ws.session() as s, pytest.raises(models_gate.ModelNotAccepted):
        models_gate.require_open_set(s, mirrorless)


def test_a_gallery_moves_to_another_space_resumably(tmp_path: Path, johns_split) -> None:
    enrolled, probes = johns_split
    rows = [r for r in enrolled if r[1] == "John_Salley"][:4]
    rows += [r for r in enrolled if r[1] == "John_Simm"][:4]
    ws = Workspace.init(tmp_path / "ws", workers=1)
    first = enroll(ws, write_manifest(tmp_path / "g.csv", rows))
    old = create_model(ws.settings).space
    report = reembed(ws, "sface")
    new = create_model(ws.settings, "sface").space
    assert report.space_key == new.key and report.enrolled == first.enrolled > 0
    with ws.session() as s:
        assert repo.gallery_counts(s, old.key)[1] == first.enrolled  # the old space is kept
        assert repo.gallery_counts(s, new.key)[1] == first.enrolled
    again = reembed(ws, "sface")
    assert again.enrolled == 0 and len(again.skipped) == first.enrolled
    sface = Workspace.open(ws.root, face_model="sface")
    probe = next(p for p, who in probes if who == "John_Simm")
    assert search(sface, SearchRequest(probe, investigation=2)).candidates[0].subject == "John_Simm"
