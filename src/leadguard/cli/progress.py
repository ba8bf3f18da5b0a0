"""Progress bars for long CLI jobs (enrollment, evaluation): count, rate and time left."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from leadguard.gallery.enroll import ProgressCallback


class RateColumn(ProgressColumn):
    """Images processed per second since the first report: what was already done when the
    bar started (cached, resumed) is not counted, and under a second nothing is shown (rich's
    own estimate turned a first jump of 6 done images into "141,306.8 img/s")."""

    def render(self, task: Task) -> Text:
        start = task.fields.get("rate_start")
        if start is None:
            return Text("  -.- img/s", style="progress.data.speed")
        first_done, first_time = start
        seconds = time.monotonic() - first_time
        done = task.completed - first_done
        if seconds < 1.0 or done <= 0:
            return Text("  -.- img/s", style="progress.data.speed")
        return Text(f"{done / seconds:5.1f} img/s", style="progress.data.speed")


@contextmanager
def enroll_progress(console: Console) -> Iterator[ProgressCallback]:
    with task_progress(console, "enrolling") as update:
        yield lambda done, total, _enrolled: update(done, total)


@contextmanager
def task_progress(console: Console, label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar with count, rate and ETA; yields update(done, total)."""
    progress = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    task_id = progress.add_task(label, total=None)
    started: list[tuple[int, float]] = []

    def update(done: int, total: int) -> None:
        if not started:
            started.append((done, time.monotonic()))
            progress.update(task_id, rate_start=started[0])
        progress.update(task_id, completed=done, total=total)

    with progress:
        yield update
