"""Crash safety under repeated SIGKILL: enrollment is killed at random moments (50 times by
default), then resumed; the workspace must hold exactly the expected images and templates
(none lost, none doubled), the index must agree with the database, the audit chain must
verify, and no worker process may outlive its killed parent.

Usage: python benchmarks/crash_resume.py [--kills 50] [--images 55] [--seed 0]
Writes benchmarks/results/crash_resume.json.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from _common import save

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the process harness lives with the tests

from tests.integration import crashkit  # noqa: E402
from tests.integration.hostile_corpus import johns_chips  # noqa: E402

from leadguard.pipeline.decode import sha256_bytes  # noqa: E402
from leadguard.storage.workspace import Workspace  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kills", type=int, default=50)
    ap.add_argument("--images", type=int, default=55)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    chips = johns_chips()[: args.images]
    expected = len({sha256_bytes(c.read_bytes()) for c in chips})
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        for chip in chips:
            (src / chip.parent.name).mkdir(parents=True, exist_ok=True)
            shutil.copy(chip, src / chip.parent.name / chip.name)
        ws = Path(tmp) / "ws"
        Workspace.init(ws).close()
        startup, full = crashkit.calibrate(src, Path(tmp) / "scratch")
        started = time.perf_counter()
        window = crashkit.kill_window(startup, full)
        log = crashkit.kill_loop(src, ws, args.kills, seed=args.seed, window=window)
        code, out = crashkit.finish(src, ws)
        st = crashkit.state(ws)
        elapsed = time.perf_counter() - started
    result = {
        "uninterrupted_run_seconds": round(full, 1),
        "start_up_seconds": round(startup, 1),
        "kill_window_seconds": [round(w, 1) for w in window],
        "kills": log.kills,
        "kills_after_which_more_was_committed": log.kills_with_progress,
        "runs_finished_before_the_kill": log.finished_early,
        "orphaned_process_groups": log.orphans,
        "templates_after_each_kill": log.templates_after_kill,
        "resume_exit_code": code,
        "traceback_in_resume": "Traceback" in out,
        "expected_images": expected,
        **asdict(st),
        "lost": max(0, expected - st.templates),
        "duplicated": st.duplicated_images + max(0, st.templates - expected),
        "seconds": round(elapsed, 1),
    }
    path = save("crash_resume", result)
    print(
        f"{log.kills} kills ({log.kills_with_progress} with progress), {log.orphans} orphaned "
        f"groups, lost {result['lost']}, "
        f"duplicated {result['duplicated']}, index consistent {st.index_consistent}, "
        f"audit intact {st.audit_intact}; {path}"
    )
    ok = (
        log.orphans == 0
        and result["lost"] == 0
        and result["duplicated"] == 0
        and st.index_consistent
        and st.audit_intact
        and code == 0
    )
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
