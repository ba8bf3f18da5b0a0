"""Run ``leadguard`` as real processes, kill them with SIGKILL, and check what is left.

Used by tests/integration/test_crash_and_concurrency.py and benchmarks/crash_resume.py.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from leadguard.audit.log import verify
from leadguard.face_models import create_model
from leadguard.gallery.maintenance import check_index
from leadguard.storage.tables import AuditEntry, FaceRecord, ImageRecord, TemplateRecord
from leadguard.storage.workspace import Workspace

CLI = [sys.executable, "-c", "from leadguard.cli.main import app; app()"]


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """``leadguard ARGS`` in its own process group (so every descendant can be found)."""
    return subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **(env or {}), "COLUMNS": "200"},
    )


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_group_gone(pgid: int, timeout: float = 60.0) -> bool:
    """True when no process of the group is left (workers, resource tracker) in time: the
    limit is generous, a busy machine can take seconds to end a group."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not group_alive(pgid):
            return True
        time.sleep(0.05)
    return False


@dataclass
class KillLog:
    kills: int = 0
    finished_early: int = 0
    orphans: int = 0  # kills after which some process of the group outlived the parent
    templates_after_kill: list[int] = field(default_factory=list)

    @property
    def kills_with_progress(self) -> int:
        """Kills after which more templates were committed than after the one before."""
        seen = [0, *self.templates_after_kill]
        return sum(1 for a, b in itertools.pairwise(seen) if b > a)


def kill_loop(
    source: Path,
    ws: Path,
    kills: int,
    seed: int = 0,
    window: tuple[float, float] = (0.5, 6.0),
    workers: int = 2,
) -> KillLog:
    """Start ``enroll``, SIGKILL only the parent at a random moment, ``kills`` times."""
    rng = random.Random(seed)
    log = KillLog()
    while log.kills < kills:
        p = start("enroll", str(source), "-w", str(ws), "--workers", str(workers))
        time.sleep(rng.uniform(*window))
        if p.poll() is not None:
            log.finished_early += 1
            p.communicate()
            window = (window[0] / 2, window[1] / 2)  # enrollment got quick: kill sooner
            if window[1] < 0.05:
                break
            continue
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        p.stdout.close() if p.stdout else None
        log.kills += 1
        if not wait_group_gone(p.pid):
            log.orphans += 1
            os.killpg(p.pid, signal.SIGKILL)  # clean up, the failure is counted
        log.templates_after_kill.append(count_templates(ws))
        after = log.templates_after_kill
        if len(after) >= 3 and after[-3] == after[-1]:
            # two kills in a row with nothing committed: the machine is slower now than when
            # calibrated (CI shares it), so later kills may land later (not a speed test)
            window = (window[0], window[1] * 1.5)
    return log


def calibrate(source: Path, scratch: Path, workers: int = 2) -> tuple[float, float]:
    """(start-up, whole run) in seconds here and now: one uninterrupted enrollment of
    ``source`` into a scratch workspace, then a run with nothing left to do."""
    Workspace.init(scratch).close()
    times = []
    for _ in range(2):
        started = time.monotonic()
        code, out = finish(source, scratch, workers)
        if code != 0:
            raise RuntimeError(f"calibration run failed: {out[-500:]}")
        times.append(time.monotonic() - started)
    full, startup = times
    return startup, max(full, startup + 1.0)


def kill_window(startup: float, full: float) -> tuple[float, float]:
    """Kills land after start-up, within the first third of the work: each killed run has
    had time to commit a little (or nothing), so repeated kills test progress."""
    return 0.8 * startup, startup + 0.35 * (full - startup)


def count_templates(ws: Path) -> int:
    w = Workspace.open(ws)
    try:
        with w.session() as s:
            return int(s.scalar(select(func.count()).select_from(TemplateRecord)) or 0)
    finally:
        w.close()


@dataclass(frozen=True)
class State:
    images: int
    templates: int
    duplicated_images: int  # images with more than one template in a space
    index_consistent: bool
    audit_intact: bool
    audit_entries: int
    batch_templates: int  # template ids named by enroll_batch audit entries


def state(ws_path: Path) -> State:
    ws = Workspace.open(ws_path)
    try:
        with ws.session() as s:
            images = int(s.scalar(select(func.count()).select_from(ImageRecord)) or 0)
            templates = int(s.scalar(select(func.count()).select_from(TemplateRecord)) or 0)
            per_image = (
                select(FaceRecord.image_id, TemplateRecord.space_key, func.count().label("n"))
                .join(TemplateRecord, TemplateRecord.face_id == FaceRecord.id)
                .group_by(FaceRecord.image_id, TemplateRecord.space_key)
                .subquery()
            )
            dupes = int(
                s.scalar(select(func.count()).select_from(per_image).where(per_image.c.n > 1)) or 0
            )
            chain = verify(s)
            batches = s.scalars(select(AuditEntry).where(AuditEntry.action == "enroll_batch"))
            named = {t for e in batches for t in e.details.get("templates", [])}
        check = check_index(ws, create_model(ws.settings).space)
        return State(
            images, templates, dupes, check.consistent, chain.intact, chain.entries, len(named)
        )
    finally:
        ws.close()


def finish(source: Path, ws: Path, workers: int = 2) -> tuple[int, str]:
    p = start("enroll", str(source), "-w", str(ws), "--workers", str(workers))
    out, _ = p.communicate(timeout=600)
    return p.returncode, out.decode("utf-8", "replace")
