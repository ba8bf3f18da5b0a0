"""The leadguard command, run in-process on the real model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadguard.cli.main import app
from tests.conftest import FIXTURES
from tests.integration.conftest import write_manifest

pytestmark = pytest.mark.integration
runner = CliRunner()
# "match" as a verdict; "false match rate" is the standard name of an error rate (ISO/IEC 19795)
VERDICT = re.compile(r"(?<!false )\bmatch", re.IGNORECASE)


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.output


def test_cli_workflow(tmp_path: Path, johns_split) -> None:
    enrolled, probes = johns_split
    ws = tmp_path / "ws"
    code, out = run("init", str(ws))
    assert code == 0 and (ws / "leadguard.toml").exists() and (ws / "leadguard.db").exists()

    rows = [r for r in enrolled if r[1] in (probes[0][1], probes[2][1])]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    code, out = run("enroll", str(manifest), "--workspace", str(ws), "--workers", "1")
    assert code == 0, out
    assert "enrolled now" in out and "faces/s" in out

    # workspace from the environment variable
    code, out = run(
        "search", str(probes[0][0]), "--source-type", "other", env={"LEADGUARD_WORKSPACE": str(ws)}
    )
    assert code == 0, out
    assert probes[0][1] in out and "investigative lead" in out
    assert not VERDICT.search(out)

    code, out = run(
        "search",
        str(probes[0][0]),
        "--source-type",
        "other",
        "-w",
        str(ws),
        "--json",
        "--top-k",
        "2",
    )
    assert code == 0, out
    data = json.loads(out)
    assert data["candidates"][0]["subject"] == probes[0][1]
    assert data["candidates"][0]["rank"] == 1
    assert data["gallery_searched"]["subjects"] == 2
    assert data["embedding_space"]["model_name"] == "dlib_face_recognition_resnet_model_v1"
    assert not VERDICT.search(out)

    code, out = run("gallery", "stats", "-w", str(ws))
    assert code == 0 and "subjects" in out

    code, out = run("index", "check", "-w", str(ws))
    assert code == 0 and "consistent" in out
    for f in (ws / "index").iterdir():  # the index, whichever backend keeps it
        shutil.rmtree(f) if f.is_dir() else f.unlink()
    code, out = run("index", "check", "-w", str(ws))
    assert code == 1 and "INCONSISTENT" in out
    code, out = run("index", "rebuild", "-w", str(ws))
    assert code == 0 and "index rebuilt" in out

    code, out = run("gallery", "remove", probes[0][1], "-w", str(ws))
    assert code == 0 and "removed subject" in out
    code, out = run("search", str(probes[0][0]), "--source-type", "other", "-w", str(ws), "--json")
    assert probes[0][1] not in {c["subject"] for c in json.loads(out)["candidates"]}


def test_cli_errors_are_clear(tmp_path: Path, johns) -> None:
    code, out = run(
        "search", str(tmp_path / "nope.jpg"), "--source-type", "other", "-w", str(johns.ws.root)
    )
    assert code == 2 and "nope.jpg: file not found" in out
    code, out = run("search", "x.jpg", "--source-type", "other", "-w", str(tmp_path / "not-a-ws"))
    assert code == 2 and "not a LeadGuard workspace" in out
    multi = FIXTURES / "face_recognition_examples" / "_unlabelled" / "obama_and_biden.jpg"
    code, out = run("search", str(multi), "--source-type", "other", "-w", str(johns.ws.root))
    assert code == 2 and "face 2:" in out and "--face" in out
    # asked for JSON, the refusal is JSON on stdout too (the message stays on stderr)
    got = runner.invoke(
        app, ["search", str(multi), "--source-type", "other", "-w", str(johns.ws.root), "--json"]
    )
    assert got.exit_code == 2
    body = json.loads(got.stdout)
    assert body["kind"] == "error" and body["error"] == "SeveralFaces"
    assert len(body["detections"]) == 3 and "obama_and_biden.jpg" in body["message"]
    assert "--face" in got.stderr


@pytest.mark.slow
def test_demo_runs_on_a_small_part_of_lfw(
    tmp_path: Path, datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEADGUARD_SOURCE_ROOTS")  # as on a fresh machine: no roots declared
    code, out = run("demo", "-w", str(tmp_path / "demo"), "--subjects", "6")
    assert code == 0, out
    assert "bad_row" not in out and "lead 1 released" in out  # the gallery was enrolled
    assert "corroboration refused (not_face_comparison)" in out
    assert "corroboration refused (face_search_wording)" in out
    assert "counts as independent: no" in out  # presence only
    assert out.count("mode: open-set") == 2 and "INVESTIGATION MODE" in out
    assert "Investigation list (5 people, no threshold)" in out
    assert "NOT enrolled" in out
    assert "audit log keyed from entry" in out  # as `leadguard init` keys a workspace
    assert "authentication codes:" in out and "checked with key" in out
    assert not VERDICT.search(out)
    for doc in ("lead-1.pdf", "lead-1.html", "DEMO-1-disclosure.zip", "transparency-"):
        assert f"{doc}" in out, doc


def test_demo_without_a_source_says_how_to_point_it(tmp_path: Path) -> None:
    code, out = run("demo", "-w", str(tmp_path / "d"), "--source", str(tmp_path / "no-lfw"))
    assert code == 2
    assert "DEMO_ARGS='--source" in out and "Nothing is downloaded" in out
    assert "\\x0a" not in out and "  - make demo DEMO_ARGS='--source /path/to/lfw'" in out
