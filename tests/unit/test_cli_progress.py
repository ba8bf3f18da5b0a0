"""The CLI's progress rate counts only images processed since the bar started."""

from __future__ import annotations

import time

from rich.progress import Progress

from leadguard.cli.progress import RateColumn


def _rate(**fields: object) -> str:
    progress = Progress()
    task_id = progress.add_task("enrolling", total=100, completed=26, **fields)
    return RateColumn().render(progress.tasks[task_id]).plain


def test_images_already_done_when_the_bar_starts_are_not_a_rate() -> None:
    # the old column quoted rich's estimate: a first jump of 6 done images in a few
    # microseconds read as six-figure images per second
    assert _rate(rate_start=(26, time.monotonic())) == "  -.- img/s"
    assert _rate() == "  -.- img/s"


def test_the_rate_is_images_since_the_start_over_the_time_since_then() -> None:
    text = _rate(rate_start=(6, time.monotonic() - 10.0))
    value = float(text.split()[0])
    assert 1.0 < value <= 2.0  # 20 images in at least 10 s
    assert text.endswith("img/s")
