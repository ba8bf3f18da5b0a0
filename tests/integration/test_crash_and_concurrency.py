"""Crash safety and concurrency with real processes, the real model and real SQLite:
enrollment SIGKILLed at chosen points of its commit path and resumed; two enrollments into one
workspace at once; searches during an enrollment. Nothing lost, nothing doubled, the index
agrees with the database, the audit log is one intact chain, no worker outlives its parent."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from leadguard.pipeline.decode import sha256_bytes
from leadguard.storage.workspace import Workspace
from tests.integration import crashkit, killpoints
from tests.integration.hostile_corpus import johns_chips

pytestmark = pytest.mark.integration


def source(root: Path, chips: list[Path]) -> tuple[Path, int]:
    """A folder source of Johns chips; returns it and its number of distinct images."""
    for chip in chips:
        (root / chip.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(chip, root / chip.parent.name / chip.name)
    return root, len({sha256_bytes(c.read_bytes()) for c in chips})


def assert_exact(ws: Path, expected: int) -> crashkit.State:
    st = crashkit.state(ws)
    assert st.images == expected, st
    assert st.templates == expected, st
    assert st.duplicated_images == 0, st
    assert st.index_consistent, st
    assert st.audit_intact, st
    assert st.batch_templates == st.templates, st  # every template logged, by id
    return st


# (point, N): each run is killed the Nth time it reaches the point (``killpoints``), counted
# by events, never by time. With one image a batch and two worker processes, a kill at
# ``result`` lands while both workers are mid-image; the kills after one that left the index
# behind the database land in the next run's repair. At most 29 images are committed
# before the last kill, so every point is reached; the last kill comes after every batch.
SCHEDULE: list[tuple[str, int]] = [
    ("result", 1),  # nothing committed yet
    ("batch_txn", 1),
    ("batch_committed", 1),  # image 1 committed, its index not saved
    ("index_saved", 1),  # the next run's repair saved, its digests not recorded
    ("files_txn", 1),
    ("meta_replaced", 1),
    ("segment_written", 1),
    ("result", 5),
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
    ("files_txn", 3),
    ("tail", 1),  # every image done, killed at the end of the run
]
ONE_A_BATCH = {"LEADGUARD_COMMIT_EVERY": "1"}


def killed_enrollments(
    src: Path, ws: Path, schedule: list[tuple[str, int]], marker: Path
) -> tuple[list[int], int]:
    """``enroll`` with two workers, killed at each point of ``schedule``: the templates
    committed after each kill, and the kills that left a process of the group running."""
    args = ("enroll", str(src), "-w", str(ws), "--workers", "2")
    return killpoints.killed_runs(
        schedule, marker, args, lambda: crashkit.count_templates(ws), ONE_A_BATCH
    )


@pytest.mark.slow
def test_twenty_sigkills_then_resume_lose_and_double_nothing(tmp_path: Path) -> None:
    assert len(SCHEDULE) == 20 and {p for p, _ in SCHEDULE} == set(killpoints.POINTS)
    src, expected = source(tmp_path / "src", johns_chips())
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    after_kill, orphans = killed_enrollments(src, ws, SCHEDULE, tmp_path / "killed-at")
    assert orphans == 0
    assert after_kill == sorted(after_kill), after_kill  # committed work is never lost
    assert 0 < after_kill[-2] < expected, after_kill  # killed runs made progress
    assert after_kill[-1] == expected, after_kill  # the tail kill came after the last batch
    code, out = crashkit.finish(src, ws)
    assert code == 0 and "Traceback" not in out, out
    assert_exact(ws, expected)


@pytest.mark.usefixtures("database")  # SQLite and PostgreSQL
def test_a_killed_enrollment_leaves_no_worker_and_resumes(tmp_path: Path) -> None:
    src, expected = source(tmp_path / "src", johns_chips()[:12])
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    schedule = [("result", 2), ("batch_committed", 1), ("files_txn", 1)]
    after_kill, orphans = killed_enrollments(src, ws, schedule, tmp_path / "killed-at")
    assert orphans == 0
    assert after_kill == sorted(after_kill) and after_kill[-1] > 0, after_kill
    code, out = crashkit.finish(src, ws)
    assert code == 0 and "Traceback" not in out, out
    assert_exact(ws, expected)


@pytest.mark.usefixtures("database")  # SQLite and PostgreSQL
def test_two_enrollments_at_once_and_searches_during_them(tmp_path: Path) -> None:
    chips = johns_chips()
    same, n_same = source(tmp_path / "same", chips[:30])
    other, _ = source(tmp_path / "other", chips[30:])
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    runs = [
        crashkit.start("enroll", str(same), "-w", str(ws), "--workers", "1"),
        crashkit.start("enroll", str(same), "-w", str(ws), "--workers", "1"),
        crashkit.start("enroll", str(other), "-w", str(ws), "--workers", "1"),
    ]
    searches = []
    probe = chips[0]
    while any(p.poll() is None for p in runs):
        s = crashkit.start(
            "search", str(probe), "-w", str(ws), "--source-type", "other", "--investigation"
        )
        out, _ = s.communicate(timeout=300)
        searches.append((s.returncode, out.decode("utf-8", "replace")))
        time.sleep(0.2)
    outs = [p.communicate()[0].decode("utf-8", "replace") for p in runs]
    for p, out in zip(runs, outs, strict=True):
        assert p.returncode == 0 and "Traceback" not in out, out
    assert searches, "no search ran during the enrollments"
    for code, out in searches:
        assert "Traceback" not in out and "locked" not in out, out
        # an empty gallery at the very start is a clear refusal, not a crash
        assert code == 0 or "error:" in out, out
    expected = len({sha256_bytes(c.read_bytes()) for c in chips})
    # checked before any later search could repair the index: the writers kept it right
    st = assert_exact(ws, expected)
    assert st.images == n_same + (expected - n_same)
