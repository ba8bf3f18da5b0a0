"""Look-alike counts: the count logic on constructed scores (against a brute-force count),
the reading of a candidate's count (which way it rounds), the list's near-top figure, and the
counts kept in a workspace's database by enrollment batches and removal, against a full
recount, on synthetic templates whose scores spread over the whole grid; the counts' set
digest in the audit chain (kept through the same changes, finding an edit that a later
enrollment does not launder; migration 0020: tests/unit/test_migration_0020.py)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from leadguard.audit import lookalike_state
from leadguard.evidence import lookalikes as la
from leadguard.face_models import model_space
from leadguard.gallery import lookalikes
from leadguard.gallery.maintenance import remove_subject
from leadguard.storage import lookalike_queries as laq
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace
from tests.unit.lookalike_kit import chain_findings, edit_a_count, enroll_batch


def brute_counts(scores: np.ndarray, subjects: np.ndarray, own: int) -> np.ndarray:
    """Count per grid point: other subjects with any score >= the point (plain loops)."""
    out = np.zeros(la.POINTS, dtype=np.int64)
    for i, g in enumerate(la.GRID):
        out[i] = len(
            {int(sub) for sc, sub in zip(scores, subjects, strict=True) if sub != own and sc >= g}
        )
    return out


def test_the_grid_covers_both_models_listing_ranges() -> None:
    assert la.POINTS == 155
    assert np.all(np.diff(la.GRID) > 0)
    assert la.GRID[0] == pytest.approx(0.2913, abs=1e-4)
    assert la.GRID[-1] == pytest.approx(0.9995, abs=1e-4)
    # SFace lists from about 0.4, dlib-resnet from about 0.94: both well inside, finely spaced
    assert np.diff(la.GRID[(la.GRID > 0.94) & (la.GRID < 0.99)]).max() < 0.003
    assert np.diff(la.GRID[(la.GRID > 0.4) & (la.GRID < 0.6)]).max() < 0.025


def test_counts_from_best_equal_a_brute_force_count() -> None:
    rng = np.random.default_rng(1)
    scores = rng.uniform(0.0, 1.0, size=(6, 40))
    scores[:, :3] = [0.2913, la.GRID[40], la.GRID[-1]]  # exactly at grid points: counted
    best = scores.copy()
    best[:, 5] = -np.inf  # not counted (the row's own subject)
    got = la.counts_from_best(best)
    for r in range(6):
        want = brute_counts(np.delete(scores[r], 5), np.delete(np.arange(40), 5), -1)
        assert got[r].tolist() == want.tolist()
    assert (np.diff(got, axis=1) <= 0).all()  # never more people at a higher score


def test_band_counts_the_points_a_subject_newly_reaches() -> None:
    k_lo = np.array([[0, 10, 30], [5, 5, 155]])
    k_hi = np.array([[3, 10, 40], [7, 9, 155]])
    got = la.band(k_lo, k_hi)  # (columns, points)
    want = np.zeros((3, la.POINTS), dtype=np.int64)
    for j in range(3):
        for x in range(2):
            want[j, k_lo[x, j] : k_hi[x, j]] += 1
    assert got.tolist() == want.tolist()


def test_a_count_is_read_at_the_grid_point_at_or_below_the_score() -> None:
    row = np.arange(la.POINTS)[::-1].astype(np.int64)  # falls with the score
    at = la.read(float(la.GRID[50]), row)
    assert (at.grid_point, at.others, at.below_grid) == (la.GRID[50], row[50], False)
    between = la.read(float(la.GRID[50] + 1e-4), row)  # rounds down: never an undercount
    assert between.grid_point == la.GRID[50] and between.others == row[50]
    assert "never too low" in between.line()
    top = la.read(0.99999, row)
    assert top.others == row[-1]
    low = la.read(0.1, row)
    assert low.below_grid and low.others == row[0] and "lower bound" in low.line()
    nothing_known = la.read(0.1, np.zeros(la.POINTS, dtype=np.int64))
    assert "not known" in nothing_known.line() and "at least no" not in nothing_known.line()
    none = la.read(0.9, None)
    assert not none.kept and none.others is None and "gallery rebuild" in none.line()
    assert la.read(0.97, np.zeros(la.POINTS, dtype=np.int64)).line().count("no other enrolled")


def test_near_top_counts_the_others_within_the_margin() -> None:
    top = 0.96
    floor = float(np.tanh(np.arctanh(top) - la.MARGIN_Z))
    scores = [top, floor + 1e-6, floor, floor - 1e-6, 0.5]
    near = la.near_top(scores, subjects=5)
    assert near is not None and near.others == 2 and near.complete
    assert near.floor == pytest.approx(floor)
    # every score read was within the margin and more people were searched: a floor
    crowded = la.near_top([top, top, top], subjects=1000)
    assert crowded is not None and crowded.others == 2 and not crowded.complete
    assert "at least 2 other people in the gallery score almost" in crowded.line()
    assert "2 other people in the gallery score almost" in near.line()
    # one verb for one person, none or one
    alone = la.near_top([top, 0.5], subjects=2)
    assert alone is not None and alone.others == 0
    assert "no other person in the gallery scores almost" in alone.line()
    one = la.near_top([top, floor + 1e-6, 0.5], subjects=3)
    assert one is not None and "1 other person in the gallery scores almost" in one.line()
    assert la.near_top([], 0) is None


def test_bytes_round_trip_and_refuse_a_wrong_length() -> None:
    row = np.arange(la.POINTS, dtype=np.int64)
    assert la.from_bytes(la.to_bytes(row)).tolist() == row.tolist()
    with pytest.raises(ValueError):
        la.from_bytes(b"\x00" * 8)
    with pytest.raises(ValueError):
        la.to_bytes(-row)


# --- in a workspace ---


def test_counts_kept_by_batches_and_removals_equal_a_recount(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    try:
        key = model_space(ws.settings).key
        enroll_batch(ws, 0, [1, 1, 2, 3])
        enroll_batch(ws, 10, [2, 4, 4, 5, 6])  # subject 2 again: its best can only rise
        enroll_batch(ws, 20, [1, 7, 8, 8, 9, 3])
        with ws.session() as s:
            ids, recount = lookalikes.compute_all(s, key)
            vecs = repo.template_vectors(s, key)[1].astype(np.float64)
            subs = laq.template_subjects(s, key)[1]
        # the recount itself against plain loops
        scores = vecs @ vecs.T
        for r in range(len(ids)):
            assert recount[r].tolist() == brute_counts(scores[r], subs, int(subs[r])).tolist()
        # the grid is exercised: everyone counts everyone at its foot, few at 0.914
        assert recount[:, 0].min() == 8 and 0 < recount[:, 50].max() < 8
        assert lookalikes.check_workspace(ws, key).consistent
        remove_subject(ws, "S004")
        remove_subject(ws, "S001")
        result = lookalikes.check_workspace(ws, key)
        assert result.consistent and result.templates == len(ids) - 5
        with ws.session() as s:  # a count altered in the database is found
            tid = int(repo.template_ids(s, key)[0])
            blob = laq.lookalike_rows(s, [tid])[tid][1]
            row = la.from_bytes(blob)
            row[0] += 1
            laq.update_lookalike_rows(s, [(tid, la.to_bytes(row))])
        bad = lookalikes.check_workspace(ws, key)
        assert not bad.consistent and bad.differ == 1 and bad.differing_ids == (tid,)
        assert lookalikes.rebuild_workspace(ws, key) == result.templates
        assert lookalikes.check_workspace(ws, key).consistent
    finally:
        ws.close()


def test_the_chain_records_the_counts_and_finds_an_edit_later_changes_do_not_hide(
    tmp_path: Path,
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    try:
        key = model_space(ws.settings).key
        enroll_batch(ws, 0, [1, 1, 2, 3])
        enroll_batch(ws, 10, [2, 4, 4, 5, 6])
        remove_subject(ws, "S004")
        with ws.session() as s:
            recorded = lookalike_state.recorded(s, key)
            assert recorded == lookalike_state.State(
                lookalike_state.of_table(s, key).digest, 7, recorded.seq
            )
        assert chain_findings(ws) == []
        edit_a_count(ws, key)
        found = chain_findings(ws)
        assert len(found) == 1 and "7 rows, as recorded, but their contents differ" in found[0]
        enroll_batch(ws, 20, [1, 7, 8])  # raises the edited row's counts too: still found
        remove_subject(ws, "S002")
        found = chain_findings(ws)
        assert len(found) == 1 and "contents differ" in found[0], found
        with ws.session() as s:  # a row deleted: the count of rows says so too
            laq.delete_lookalike_rows(s, ids=[int(repo.template_ids(s, key)[-1])])
        assert "7 rows where it records 8" in chain_findings(ws)[0]
        lookalikes.rebuild_workspace(ws, key)  # recomputed from the templates, audited
        assert chain_findings(ws) == []
    finally:
        ws.close()


def test_edits_found_by_a_red_team_are_found(tmp_path: Path) -> None:
    """Two edits a helper session made pass ``verify`` (2026-12-07), by the database file
    itself (``sqlite3``: foreign keys not enforced, a NUL allowed in text): bytes moved
    from a row's counts into its grid name, which the digest's record once joined with
    ``\\0`` alone (the record stayed the same, and the list then said "no count is kept");
    and a row with a negative template id, below where the digest's scan began."""
    ws = Workspace.init(tmp_path / "ws")
    try:
        enroll_batch(ws, 0, [1, 1, 2, 3])
        assert chain_findings(ws) == []
    finally:
        ws.close()
    db = sqlite3.connect(tmp_path / "ws" / "leadguard.db")
    try:
        tid, grid, blob = db.execute(
            "SELECT template_id, grid, counts FROM lookalike_counts ORDER BY template_id"
        ).fetchone()
        k = bytes(blob).index(0)
        moved = (grid + "\0" + bytes(blob)[:k].decode("latin-1"), bytes(blob)[k + 1 :], tid)
        db.execute("UPDATE lookalike_counts SET grid = ?, counts = ? WHERE template_id = ?", moved)
        db.commit()
        ws = Workspace.open(tmp_path / "ws")
        assert "contents differ" in " ".join(chain_findings(ws))
        ws.close()
        db.execute(
            "UPDATE lookalike_counts SET grid = ?, counts = ? WHERE template_id = ?",
            (grid, blob, tid),
        )  # put back: verifies again
        db.commit()
        ws = Workspace.open(tmp_path / "ws")
        assert chain_findings(ws) == []
        ws.close()
        db.execute(
            "INSERT INTO lookalike_counts (template_id, space_key, grid, counts) "
            "SELECT -5, space_key, grid, counts FROM lookalike_counts WHERE template_id = ?",
            (tid,),
        )
        db.commit()
    finally:
        db.close()
    ws = Workspace.open(tmp_path / "ws")
    try:
        assert "5 rows where it records 4" in " ".join(chain_findings(ws)), chain_findings(ws)
    finally:
        ws.close()


