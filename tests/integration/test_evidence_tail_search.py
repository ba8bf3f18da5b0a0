"""The per-search open-set statement on real faces: a gallery of 120 LFW people (one photo
each), searched by a second photo of an enrolled person and by people not enrolled; and
``eval evidence --searches`` on the same photos."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadguard.cli.main import app
from leadguard.core.errors import FaceError
from leadguard.evidence.search_check import CHECKED
from leadguard.evidence.tail import MIN_SUBJECTS, TailFit
from leadguard.gallery.enroll import enroll
from leadguard.search.request import SearchRequest
from leadguard.storage.tables import SearchLog
from leadguard.storage.workspace import Workspace
from tests.conftest import LFW
from tests.integration.conftest import write_manifest
from tests.models import search

pytestmark = pytest.mark.integration
runner = CliRunner()
GALLERY = 120


@dataclass
class TailGallery:
    ws: Workspace
    mated: list[tuple[Path, str]]
    strangers: list[Path]
    manifest: Path  # path,identity,sex for eval evidence --searches (one photo per person)


@pytest.fixture(scope="module")
def tail_gallery(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> Iterator[TailGallery]:
    with (LFW / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    by_id: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_id.setdefault(r["identity"], []).append(r)
    repeat = sorted(i for i, rs in by_id.items() if len(rs) >= 2)[::7][:GALLERY]
    single = sorted(i for i, rs in by_id.items() if len(rs) == 1)[::97][:6]
    root = tmp_path_factory.mktemp("tail")
    enrolled = [(LFW / by_id[i][0]["path"], i) for i in repeat]
    ws = Workspace.init(root / "ws", workers=2, source_roots=[str(LFW)])
    report = enroll(ws, write_manifest(root / "gallery.csv", enrolled))
    assert report.enrolled >= MIN_SUBJECTS + 5, report
    manifest = root / "people.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "identity", "sex"])
        for i in (*repeat, *single):
            w.writerow([str(LFW / by_id[i][0]["path"]), i, by_id[i][0]["sex"]])
    mated = [(LFW / by_id[i][1]["path"], i) for i in repeat[:8]]
    strangers = [LFW / by_id[i][0]["path"] for i in single]
    yield TailGallery(ws, mated, strangers, manifest)
    ws.close()


def test_each_search_fits_its_own_tail_and_lists_from_it(tail_gallery: TailGallery) -> None:
    ws = tail_gallery.ws
    found = searched = 0
    for probe, subject in tail_gallery.mated:
        if searched == 3:
            break
        try:
            result = search(ws, SearchRequest(probe))
        except FaceError:  # a second face in the photo, or none: the next probe
            continue
        searched += 1
        os_ = result.open_set
        assert os_ is not None and isinstance(os_.fit, TailFit)
        assert os_.fit.subjects == result.gallery_subjects >= MIN_SUBJECTS
        assert result.threshold is not None
        floor = result.threshold.threshold
        listing = result.listing_threshold
        assert listing is not None and listing >= floor  # the floor: never listed below it
        assert listing == max(floor, os_.fit.score_for(ws.settings.target_fpir))
        for c in result.candidates:
            assert c.score >= listing
            ev = c.evidence
            assert ev is not None and ev.open_set_p is not None
            assert ev.open_set_p <= ws.settings.target_fpir + 1e-12
            assert any("If the person in the probe is not enrolled" in line for line in ev.lines())
        if result.candidates and result.candidates[0].subject == subject:
            found += 1
        with ws.session() as s:
            row = s.scalars(select(SearchLog).where(SearchLog.id == result.search_id)).one()
            assert row.threshold == pytest.approx(listing)
            assert row.result["open_set"]["fit"]["fitted"] is True
            assert row.result["threshold"]["listing_score"] == pytest.approx(listing)
    # a second photo of an enrolled person: usually found at rank 1
    assert searched == 3 and found >= 2


def test_a_stranger_search_states_its_probability_in_investigation_mode(
    tail_gallery: TailGallery,
) -> None:
    ws = tail_gallery.ws
    ps = []
    for probe in tail_gallery.strangers:
        try:
            result = search(ws, SearchRequest(probe, investigation=5, probe_sex="M"))
        except FaceError:
            continue
        texts = ["\n".join(c.evidence.lines()) for c in result.candidates]
        assert sum("found by searching" in t for t in texts) == 5  # the LR read for a search
        for c, text in zip(result.candidates, texts, strict=True):
            # "the highest of N" only for rank 1; the others say how many scored higher
            assert ("highest of" in text) == (c.rank == 1)
            assert (f"ranked {c.rank}:" in text) == (c.rank > 1)
        assert result.open_set is not None and result.open_set.basis == "investigation"
        assert result.listing_threshold is None and len(result.candidates) == 5
        p = [c.evidence.open_set_p for c in result.candidates]
        assert all(x is not None for x in p)
        assert p == sorted(p)  # lower scores: strangers reach them more easily
        ps.append(p[0])
    # a stranger's top look-alike is not a rare event for its own search
    assert len(ps) >= 3 and max(ps) > 0.01


def test_cli_shows_the_per_search_statement(tail_gallery: TailGallery) -> None:
    probe = tail_gallery.mated[0][0]
    ws = str(tail_gallery.ws.root)
    args = ["search", str(probe), "--source-type", "other", "-w", ws, "--face", "0"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "per-search open-set threshold" in res.output
    res = runner.invoke(app, [*args, "--json"])
    data = json.loads(res.output)
    assert data["open_set"]["basis"] in ("per-search", "floor")
    assert data["open_set"]["fit"]["method"] == "gpd_shape_ge_0"


def test_eval_evidence_searches_reports_fpir_and_the_p_distribution(
    tail_gallery: TailGallery, tmp_path: Path
) -> None:
    ws = str(tail_gallery.ws.root)
    out = tmp_path / "report"
    res = runner.invoke(
        app,
        ["eval", "evidence", str(tail_gallery.manifest), "--searches", "-w", ws, "--out", str(out)],
    )
    assert res.exit_code == 0, res.output
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["searches"] == metrics["gallery_subjects"] + 1 >= MIN_SUBJECTS
    rows = [r for r in metrics["fpir"] if r["group"] == "all" and r["subset"] == "all searches"]
    assert [r["target_fpir"] for r in rows] == [0.001, 0.01, 0.05]
    for r in rows:
        for m in ("gallery_size", "per_search", "shipped"):
            assert r[m]["searches"] == metrics["searches"]
            assert 0 <= r[m]["ci95"][0] <= r[m]["ci95"][1] <= 1
        # the shipped rule lists no more often than either of its parts
        assert r["shipped"]["count"] <= min(r["gallery_size"]["count"], r["per_search"]["count"])
    assert {"sex M", "sex F"} <= {r["group"] for r in metrics["fpir"]}
    check = metrics["gallery_check"]  # the set as one enrolled gallery: its own pairs
    n = metrics["searches"]
    assert check["pairs"] == n * (n - 1) // 2 and not check["sampled"]
    if check["raised"]:  # never below the shipped rule's threshold
        for r in rows:
            assert r[CHECKED]["count"] <= r["shipped"]["count"]
    else:
        assert "too few" in check["note"] and CHECKED not in rows[0]
    dist = metrics["p_distribution"]
    assert dist["fit_refused"] == 0 and len(dist["levels"]) == 6
    assert (out / "per-search-p.png").is_file()
    assert "Searches of people not enrolled" in res.output


@pytest.mark.slow
def test_a_second_model_flags_same_person_top_hits(
    tail_gallery: TailGallery, tmp_path: Path
) -> None:
    """``--flag-with`` the other model: its templates of the same photos, cached in the
    workspace, and its own 1-in-10,000 stranger score decide the flag."""
    own = tail_gallery.ws.settings.face_model
    other = "sface" if own == "dlib-resnet" else "dlib-resnet"
    args = ["eval", "evidence", str(tail_gallery.manifest), "--searches", "--flag-with"]
    ws = ["-w", str(tail_gallery.ws.root)]
    res = runner.invoke(app, [*args, other, *ws, "--out", str(tmp_path / "report")])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())["metrics"]
    flagged = metrics["flagged_by_second_model"]
    assert flagged is not None and 0 <= flagged <= metrics["searches"]
    assert f"{other} also scores at or above" in metrics["flag_rule"]
    assert "by the second model" in res.output
    same = runner.invoke(app, [*args, own, *ws, "--out", str(tmp_path / "x")])
    assert same.exit_code != 0 and "own model" in same.output
