"""The evaluation commands on small real subsets of LFW (published numbers come from the
benchmark commands in docs/accuracy.md, not from these tests)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadguard.cli.main import app
from leadguard.evaluation import run as evaluation
from leadguard.face_models import model_space
from leadguard.storage.tables import AccuracyRecord, TemplateCache
from leadguard.storage.workspace import Workspace
from tests.conftest import LFW

pytestmark = [pytest.mark.integration, pytest.mark.slow]
runner = CliRunner()

MATED = [
    ("Abdullah_Gul", 1, 2),
    ("Andre_Agassi", 1, 2),
    ("Colin_Powell", 1, 3),
    ("Gloria_Macapagal_Arroyo", 1, 2),
    ("Hugo_Chavez", 1, 2),
    ("Jean_Chretien", 1, 2),
]
NONMATED = [
    ("Abdullah_Gul", 3, "Andre_Agassi", 3),
    ("Colin_Powell", 4, "Hugo_Chavez", 3),
    ("Jean_Chretien", 3, "Gloria_Macapagal_Arroyo", 3),
    ("Andre_Agassi", 4, "Colin_Powell", 5),
    ("Hugo_Chavez", 4, "Abdullah_Gul", 4),
    ("Gloria_Macapagal_Arroyo", 4, "Jean_Chretien", 4),
]


@pytest.fixture(scope="module")
def mini_lfw(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Path:
    """An LFW-shaped folder: the real images (linked, not copied) and tiny protocol files."""
    root = tmp_path_factory.mktemp("mini_lfw")
    (root / "images").symlink_to(LFW / "images")
    proto = root / "protocols"
    (proto / "blufr").mkdir(parents=True)
    lines = ["2\t3"]
    for fold in range(2):
        lines += ["\t".join(map(str, r)) for r in MATED[fold * 3 : fold * 3 + 3]]
        lines += ["\t".join(map(str, r)) for r in NONMATED[fold * 3 : fold * 3 + 3]]
    (proto / "pairs.txt").write_text("\n".join(lines) + "\n")
    enrolled = [n for n, _, _ in MATED[:4]]
    with (proto / "blufr" / "split1_gallery.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "identity"])
        w.writerows([f"images/{n}/{n}_0001.jpg", n] for n in enrolled)
    with (proto / "blufr" / "split1_probe.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "identity"])
        w.writerows([f"images/{n}/{n}_0002.jpg", n] for n in enrolled)
        w.writerows([f"images/{n}/{n}_0001.jpg", n] for n, _, _ in MATED[4:])
    return root


@pytest.fixture(scope="module")
def eval_ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.init(tmp_path_factory.mktemp("evalws") / "ws", workers=1)


def test_eval_verify_writes_scores_report_and_record(mini_lfw: Path, eval_ws: Workspace) -> None:
    out = eval_ws.root / "r1"
    result = runner.invoke(
        app, ["eval", "verify", "--data", str(mini_lfw), "-w", str(eval_ws.root), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "LFW 10-fold accuracy" in result.output
    for name in ("scores.csv", "report.html", "metrics.json", "det.png", "roc.png", "scores.png"):
        assert (out / name).exists(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["metrics"]["mated_pairs"] == 6 and metrics["metrics"]["nonmated_pairs"] == 6
    assert metrics["metrics"]["lfw_10fold"]["mean_accuracy"] == 1.0  # easy, distinct people
    prov = metrics["provenance"]
    assert prov["embedding_space"]["key"] == model_space(eval_ws.settings).key
    assert len(prov["dataset_checksum"]) == 64 and prov["command"].startswith("leadguard")
    # the stored record and a re-analysis of the score file agree with the run
    with eval_ws.session() as s:
        rec = s.scalars(select(AccuracyRecord).order_by(AccuracyRecord.id.desc())).first()
        assert rec.protocol == "lfw-pairs" and rec.space_key == prov["embedding_space"]["key"]
        assert rec.metrics["eer"] == metrics["metrics"]["eer"]
    again = evaluation.reanalyse(out / "scores.csv")
    assert again["lfw_10fold"] == metrics["metrics"]["lfw_10fold"]


def test_templates_are_cached_by_hash_and_space(
    mini_lfw: Path, eval_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluation.verify_lfw(eval_ws, mini_lfw, eval_ws.root / "warm")
    with eval_ws.session() as s:
        before = len(s.scalars(select(TemplateCache)).all())

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("templates were recomputed")

    monkeypatch.setattr("leadguard.evaluation.templates.WorkerPool", refuse)
    evaluation.verify_lfw(eval_ws, mini_lfw, eval_ws.root / "cached")
    with eval_ws.session() as s:
        assert len(s.scalars(select(TemplateCache)).all()) == before


def test_eval_identify_open_set(mini_lfw: Path, eval_ws: Workspace) -> None:
    out = eval_ws.root / "r2"
    result = runner.invoke(
        app,
        [
            "eval",
            "identify",
            "--data",
            str(mini_lfw),
            "--split",
            "1",
            "-w",
            str(eval_ws.root),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    split = metrics["splits"][0]
    assert split["mated_searches"] == 4 and split["nonmated_searches"] == 2
    assert split["cmc"]["rank1"] == 1.0
    assert (out / "cmc.png").exists() and (out / "candidates.csv.gz").exists()


def test_eval_manifest_per_group(tmp_path: Path, eval_ws: Workspace, datasets: Path) -> None:
    with (LFW / "manifest.csv").open() as fh:
        rows = [
            r
            for r in csv.DictReader(fh)
            if r["identity"]
            in {
                "Abdullah_Gul",
                "Andre_Agassi",
                "Colin_Powell",
                "Gloria_Macapagal_Arroyo",
                "Jennifer_Aniston",
                "Serena_Williams",
            }
        ]
    by_id: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_id.setdefault(r["identity"], []).append(r)
    manifest = tmp_path / "m.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "identity", "sex", "race", "age"])
        for ident, imgs in sorted(by_id.items()):
            for r in imgs[:3]:
                w.writerow([str(LFW / r["path"]), ident, r["sex"], "x", ""])
    out = eval_ws.root / "r3"
    result = runner.invoke(
        app,
        [
            "eval",
            "manifest",
            str(manifest),
            "-w",
            str(eval_ws.root),
            "--out",
            str(out),
            "--nonmated",
            "60",
            "--within-group",
            "40",
        ],
    )
    assert result.exit_code == 0, result.output
    demo = json.loads((out / "metrics.json").read_text())["metrics"]["demographics"]
    assert set(demo["groups"]) == {"F/x", "M/x"}
    for g in demo["groups"].values():
        assert g["too_small"]  # 9 mated pairs per group cannot say anything, and says so
        assert g["mated_pairs"] == 9
    assert "too small to say anything" in result.output
    assert (out / "groups.png").exists()
    result = runner.invoke(app, ["eval", "records", "-w", str(eval_ws.root)])
    assert result.exit_code == 0 and "manifest" in result.output


def test_eval_evidence_fits_on_half_the_people_and_validates_on_the_rest(
    tmp_path: Path, eval_ws: Workspace, datasets: Path
) -> None:
    """Forty LFW people with at least four photos (four each): fitted, validated, stored."""
    with (LFW / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    by_id: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_id.setdefault(r["identity"], []).append(r)
    people = sorted(i for i, imgs in by_id.items() if len(imgs) >= 4)[:40]
    manifest = tmp_path / "people.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "identity", "sex", "race", "age"])
        for ident in people:
            for r in by_id[ident][:4]:
                w.writerow([str(LFW / r["path"]), ident, r["sex"], r["race"], ""])
    out = eval_ws.root / "evidence"
    args = ["eval", "evidence", str(manifest), "-w", str(eval_ws.root), "--out", str(out)]
    result = runner.invoke(app, [*args, "--bootstraps", "5", "--repeats", "2"])
    assert result.exit_code == 0, result.output
    assert "Cllr" in result.output and "calibration loss" in result.output
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    cal, held = metrics["calibration"], metrics["held_out"]
    assert cal["identities"] + held["identities"] == 40
    assert cal["nonmated_pairs"] > 0
    lr = metrics["likelihood_ratio"]
    assert 0 <= lr["cllr_min"] <= lr["cllr"] < 1.0  # informative, and worse when miscalibrated
    assert metrics["fpir"] and all(r["searches"] > 0 for r in metrics["fpir"])
    for name in (
        "lr.png",
        "ece.png",
        "fpir.png",
        "counts.png",
        "report.html",
        "evidence-model.npz",
    ):
        assert (out / name).exists(), name
    from leadguard.evidence.model import latest
    from leadguard.storage.tables import EvidenceModelRecord

    with eval_ws.session() as s:
        rec = s.scalars(select(EvidenceModelRecord)).one()
        record = s.get(AccuracyRecord, rec.record_id)
        assert rec.source == "measured" and record is not None
        assert record.protocol == "evidence"
    stored = latest(eval_ws, rec.space_key)
    assert stored is not None and stored.source == "measured"
    assert stored.model.meta["calibration"]["identity_digest"] == cal["identity_digest"]
