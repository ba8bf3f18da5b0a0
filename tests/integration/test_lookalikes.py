"""Look-alike counts on real faces (dlib-resnet): the counts kept incrementally equal a full
recount after enrollment in many batches, after an enrollment SIGKILLed inside a batch's
transaction and after its commit (``killpoints``), after the resumed run, after a removal and
an expungement, and the chain's digest of them verifies after each; ``gallery check`` and
``audit verify`` find a count altered in the database and ``gallery rebuild`` repairs it. A
search's list states, for each candidate, the count read at the grid point at or below its
score (checked against a count from the vectors), and how many people score within the
margin of the top one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from leadguard.audit import log as audit
from leadguard.cli.main import app
from leadguard.evidence import lookalikes as la
from leadguard.face_models import model_space
from leadguard.gallery import lookalikes
from leadguard.gallery.enroll import enroll
from leadguard.gallery.maintenance import expunge_subject, remove_subject
from leadguard.search.request import SearchRequest
from leadguard.storage import lookalike_queries as laq
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace
from tests.conftest import FIXTURES, LFW
from tests.integration import killpoints
from tests.integration.conftest import write_manifest
from tests.models import search

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # SIGKILLs and a second gallery
runner = CliRunner()
LFW_PEOPLE = ["Tariq_Aziz", "Tommy_Haas", "Tony_Stewart", "Yoko_Ono"]


def johns(first: int, last: int) -> list[tuple[Path, str]]:
    by_subject: dict[str, list[Path]] = {}
    for p in sorted((FIXTURES / "dlib_johns").glob("*/*.jpg")):
        by_subject.setdefault(p.parent.name, []).append(p)
    return [(p, who) for who, ps in sorted(by_subject.items()) for p in ps[first:last]]


def lfw(names: list[str], first: int, last: int) -> list[tuple[Path, str]]:
    return [
        (LFW / "images" / n / f"{n}_{i:04d}.jpg", n)
        for n in names
        for i in range(first + 1, last + 1)
    ]


def consistent(ws_path: Path) -> tuple[int, bool]:
    """(templates, counts equal a recount), and the chain verifies: the counts' recorded
    set digest is that of the rows as they stand."""
    ws = Workspace.open(ws_path)
    try:
        key = model_space(ws.settings).key
        result = lookalikes.check_workspace(ws, key)
        assert result.missing == 0, result
        with ws.session() as s:
            chain = audit.verify(s)
        assert chain.intact, (chain.reason, chain.record_problems)
        return result.templates, result.consistent
    finally:
        ws.close()


def test_counts_kept_through_enroll_kills_remove_and_expunge_equal_a_recount(
    tmp_path: Path, datasets: Path
) -> None:
    ws_path = tmp_path / "ws"
    ws = Workspace.init(ws_path, workers=1, commit_every=4)
    first = enroll(ws, write_manifest(tmp_path / "a.csv", johns(0, 3) + lfw(LFW_PEOPLE[:2], 0, 2)))
    assert first.enrolled == 19 and not first.failed, first
    key = model_space(ws.settings).key
    with ws.session() as s:
        rows = lookalikes.candidate_rows(s, [int(i) for i in repo.template_ids(s, key)])
    counts = np.vstack(list(rows.values()))
    assert len(rows) == 19 and counts[:, 0].max() == 6  # 7 people: 6 others at the grid's foot
    # the counts fall across the grid: some grid point where some but not all others count
    assert any(counts[:, i].max() > 0 and counts[:, i].min() < 6 for i in range(la.POINTS))
    assert counts[:, -1].max() == 0  # no stranger at 0.9995
    ws.close()
    assert consistent(ws_path) == (19, True)

    # a second run, killed inside its 3rd batch's transaction (counts written, no commit),
    # then after its 2nd batch's commit (counts committed, index not saved), then resumed
    second = write_manifest(
        tmp_path / "b.csv", johns(3, 5) + lfw(LFW_PEOPLE[:2], 2, 3) + lfw(LFW_PEOPLE[2:], 0, 2)
    )
    args = ("enroll", str(second), "-w", str(ws_path), "--workers", "1")
    marker = tmp_path / "killed-at"
    env = {"LEADGUARD_COMMIT_EVERY": "1"}
    seen, orphans = killpoints.killed_runs(
        [("batch_txn", 3), ("batch_committed", 2)], marker, args, lambda: consistent(ws_path), env
    )
    assert orphans == 0 and all(ok for _, ok in seen), seen
    committed = [templates for templates, _ in seen]
    assert 19 < committed[0] < committed[1] < 19 + 16, committed
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    total, ok = consistent(ws_path)
    assert ok and committed[1] < total <= 19 + 16, (total, committed)  # a face may not be found

    ws = Workspace.open(ws_path)
    try:
        removed = remove_subject(ws, "John_Salley")
        assert lookalikes.check_workspace(ws, key).consistent
        gone = expunge_subject(ws, LFW_PEOPLE[0], "order 2026/17")
        assert gone.verified
        left = lookalikes.check_workspace(ws, key)
        assert left.consistent and left.templates == total - removed - gone.templates, left
        assert removed >= 4 and gone.templates >= 2
        with ws.session() as s:  # a count altered in the database
            tid = int(repo.template_ids(s, key)[-1])
            row = la.from_bytes(laq.lookalike_rows(s, [tid])[tid][1])
            row[:10] += 1
            laq.update_lookalike_rows(s, [(tid, la.to_bytes(row))])
    finally:
        ws.close()
    result = runner.invoke(app, ["gallery", "check", "-w", str(ws_path)])
    assert result.exit_code == 1 and "INCONSISTENT" in result.output, result.output
    assert str(tid) in result.output and "gallery rebuild" in result.output
    result = runner.invoke(app, ["audit", "verify", "-w", str(ws_path)])  # and the chain
    flat = " ".join(result.output.split())
    assert result.exit_code == 1 and f"lookalike_counts rows of space {key}" in flat, flat
    assert "contents differ" in flat, flat
    result = runner.invoke(app, ["gallery", "rebuild", "-w", str(ws_path)])
    assert result.exit_code == 0 and f"{left.templates} templates" in result.output, result.output
    result = runner.invoke(app, ["gallery", "check", "-w", str(ws_path)])
    assert result.exit_code == 0 and "INCONSISTENT" not in result.output, result.output
    assert consistent(ws_path) == (left.templates, True)  # the rebuild's digest recorded


def count_from_vectors(ws: Workspace, template_id: int, score: float) -> int:
    """Other subjects with a template scoring >= the grid point at or below ``score``."""
    key = model_space(ws.settings).key
    with ws.session() as s:
        ids, vecs = repo.template_vectors(s, key)
        tids, subjects = laq.template_subjects(s, key)
    assert (ids == tids).all()
    at = int(np.searchsorted(ids, template_id))
    point = la.GRID[np.searchsorted(la.GRID, score, side="right") - 1]
    sims = vecs.astype(np.float64) @ vecs[at].astype(np.float64)
    return len(
        {int(x) for x, v in zip(subjects, sims, strict=True) if x != subjects[at] and v >= point}
    )


def test_each_candidate_states_its_lookalikes_and_the_list_its_near_top(johns) -> None:
    probe, subject = johns.mated_probes[0]
    result = search(johns.ws, SearchRequest(probe, "booking_photo", investigation=5))
    assert len(result.candidates) == 5 and result.candidates[0].subject == subject
    for c in result.candidates:
        assert c.evidence is not None and c.evidence.lookalikes is not None
        got = c.evidence.lookalikes
        assert got.kept and not got.below_grid
        assert got.grid_point is not None and got.grid_point <= c.score
        assert got.others == count_from_vectors(johns.ws, c.template_id, c.score)
        assert got.line() in c.evidence.lines()
    assert any(c.evidence.lookalikes.others for c in result.candidates if c.evidence)  # type: ignore[union-attr]
    # the list: other people within the margin of the top score, from the search's own scores
    top = result.candidates[0].score
    floor = float(np.tanh(np.arctanh(top) - la.MARGIN_Z))
    near = sum(1 for c in result.candidates[1:] if c.score >= floor)
    assert result.candidates[-1].score < floor  # all five people are on the list: complete
    notice = [n for n in result.notices if n.startswith("Near the top:")]
    words = (
        "no other person" if near == 0 else f"{near} other {'person' if near == 1 else 'people'}"
    )
    assert len(notice) == 1 and notice[0].startswith(f"Near the top: {words} in the gallery"), (
        notice
    )
    # the CLI's JSON carries the same figures
    out = runner.invoke(
        app,
        [
            "search",
            str(probe),
            "-w",
            str(johns.ws.root),
            "--source-type",
            "booking_photo",
            "--investigation",
            "--top-k",
            "5",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    listed = json.loads(out.output)
    for c, shown in zip(result.candidates, listed["candidates"], strict=True):
        kept = shown["evidence"]["lookalikes_in_gallery"]
        assert c.evidence is not None and c.evidence.lookalikes is not None
        assert kept["other_people_at_or_above"] == c.evidence.lookalikes.others
        assert kept["statement"] in shown["evidence"]["statements"]
    assert any(n.startswith("Near the top:") for n in listed["notices"])
