"""One person under two subject ids, on real faces (LFW, the suite's real model, real SQLite):
listed by `gallery duplicates`, resolved with an audited verdict, and kept out of the gallery
figures a candidate list states (issue 25 items 3 and 4)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadguard.cli.main import app
from leadguard.evidence.gallery_figures import gallery_figures
from leadguard.face_models import model_space
from leadguard.gallery.enroll import enroll
from leadguard.search.request import SearchRequest
from leadguard.storage.tables import AuditEntry, DuplicateResolution
from leadguard.storage.workspace import Workspace
from tests.conftest import LFW
from tests.models import search

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PEOPLE = 70  # race-labelled LFW people with at least three photos (210 templates)
runner = CliRunner()


def rows() -> tuple[list[list[str]], str, Path]:
    """Three photos per person; the first person's third photo is enrolled again as a new
    id (a re-booking never linked): the same image bytes would be one image, so a copy."""
    with (LFW / "manifest.csv").open() as fh:
        all_rows = [r for r in csv.DictReader(fh) if r["race"]]
    by: dict[str, list[dict[str, str]]] = {}
    for r in all_rows:
        by.setdefault(r["identity"], []).append(r)
    people = sorted(k for k, v in by.items() if len(v) >= 3)[:PEOPLE]
    out = [
        [str(LFW / r["path"]), p, r["sex"], r["race"]]
        for p in people
        for r in sorted(by[p], key=lambda r: r["path"])[:3]
    ]
    first = sorted(by[people[0]], key=lambda r: r["path"])
    return out, people[0], LFW / first[0]["path"]


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str, Path]:
    root = tmp_path_factory.mktemp("dups")
    base, person, photo = rows()
    sex, race = base[0][2], base[0][3]
    copy = root / "rebooked.jpg"
    copy.write_bytes(photo.read_bytes() + b"\0")  # other bytes, the same picture
    manifest = root / "gallery.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "subject_id", "sex", "race"])
        w.writerows([*base, [str(copy), "ALIAS-0001", sex, race]])
    space = Workspace.init(root / "ws", workers=1)
    enroll(space, manifest)
    return space, person, photo


def test_the_same_person_under_two_ids_is_listed(ws: tuple[Workspace, str, Path]) -> None:
    space, person, _ = ws
    res = runner.invoke(app, ["gallery", "duplicates", "--json", "-w", str(space.root)])
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)
    keys = [(p["subject_a"], p["subject_b"]) for p in got["pairs"]]
    assert tuple(sorted((person, "ALIAS-0001"))) in keys
    assert len(keys) <= 3  # nobody else: real strangers stay in the stranger range
    assert all(p["excluded_from_stranger_figures"] for p in got["pairs"])
    assert "excluded from every stranger figure" in got["statement"]
    text = runner.invoke(app, ["gallery", "duplicates", "-w", str(space.root)])
    assert "ALIAS-0001" in text.output and "open" in text.output


def test_a_list_carries_the_gallery_figures_and_the_exclusion(
    ws: tuple[Workspace, str, Path],
) -> None:
    space, _, photo = ws
    cl = search(space, SearchRequest(photo, top_k=3))
    notices = " ".join(cl.notices)
    assert "Gallery figures: from all" in notices and "probable duplicate" in notices
    assert "excluded from every stranger figure" in notices
    figs = gallery_figures(space, model_space(space.settings).key)
    assert figs.excluded and figs.hists["all"].comparisons >= 10_000
    for c in cl.candidates:
        assert c.evidence is not None
        lines = c.evidence.lines()
        assert any(ln.startswith("Among this gallery's strangers") for ln in lines)
        assert any("Within this candidate's group" in ln for ln in lines)


def test_resolving_a_pair_is_audited_and_changes_what_is_excluded(
    ws: tuple[Workspace, str, Path],
) -> None:
    space, person, _ = ws
    key = model_space(space.settings).key
    before = gallery_figures(space, key)
    res = runner.invoke(
        app,
        [
            "gallery",
            "duplicates",
            "--resolve",
            "ALIAS-0001",
            person,
            "--verdict",
            "different",
            "--note",
            "checked by examiner 2: different tattoos",
            "-w",
            str(space.root),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "count among the gallery's strangers again" in res.output
    after = gallery_figures(space, key)
    assert after.hists["all"].comparisons > before.hists["all"].comparisons
    with space.session() as s:
        row = s.scalars(select(DuplicateResolution)).one()
        assert row.verdict == "different people" and "tattoos" in row.note
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "gallery_duplicate_resolve")
        ).one()
        assert entry.details["verdict"] == "different people"
        assert entry.details["flagged_by_rule"] is True
    res = runner.invoke(
        app,
        ["gallery", "duplicates", "--resolve", person, "ALIAS-0001", "--verdict", "same",
         "--note", "re-booked, same fingerprints", "-w", str(space.root)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    again = gallery_figures(space, key)
    assert again.hists["all"].comparisons == before.hists["all"].comparisons
    bad = runner.invoke(
        app,
        ["gallery", "duplicates", "--resolve", person, "NOBODY", "--verdict", "same",
         "--note", "x", "-w", str(space.root)],
    )  # fmt: skip
    assert bad.exit_code != 0 and "'NOBODY': not enrolled" in bad.output
    assert "Traceback" not in bad.output


def test_removing_a_subject_forgets_its_verdicts(ws: tuple[Workspace, str, Path]) -> None:
    space, _, _ = ws
    res = runner.invoke(app, ["gallery", "remove", "ALIAS-0001", "-w", str(space.root)])
    assert res.exit_code == 0, res.output
    with space.session() as s:
        assert s.scalars(select(DuplicateResolution)).all() == []
    figs = gallery_figures(space, model_space(space.settings).key)
    assert "ALIAS-0001" not in figs.pairs.subjects and not figs.excluded
