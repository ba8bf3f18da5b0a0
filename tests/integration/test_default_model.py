"""SFace is the release's default face model: a new workspace records it in its settings file;
a workspace whose settings file names no model (made before the switch) keeps dlib-resnet and
keeps searching; `models list` says which model is the default and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tests.conftest as suite
from leadguard.acceptance import gate as models_gate
from leadguard.cli.main import app
from leadguard.core import config
from leadguard.core.config import SETTINGS_FILE, Settings
from leadguard.evidence import model as evidence_model
from leadguard.face_models import create_model
from leadguard.face_models.dlib_backend import DlibFaceModel
from leadguard.face_models.sface_backend import SFaceModel
from leadguard.gallery.enroll import enroll
from leadguard.quality.gate import workspace_policy
from leadguard.search.request import SearchRequest
from leadguard.storage.workspace import Workspace
from tests.integration.conftest import write_manifest
from tests.models import search

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def shipped_default(monkeypatch: pytest.MonkeyPatch) -> str:
    """The release's default, not the suite's (tests/conftest.py keeps dlib for fixtures)."""
    monkeypatch.setattr(config, "DEFAULT_FACE_MODEL", suite.SHIPPED_DEFAULT_MODEL)
    return suite.SHIPPED_DEFAULT_MODEL


def test_the_release_default_is_sface(shipped_default: str) -> None:
    assert shipped_default == "sface"
    assert Settings().face_model == "sface"
    assert isinstance(create_model(Settings()), SFaceModel)
    assert isinstance(create_model(Settings(face_model="dlib-resnet")), DlibFaceModel)


def test_a_new_workspace_records_the_model_it_was_made_with(
    shipped_default: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.init(tmp_path / "new")
    assert ws.settings.face_model == "sface"
    assert 'face_model = "sface"' in (ws.root / SETTINGS_FILE).read_text()
    # a later release with another default does not move this workspace
    monkeypatch.setattr(config, "DEFAULT_FACE_MODEL", "dlib-resnet")
    assert Workspace.open(ws.root).settings.face_model == "sface"
    chosen = Workspace.init(tmp_path / "chosen", face_model="dlib-resnet")
    assert 'face_model = "dlib-resnet"' in (chosen.root / SETTINGS_FILE).read_text()
    monkeypatch.setattr(config, "DEFAULT_FACE_MODEL", "sface")
    assert Workspace.open(chosen.root).settings.face_model == "dlib-resnet"


def _legacy(root: Path) -> Workspace:
    """A workspace as `leadguard init` wrote it before the switch: face_model commented out."""
    Workspace.init(root).close()
    path = root / SETTINGS_FILE
    text = path.read_text().replace('face_model = "sface"', '# face_model = "dlib-resnet"')
    assert "\nface_model" not in text
    path.write_text(text)
    return Workspace.open(root)


def test_an_older_dlib_workspace_keeps_its_model_and_keeps_searching(
    shipped_default: str, tmp_path: Path, johns_split
) -> None:
    enrolled, probes = johns_split
    ws = _legacy(tmp_path / "old")
    assert ws.settings.face_model == "dlib-resnet"
    space = create_model(ws.settings).space
    assert space.key == create_model(Settings(face_model="dlib-resnet")).space.key
    subjects = sorted({s for _, s in enrolled})[:2]
    rows = [(p, s) for p, s in enrolled if s in subjects][:8]
    report = enroll(ws, write_manifest(tmp_path / "gallery.csv", rows))
    assert report.enrolled == len(rows) and report.space_key == space.key
    probe, subject = next((p, s) for p, s in probes if s in subjects)
    # open set: dlib's shipped evidence model and acceptance
    result = search(ws, SearchRequest(probe))
    assert result.space.key == space.key and result.mode != "investigation"
    assert result.candidates and result.candidates[0].subject == subject


def test_a_new_default_workspace_searches_open_set_on_the_shipped_sface_evaluation(
    shipped_default: str, tmp_path: Path, johns_split
) -> None:
    enrolled, probes = johns_split
    ws = Workspace.init(tmp_path / "new", workers=1)
    space = create_model(ws.settings).space
    assert space.model_name.startswith("sface")
    with ws.session() as s:
        assert models_gate.require_open_set(s, space).source == "shipped"
    subjects = sorted({s for _, s in enrolled})[:2]
    rows = [(p, s) for p, s in enrolled if s in subjects][:8]
    assert enroll(ws, write_manifest(tmp_path / "gallery.csv", rows)).enrolled == len(rows)
    probe, subject = next((p, s) for p, s in probes if s in subjects)
    result = search(ws, SearchRequest(probe))
    assert result.mode == "open-set" and result.space.key == space.key
    assert result.candidates and result.candidates[0].subject == subject
    stored = evidence_model.latest(ws, space.key)
    assert stored is not None and stored.source == "shipped"
    assert "policy-sface.toml" in workspace_policy(ws).source


def test_models_list_names_the_default_and_why(shipped_default: str, tmp_path: Path) -> None:
    ws = _legacy(tmp_path / "old")
    res = runner.invoke(app, ["models", "list", "-w", str(ws.root), "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["model"]: r for r in json.loads(res.output)}
    assert rows["sface"]["default"] and "worst-group FMR" in rows["sface"]["default_reason"]
    assert not rows["dlib-resnet"]["default"] and rows["dlib-resnet"]["chosen"]
    human = runner.invoke(app, ["models", "list", "-w", str(ws.root)])
    assert "default for new workspaces: sface" in human.output


def test_the_gate_uses_the_policy_of_the_workspaces_model(tmp_path: Path) -> None:
    sface = workspace_policy(Workspace.init(tmp_path / "sface", face_model="sface"))
    dlib = workspace_policy(Workspace.init(tmp_path / "dlib", face_model="dlib-resnet"))
    assert "policy-sface.toml" in sface.source and "policy.toml (shipped)" in dlib.source
    assert sface.rules != dlib.rules or sface.unified != dlib.unified


@pytest.mark.slow
def test_the_demo_runs_on_the_default_model(
    shipped_default: str, tmp_path: Path, datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.integration.test_cli import VERDICT, run

    monkeypatch.delenv("LEADGUARD_SOURCE_ROOTS")  # as on a fresh machine: no roots declared
    code, out = run("demo", "-w", str(tmp_path / "demo"), "--subjects", "6")
    assert code == 0, out
    assert 'face_model = "sface"' in (tmp_path / "demo" / SETTINGS_FILE).read_text()
    assert "lead 1 released" in out and out.count("mode: open-set") == 2
    assert not VERDICT.search(out)