def test_counts_that_are_not_bytes_are_findings_not_tracebacks(tmp_path: Path) -> None:
    """SQLite keeps any type in any column: counts set by hand to a text or a number are
    named by ``audit verify`` and by ``gallery check`` (as no row), never raised."""
    ws = Workspace.init(tmp_path / "ws")
    try:
        key = model_space(ws.settings).key
        enroll_batch(ws, 0, [1, 1, 2, 3])
    finally:
        ws.close()
    db = sqlite3.connect(tmp_path / "ws" / "leadguard.db")
    try:
        db.execute("UPDATE lookalike_counts SET counts = 'abc' WHERE template_id = 1")
        db.execute("UPDATE lookalike_counts SET counts = 42 WHERE template_id = 2")
        db.commit()
    finally:
        db.close()
    ws = Workspace.open(tmp_path / "ws")
    try:
        assert "4 rows, as recorded, but their contents differ" in " ".join(chain_findings(ws))
        check = lookalikes.check_workspace(ws, key)
        assert check.missing == 2 and check.differing_ids[:2] == (1, 2), check
    finally:
        ws.close()


def test_a_grid_of_bytes_that_are_not_text_is_a_finding_not_a_traceback(tmp_path: Path) -> None:
    """A grid name set by hand to bytes that are not UTF-8 (SQLite's driver cannot decode
    them) or a space key set to a blob: ``audit verify`` names both (a red-team pass of the
    evaluation cache found the same doors there)."""
    ws = Workspace.init(tmp_path / "ws")
    try:
        enroll_batch(ws, 0, [1, 1, 2, 3])
    finally:
        ws.close()
    db = sqlite3.connect(tmp_path / "ws" / "leadguard.db")
    try:
        db.execute("UPDATE lookalike_counts SET grid = CAST(x'ff41' AS TEXT) WHERE template_id = 1")
        db.execute(
            "UPDATE lookalike_counts SET space_key = CAST(space_key AS BLOB) WHERE template_id = 2"
        )
        db.commit()
    finally:
        db.close()
    ws = Workspace.open(tmp_path / "ws")
    try:
        found = " ".join(chain_findings(ws))
        assert "3 rows where it records 4" in found and "whose space key is b'" in found, found
        enroll_batch(ws, 4, [4])  # the next enrollment reads those rows too: no traceback
        assert "rows where it records" in " ".join(chain_findings(ws))
        check = lookalikes.check_workspace(ws, model_space(ws.settings).key)
        assert 1 in check.differing_ids, check  # the row of that grid counts as wrong
    finally:
        ws.close()
