"""Run ``leadguard`` as a real process that SIGKILLs itself at a chosen point of its work:
the Nth time it reaches that point (counted in this process), it writes a marker file and
sends itself SIGKILL. Kill points are events, not moments, so a test that uses them does
not depend on how fast the machine is.

``python -c "from tests.integration.killpoints import main; main()" POINT N MARKER ARGS...``
runs ``leadguard ARGS`` with the point armed; ``start`` does that in a new process group.
Used by tests/integration/test_reembed_crash.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# where each point is, in an enrollment's (or a re-embedding's) commit path
POINTS: dict[str, str] = {
    "result": "the Nth face result reached the main process, before it is committed",
    "batch_txn": "inside the Nth enroll_batch transaction: rows and entry written, no commit",
    "batch_committed": "the Nth batch committed, its index not yet saved",
    "segment_written": "the Nth index segment's files written, meta.json not yet replaced",
    "meta_replaced": "the Nth index save's meta.json replaced, its digests not yet recorded",
    "index_saved": "the Nth index save (enroll or repair) done, its digests not yet recorded",
    "files_txn": "inside the Nth index.files transaction: entry written, no commit",
    "tail": "the Nth measurement of the gallery's own pairs (every batch of the run done)",
}


def _counter(n: int, point: str, marker: Path) -> Callable[[], None]:
    seen = 0

    def hit() -> None:
        nonlocal seen
        seen += 1
        if seen == n:
            marker.write_text(f"{point} {n}\n")
            os.kill(os.getpid(), signal.SIGKILL)

    return hit


def install(point: str, n: int, marker: Path) -> None:
    """Arm ``point``: the Nth time this process reaches it, it is SIGKILLed."""
    from leadguard.audit import log as audit_log
    from leadguard.gallery import enroll, index_files
    from leadguard.index import compressed
    from leadguard.pipeline import worker

    if point not in POINTS:
        raise ValueError(f"unknown kill point {point!r}: one of {', '.join(POINTS)}")
    hit = _counter(n, point, marker)

    if point == "result":
        real_map = worker.WorkerPool.map

        def map_(self: worker.WorkerPool, tasks: Iterator[worker.Task]) -> Iterator[worker.Result]:
            for result in real_map(self, tasks):
                hit()
                yield result

        worker.WorkerPool.map = map_  # type: ignore[method-assign]
    elif point in ("batch_txn", "files_txn"):
        action = "enroll_batch" if point == "batch_txn" else index_files.ACTION
        real_append = audit_log.append

        def append(*args: Any, **kwargs: Any) -> Any:
            entry = real_append(*args, **kwargs)
            if (args[1] if len(args) > 1 else kwargs.get("action")) == action:
                entry_session = args[0] if args else kwargs["session"]
                entry_session.flush()  # the rows reach the database, uncommitted
                hit()
            return entry

        audit_log.append = append  # type: ignore[assignment]
    elif point == "batch_committed":
        real_save = enroll.save_index

        def save_index(*args: Any, **kwargs: Any) -> None:
            hit()
            real_save(*args, **kwargs)

        enroll.save_index = save_index  # type: ignore[assignment]
    elif point == "segment_written":
        real_write = compressed._write_segment

        def write_segment(*args: Any, **kwargs: Any) -> list[str]:
            written = real_write(*args, **kwargs)
            hit()
            return written

        compressed._write_segment = write_segment  # type: ignore[assignment]
    elif point == "meta_replaced":
        real_fsync = compressed.fsync_dir  # called just after meta.json is replaced

        def fsync_dir(*args: Any, **kwargs: Any) -> None:
            hit()
            real_fsync(*args, **kwargs)

        compressed.fsync_dir = fsync_dir  # type: ignore[assignment]
    elif point == "index_saved":
        real_record = index_files.record

        def record(*args: Any, **kwargs: Any) -> dict[str, str]:
            hit()
            return real_record(*args, **kwargs)

        index_files.record = record  # type: ignore[assignment]
    elif point == "tail":
        real_figures = enroll.gallery_figures  # the run's last step: the gallery's own pairs

        def gallery_figures(*args: Any, **kwargs: Any) -> Any:
            hit()
            return real_figures(*args, **kwargs)

        enroll.gallery_figures = gallery_figures  # type: ignore[assignment]


def main() -> None:
    point, n, marker, *args = sys.argv[1:]
    install(point, int(n), Path(marker))
    from leadguard.cli.main import app

    sys.argv = ["leadguard", *args]
    app()


def start(
    point: str, n: int, marker: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """``leadguard ARGS`` with ``point`` armed, in its own process group."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tests.integration.killpoints import main; main()",
            point,
            str(n),
            str(marker),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **(env or {}), "COLUMNS": "200", "PYTHONPATH": path},
    )


def killed_runs(
    schedule: list[tuple[str, int]],
    marker: Path,
    args: tuple[str, ...],
    after: Callable[[], Any],
    env: dict[str, str] | None = None,
) -> tuple[list[Any], int]:
    """Run ``leadguard ARGS`` once for each (point, N) of ``schedule``, killed there.

    Asserts that every run died of SIGKILL at the point it was armed with (a run that
    finished or failed first is a test failure, not a skipped kill). After each kill it
    waits for the whole process group to end and calls ``after()``. Returns what ``after``
    gave for each kill, and how many kills left some process of the group (a worker, the
    resource tracker) running: those are killed here, and counted.
    """
    from tests.integration.crashkit import wait_group_gone

    seen: list[Any] = []
    orphans = 0
    for point, n in schedule:
        p = start(point, n, marker, *args, env=env)
        out = p.communicate(timeout=600)[0].decode("utf-8", "replace")
        assert p.returncode == -signal.SIGKILL, (point, n, p.returncode, out[-2000:])
        assert marker.read_text() == f"{point} {n}\n", (point, n)  # killed where armed
        marker.unlink()
        if not wait_group_gone(p.pid):
            orphans += 1
            os.killpg(p.pid, signal.SIGKILL)  # clean up; the failure is counted
        seen.append(after())
    return seen, orphans
