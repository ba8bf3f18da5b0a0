"""Enrollment: source -> templates in the database and the index, in parallel, resumably.

The main process reads and hashes each file, skips what is already done, and sends the
bytes to worker processes that each hold one loaded model. Results are committed in
batches, so an interruption loses at most one uncommitted batch, and a re-run enrolls
only what is missing. The same image bytes are never enrolled twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from leadguard.audit import failures_state
from leadguard.audit import log as audit
from leadguard.core.errors import UnreadableImage
from leadguard.core.textsafe import shown_path
from leadguard.core.types import EmbeddingSpace, FaceTemplate
from leadguard.evidence.gallery_figures import gallery_figures
from leadguard.face_models import model_space
from leadguard.gallery import lookalikes
from leadguard.gallery.maintenance import hold_index, save_index, synced_index
from leadguard.gallery.sources import EnrollItem, Source, read_source
from leadguard.pipeline.decode import read_file, sha256_bytes
from leadguard.pipeline.worker import Result, Task, WorkerPool
from leadguard.quality.gate import Policy, assess, workspace_policy
from leadguard.storage import failure_queries
from leadguard.storage import queries as repo
from leadguard.storage.audited_rows import audited_rows
from leadguard.storage.tables import EnrollFailure
from leadguard.storage.workspace import Workspace

# Results are committed at least this often, whatever commit_every says, so an enrollment
# killed again and again still makes progress.
FLUSH_SECONDS = 1.0

ProgressCallback = Callable[[int, int, int], None]  # (done, total, enrolled)


@dataclass(frozen=True)
class Failure:
    source: str
    code: str
    message: str


@dataclass
class EnrollReport:
    total: int = 0
    enrolled: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[Failure] = field(default_factory=list)
    elapsed_s: float = 0.0
    space_key: str = ""
    interrupted: bool = False
    # gallery photos below the quality policy: enrolled, stored with the verdict, flagged
    low_quality: list[tuple[str, str]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # what the run did differently, and why

    @property
    def faces_per_second(self) -> float:
        return self.enrolled / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def failures_by_code(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.failed:
            out[f.code] = out.get(f.code, 0) + 1
        return out


def enroll(
    ws: Workspace,
    source: Path,
    progress: ProgressCallback | None = None,
    retry_failed: bool = False,
) -> EnrollReport:
    started = time.perf_counter()
    settings = ws.settings
    space = model_space(settings)
    src = read_source(source, settings.source_roots)
    workers = min(settings.effective_workers(), max(len(src.items), 1))
    with WorkerPool(settings, space.key, workers) as pool:
        report = enroll_source(ws, src, space, pool, progress, retry_failed)
    report.elapsed_s = time.perf_counter() - started
    from leadguard.evidence.model import adopt_shipped

    adopt_shipped(ws, space.key)  # searches read the evidence model; reads write nothing
    return report


def register_space(s: Session, space: EmbeddingSpace) -> None:
    """The space's row, created with the audit entry that names it where it is new (its
    descriptor says which model and detector its templates come from)."""
    if (row := repo.ensure_space(s, space)) is not None:
        audit.append(s, "embedding_space_registered", f"space:{space.key}", {}, records=[row])


def enroll_source(
    ws: Workspace,
    src: Source,
    space: EmbeddingSpace,
    pool: WorkerPool,
    progress: ProgressCallback | None,
    retry_failed: bool,
) -> EnrollReport:
    """Enroll a read source into ``space`` with a started pool (also ``gallery reembed``)."""
    settings = ws.settings
    report = EnrollReport(total=len(src.items) + len(src.problems), space_key=space.key)
    report.failed.extend(Failure(p.where, "bad_row", p.reason) for p in src.problems)
    with ws.session() as s:
        register_space(s, space)
        known = repo.known_images(s, space.key)
        failures = _known_failures(s, space.key, retry_failed, report)

    items = src.items
    done_count = len(src.problems)
    seen: dict[str, tuple[str, str]] = {}  # image SHA-256 -> its first file and subject

    def tick() -> None:
        if progress:
            progress(done_count, report.total, report.enrolled)

    def tasks() -> Iterator[Task]:
        nonlocal done_count
        for pos, item in enumerate(items):
            checked = _precheck(item, settings.max_image_bytes, known, failures, seen, report)
            if checked is not None:
                data, sha = checked  # hashed here once: the worker does not hash it again
                yield Task(pos, data, shown_path(item.path), settings.multiple_faces, sha256=sha)
            else:
                done_count += 1
                tick()

    policy = workspace_policy(ws)
    pending: list[Result] = []
    last_flush = time.monotonic()

    def flush() -> None:
        """Commit the pending results and add them to the index file, under the workspace's
        write lock: an image another process enrolled meanwhile is skipped, not doubled."""
        nonlocal last_flush
        last_flush = time.monotonic()
        if not pending:
            return
        with ws.write_lock():
            _commit(ws, space, pending, items, policy, report)
        pending.clear()

    tick()
    try:
        for result in pool.map(tasks()):
            done_count += 1
            if result.error_code:
                report.failed.append(Failure(result.source, result.error_code, result.error))
            else:
                subject = items[result.position].info.external_id
                known[result.sha256] = repo.KnownImage(subject, True)
            pending.append(result)
            if (
                len(pending) >= settings.commit_every
                or time.monotonic() - last_flush >= FLUSH_SECONDS
            ):
                flush()
            tick()
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        flush()
        with ws.write_lock():  # repairs an index left behind by a run killed mid-commit
            synced_index(ws, space)
    gallery_figures(ws, space.key)  # its own cross-subject pairs and probable duplicates
    return report


def _commit(
    ws: Workspace,
    space: EmbeddingSpace,
    pending: list[Result],
    items: list[EnrollItem],
    policy: Policy,
    report: EnrollReport,
) -> None:
    with ws.session() as s:
        table = repo.templates_stamp(s)
    index, _ = synced_index(ws, space, table)  # agrees with the database before this batch
    rows: list[repo.NewTemplate] = []
    batch_shas: set[str] = set()
    with ws.session() as s:
        shas = [r.sha256 for r in pending if not r.error_code]
        touched = [r.sha256 for r in pending]
        failed_before = failure_queries.failure_rows_of(s, space.key, touched)
        already = repo.known_images(s, space.key, shas)
        for r in pending:
            if r.error_code:
                repo.save_failure(s, r.sha256, space.key, r.source, r.error_code, r.error)
                continue
            if r.sha256 in already and (
                already[r.sha256].has_template
                or already[r.sha256].subject != items[r.position].info.external_id
            ):
                report.skipped.append((r.source, "enrolled meanwhile by another process"))
                continue
            if r.sha256 in batch_shas:  # (a set: this loop was quadratic in the batch)
                continue
            batch_shas.add(r.sha256)
            assert r.image is not None and r.detection is not None and r.vector is not None
            tmpl = FaceTemplate(r.detection, r.vector, space.key)
            info = items[r.position].info
            verdict = assess(r.quality, policy)
            if verdict.decision != "pass":
                why = "; ".join(f.text() for f in verdict.findings)
                report.low_quality.append((r.source, f"{verdict.decision}: {why}"))
            rows.append(repo.NewTemplate(info, r.image, tmpl, r.faces_in_image, verdict.to_dict()))
        new_ids = repo.save_templates(s, rows)
        s.flush()  # the failures written and deleted, then their digest in the chain
        failed_after = failure_queries.failure_rows_of(s, space.key, touched)
        failures_state.record_batch(s, space.key, failed_before, failed_after)
        if new_ids:  # the look-alike counts change in the same transaction as the templates
            vectors = np.vstack([r.template.vector for r in rows])
            lookalikes.on_enroll(s, space.key, index, new_ids, vectors)
        audit.append(
            s,
            "enroll_batch",
            f"gallery:{space.key}",
            {
                "templates": new_ids,
                "images": [r.image.sha256 for r in rows],
                "failed": [r.source for r in pending if r.error_code],
            },
            records=audited_rows(s, new_ids, [r.image.sha256 for r in rows]),
        )
        table = repo.templates_stamp(s)  # this batch's generation, before any other writer's
    report.enrolled += len(new_ids)
    if new_ids:
        index.add(np.asarray(new_ids, dtype=np.int64), np.vstack([r.template.vector for r in rows]))
    save_index(ws, space, index, "enroll")
    hold_index(ws, space, index, table)  # the next batch need not read the index file again


def _known_failures(
    s: Session, space_key: str, retry_failed: bool, report: EnrollReport
) -> dict[str, EnrollFailure]:
    """The failures a run skips: none with ``retry_failed`` (which clears them, audited),
    and none where the space's failure rows are not those the chain records (every image is
    retried, and the report says why)."""
    if retry_failed:
        failures_state.clear(s, space_key)
        return {}
    problem = failures_state.finding(s, space_key)
    if problem is not None:
        report.notices.append(f"no earlier failure is skipped: {problem}")
        return {}
    return repo.known_failures(s, space_key)


def _precheck(
    item: EnrollItem,
    max_bytes: int,
    known: dict[str, repo.KnownImage],
    failures: dict[str, EnrollFailure],
    seen: dict[str, tuple[str, str]],
    report: EnrollReport,
) -> tuple[bytes, str] | None:
    """The file's bytes and SHA-256 if it still needs enrolling; otherwise record why not and
    return None."""
    source = shown_path(item.path)
    try:
        data = read_file(item.path, max_bytes)
    except UnreadableImage as exc:
        report.failed.append(Failure(source, exc.code, exc.reason))
        return None
    sha = sha256_bytes(data)
    subject = item.info.external_id
    prior = known.get(sha)
    if prior is not None and prior.subject != subject:
        report.skipped.append(
            (source, f"the same image bytes are already enrolled under subject {prior.subject!r}")
        )
        return None
    if prior is not None and prior.has_template:
        report.skipped.append((source, "already enrolled"))
        return None
    if sha in failures:
        f = failures[sha]
        report.skipped.append((source, f"failed before ({f.reason_code}: {f.message})"))
        return None
    if sha in seen:
        first, whose = seen[sha]
        other = "" if whose == subject else f", enrolled under subject {whose!r}"
        report.skipped.append((source, f"same image bytes as {first} in this run{other}"))
        return None
    seen[sha] = (source, subject)
    return data, sha
