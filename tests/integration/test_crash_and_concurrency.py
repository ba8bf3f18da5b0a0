"""Crash safety and concurrency with real processes, the real model and real SQLite:
enrollment killed with SIGKILL at random moments and resumed; two enrollments into one
workspace at once; searches during an enrollment. Nothing lost, nothing doubled, the index
agrees with the database, the audit log is one intact chain, no worker outlives its parent."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from leadguard.pipeline.decode import sha256_bytes
from leadguard.storage.workspace import Workspace
from tests.integration import crashkit
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


@pytest.mark.slow
def test_twenty_sigkills_then_resume_lose_and_double_nothing(tmp_path: Path) -> None:
    src, expected = source(tmp_path / "src", johns_chips())
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    window = crashkit.kill_window(*crashkit.calibrate(src, tmp_path / "scratch"))
    log = crashkit.kill_loop(src, ws, kills=20, seed=1, window=window)
    assert log.kills + log.finished_early >= 20
    assert log.orphans == 0, log
    assert log.templates_after_kill == sorted(log.templates_after_kill)  # never goes back
    assert log.kills_with_progress >= 1, log  # small commits: killed runs still add work
    code, out = crashkit.finish(src, ws)
    assert code == 0 and "Traceback" not in out, out
    assert_exact(ws, expected)


@pytest.mark.usefixtures("database")  # SQLite and PostgreSQL
def test_a_killed_enrollment_leaves_no_worker_and_resumes(tmp_path: Path) -> None:
    src, expected = source(tmp_path / "src", johns_chips()[:12])
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    window = crashkit.kill_window(*crashkit.calibrate(src, tmp_path / "scratch"))
    log = crashkit.kill_loop(src, ws, kills=3, seed=2, window=window)
    assert log.orphans == 0, log
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
