"""Enrollment: source -> templates in the database and the index, in parallel, resumably.

The main process reads and hashes each file, skips what is already done, and sends the
bytes to worker processes that each hold one loaded model. Results are committed in
batches, so an interruption loses at most one uncommitted batch, and a re-run enrolls
only what is missing. The same image bytes are never enrolled twice.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leadguard.backends import create_model
from leadguard.config import Settings
from leadguard.errors import ImageError, UnreadableImage
from leadguard.gallery import synced_index
from leadguard.pipeline.compose import FacePipeline, FaceSelection
from leadguard.pipeline.decode import read_file, sha256_bytes
from leadguard.sources import EnrollItem, read_source
from leadguard.storage import repository as repo
from leadguard.storage.models import EnrollFailure
from leadguard.types import Detection, FaceTemplate, ImageMeta
from leadguard.workspace import Workspace

log = logging.getLogger(__name__)

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

    @property
    def faces_per_second(self) -> float:
        return self.enrolled / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def failures_by_code(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.failed:
            out[f.code] = out.get(f.code, 0) + 1
        return out


@dataclass(frozen=True)
class _Task:
    position: int
    data: bytes
    source: str
    policy: str


@dataclass(frozen=True)
class _Done:
    position: int
    source: str
    sha256: str
    image: ImageMeta | None = None
    detection: Detection | None = None
    vector: np.ndarray | None = None
    faces_in_image: int = 0
    error_code: str = ""
    error: str = ""


# --- worker side (one model per process) -------------------------------------------------

_PIPELINE: FacePipeline | None = None


def _build_pipeline(settings: Settings) -> FacePipeline:
    model = create_model(settings)
    model.load()
    return FacePipeline(model, settings.min_face_size, settings.max_image_pixels)


def _init_worker(settings_json: str) -> None:
    global _PIPELINE
    _PIPELINE = _build_pipeline(Settings.model_validate_json(settings_json))


def _run_task(task: _Task, pipeline: FacePipeline | None = None) -> _Done:
    pipe = pipeline or _PIPELINE
    if pipe is None:
        raise RuntimeError("worker pipeline was not initialised")
    sha = sha256_bytes(task.data)
    try:
        processed = pipe.process(task.data, task.source, FaceSelection(policy=task.policy))
    except ImageError as exc:
        return _Done(task.position, task.source, sha, error_code=exc.code, error=exc.reason)
    except Exception as exc:  # a model crash on one file must not stop the batch
        log.exception("unexpected error on %s", task.source)
        return _Done(task.position, task.source, sha, error_code="error", error=repr(exc))
    return _Done(
        task.position,
        task.source,
        sha,
        image=processed.image.meta,
        detection=processed.template.detection,
        vector=processed.template.vector,
        faces_in_image=len(processed.detections),
    )


# --- main side ---------------------------------------------------------------------------


def _results(tasks: Iterator[_Task], settings: Settings, workers: int) -> Iterator[_Done]:
    """Run tasks on ``workers`` processes (or in-process for 1), at most a few in flight."""
    if workers <= 1:
        pipeline = _build_pipeline(settings)
        for task in tasks:
            yield _run_task(task, pipeline)
        return
    ctx = multiprocessing.get_context("spawn")
    in_flight: set[Future[_Done]] = set()
    limit = workers * 4
    with ProcessPoolExecutor(
        workers, mp_context=ctx, initializer=_init_worker, initargs=(settings.model_dump_json(),)
    ) as pool:
        try:
            for task in tasks:
                in_flight.add(pool.submit(_run_task, task))
                if len(in_flight) >= limit:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield fut.result()
            for fut in _as_done(in_flight):
                yield fut
        finally:
            for fut in in_flight:
                fut.cancel()


def _as_done(futures: set[Future[_Done]]) -> Iterator[_Done]:
    pending = futures
    while pending:
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for fut in done:
            yield fut.result()


def enroll(
    ws: Workspace,
    source: Path,
    progress: ProgressCallback | None = None,
    retry_failed: bool = False,
) -> EnrollReport:
    settings = ws.settings
    model = create_model(settings)
    space = model.space
    src = read_source(source)
    report = EnrollReport(total=len(src.items) + len(src.problems), space_key=space.key)
    report.failed.extend(Failure(p.where, "bad_row", p.reason) for p in src.problems)

    with ws.session() as s:
        repo.ensure_space(s, space)
        known = repo.known_images(s, space.key)
        failures = {} if retry_failed else repo.known_failures(s, space.key)
    index, _ = synced_index(ws, space)

    items = src.items
    done_count = len(src.problems)
    started = time.perf_counter()
    seen: dict[str, str] = {}

    def tick() -> None:
        if progress:
            progress(done_count, report.total, report.enrolled)

    def tasks() -> Iterator[_Task]:
        nonlocal done_count
        for pos, item in enumerate(items):
            skip = _precheck(item, settings.max_image_bytes, known, failures, seen, report)
            if isinstance(skip, bytes):
                yield _Task(pos, skip, str(item.path), settings.multiple_faces)
            else:
                done_count += 1
                tick()

    pending: list[_Done] = []

    def flush() -> None:
        if not pending:
            return
        new_ids: list[int] = []
        new_vecs: list[np.ndarray] = []
        with ws.session() as s:
            for r in pending:
                item = items[r.position]
                if r.error_code:
                    repo.save_failure(s, r.sha256, space.key, r.source, r.error_code, r.error)
                    continue
                assert r.image is not None and r.detection is not None and r.vector is not None
                tmpl = FaceTemplate(r.detection, r.vector, space.key)
                new_ids.append(repo.save_template(s, item.info, r.image, tmpl, r.faces_in_image))
                new_vecs.append(r.vector)
        if new_ids:
            index.add(np.asarray(new_ids, dtype=np.int64), np.vstack(new_vecs))
        pending.clear()

    try:
        for result in _results(tasks(), settings, min(settings.effective_workers(), len(items))):
            done_count += 1
            if result.error_code:
                report.failed.append(Failure(result.source, result.error_code, result.error))
            else:
                report.enrolled += 1
                known[result.sha256] = repo.KnownImage(
                    items[result.position].info.external_id, True
                )
            pending.append(result)
            if len(pending) >= settings.commit_every:
                flush()
            tick()
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        flush()
        index.save(ws.index_path(space.key))
        report.elapsed_s = time.perf_counter() - started
    return report


def _precheck(
    item: EnrollItem,
    max_bytes: int,
    known: dict[str, repo.KnownImage],
    failures: dict[str, EnrollFailure],
    seen: dict[str, str],
    report: EnrollReport,
) -> bytes | None:
    """The file's bytes if it still needs enrolling; otherwise record why not and return None."""
    source = str(item.path)
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
        report.skipped.append((source, f"same image bytes as {seen[sha]} in this run"))
        return None
    seen[sha] = source
    return data
