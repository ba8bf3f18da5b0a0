"""Human-readable output for the CLI (rich). No business logic here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

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
from rich.table import Table
from rich.text import Text

from leadguard.enroll import EnrollReport, ProgressCallback
from leadguard.gallery import IndexCheck
from leadguard.serialize import candidate_list_dict
from leadguard.storage.repository import GalleryStats
from leadguard.types import CandidateList

MAX_LISTED_FAILURES = 25


class RateColumn(ProgressColumn):
    """Images processed per second (a moving estimate from rich)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:5.1f} img/s" if speed else "  -.- img/s", style="progress.data.speed")


@contextmanager
def enroll_progress(console: Console) -> Iterator[ProgressCallback]:
    progress = Progress(
        TextColumn("enrolling"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    task_id = progress.add_task("enroll", total=None)

    def update(done: int, total: int, enrolled: int) -> None:
        progress.update(task_id, completed=done, total=total)

    with progress:
        yield update


def enroll_report(console: Console, report: EnrollReport) -> None:
    table = Table(title="Enrollment summary", show_header=False)
    table.add_row("embedding space", report.space_key)
    table.add_row("items in source", str(report.total))
    table.add_row("enrolled now", str(report.enrolled))
    table.add_row("skipped", str(len(report.skipped)))
    table.add_row("failed", str(len(report.failed)))
    for code, n in sorted(report.failures_by_code().items()):
        table.add_row(f"  failed: {code}", str(n))
    table.add_row("time", f"{report.elapsed_s:.1f} s ({report.faces_per_second:.1f} faces/s)")
    console.print(table)
    if report.failed:
        console.print(f"[bold]Failures[/bold] (first {MAX_LISTED_FAILURES} shown):")
        for f in report.failed[:MAX_LISTED_FAILURES]:
            console.print(f"  [red]{f.code}[/red] {f.source}: {f.message}", markup=True)
    reasons: dict[str, int] = {}
    for _, why in report.skipped:
        key = "failed before" if why.startswith("failed before") else why.split(" under ")[0]
        reasons[key] = reasons.get(key, 0) + 1
    for why, n in sorted(reasons.items()):
        console.print(f"  skipped {n}: {why}")


def candidate_list(console: Console, cl: CandidateList, as_json: bool = False) -> None:
    if as_json:
        console.print_json(json.dumps(candidate_list_dict(cl)))
        return
    face = cl.probe_face.box
    console.print(f"[bold]Probe[/bold] {cl.probe_source} (sha256 {cl.probe_sha256[:16]}...)")
    console.print(f"  face searched: ({face.left},{face.top})-({face.right},{face.bottom})")
    console.print(
        f"  gallery searched: {cl.gallery_subjects} subjects, {cl.gallery_templates} templates "
        f"(exact search), embedding space {cl.space.key}"
    )
    if not cl.candidates:
        console.print("  [yellow]No candidates: the gallery holds no templates.[/yellow]")
    else:
        table = Table(title=f"Candidate list (top {cl.top_k}; score = cosine similarity)")
        for col in ("rank", "subject", "score", "encounter date", "image"):
            table.add_column(col, justify="right" if col in ("rank", "score") else "left")
        for c in cl.candidates:
            table.add_row(
                str(c.rank),
                c.subject,
                f"{c.score:.4f}",
                c.encounter_date.isoformat() if c.encounter_date else "-",
                c.image_path,
            )
        console.print(table)
    for notice in cl.notices:
        console.print(f"[italic]{notice}[/italic]")


def gallery_stats(console: Console, stats: GalleryStats, current_space: str) -> None:
    table = Table(title="Gallery", show_header=False)
    table.add_row("subjects", str(stats.subjects))
    table.add_row("encounters", str(stats.encounters))
    table.add_row("images", str(stats.images))
    table.add_row("faces", str(stats.faces))
    for key, n in sorted(stats.templates_by_space.items()):
        mark = " (current settings)" if key == current_space else ""
        table.add_row(f"templates in space {key}{mark}", str(n))
    for code, n in sorted(stats.failures_by_reason.items()):
        table.add_row(f"images that failed: {code}", str(n))
    console.print(table)


def index_check(console: Console, check: IndexCheck) -> None:
    state = "[green]consistent[/green]" if check.consistent else "[red]INCONSISTENT[/red]"
    console.print(f"index for space {check.space_key}: {state}")
    console.print(f"  templates in database: {check.database_templates}")
    console.print(f"  templates in index:    {check.index_templates}")
    if not check.consistent:
        console.print(f"  missing from index: {check.missing_from_index}")
        console.print(f"  in index but not in database: {check.not_in_database}")
        if check.problem:
            console.print(f"  problem: {check.problem}")
        console.print("  repair with: leadguard index rebuild")


def as_json(console: Console, data: dict[str, Any]) -> None:
    console.print_json(json.dumps(data))
