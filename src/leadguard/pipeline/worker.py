"""Run the face pipeline over many images on worker processes, one loaded model each.

Kept light on imports (no storage, no CLI) because every worker process imports it.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field

import numpy as np

from leadguard.core.config import Settings
from leadguard.core.errors import ImageError
from leadguard.core.types import Detection, ImageMeta
from leadguard.face_models import create_model
from leadguard.pipeline.compose import FacePipeline, FaceSelection, MeasuredFace, ProcessedImage
from leadguard.pipeline.decode import sha256_bytes
from leadguard.pipeline.measures import Measure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Task:
    position: int
    data: bytes
    source: str
    policy: str = "reject"
    measure_only: bool = False  # quality measures without a template
    sha256: str = ""  # the digest of ``data`` when the sender has taken it (not taken twice)


@dataclass(frozen=True)
class Result:
    """The outcome for one image: a template, or an error code and reason."""

    position: int
    source: str
    sha256: str
    image: ImageMeta | None = None
    detection: Detection | None = None
    vector: np.ndarray | None = None
    faces_in_image: int = 0
    error_code: str = ""
    error: str = ""
    quality: dict[str, Measure] = field(default_factory=dict)


_PIPELINE: FacePipeline | None = None


def build_pipeline(settings: Settings, space_key: str | None = None) -> FacePipeline:
    model = create_model(settings)
    model.load()
    return FacePipeline(model, settings.min_face_size, settings.max_image_pixels, space_key)


PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux to SIGKILL this process when its parent dies (PR_SET_PDEATHSIG), so a killed
    enrollment leaves no worker behind; exit at once if the parent is already gone."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the parent's pipes still close
            log.warning("cannot ask to die with the parent process")
    if os.getppid() != parent_pid:
        os._exit(1)


def _init_worker(settings_json: str, space_key: str, parent_pid: int = 0) -> None:
    global _PIPELINE
    if parent_pid:
        die_with_parent(parent_pid)
    _PIPELINE = build_pipeline(Settings.model_validate_json(settings_json), space_key)


def run_task(task: Task, pipeline: FacePipeline | None = None) -> Result:
    pipe = pipeline or _PIPELINE
    if pipe is None:
        raise RuntimeError("worker pipeline was not initialised")
    sha = task.sha256 or sha256_bytes(task.data)
    try:
        if task.measure_only:
            m = pipe.measure(task.data, task.source, FaceSelection(policy=task.policy), sha256=sha)
            return Result(
                task.position,
                task.source,
                sha,
                image=m.image.meta,
                detection=m.face,
                faces_in_image=len(m.detections),
                quality=m.quality,
            )
        processed = pipe.process(
            task.data, task.source, FaceSelection(policy=task.policy), sha256=sha
        )
    except ImageError as exc:
        return Result(task.position, task.source, sha, error_code=exc.code, error=exc.reason)
    except Exception as exc:  # a model crash on one file must not stop the batch
        log.exception("unexpected error on %s", task.source)
        return Result(task.position, task.source, sha, error_code="error", error=repr(exc))
    return _template_result(task, sha, processed)


def _template_result(task: Task, sha: str, processed: ProcessedImage) -> Result:
    return Result(
        task.position,
        task.source,
        sha,
        image=processed.image.meta,
        detection=processed.template.detection,
        vector=processed.template.vector,
        faces_in_image=len(processed.detections),
        quality=processed.quality,
    )


def run_tasks(tasks: list[Task], pipeline: FacePipeline | None = None) -> list[Result]:
    """``run_task`` for several images, stage by stage: every image decoded, its face found
    and measured, then all the descriptors together (``FacePipeline.complete_many``; with
    SFace, ``sface_batch`` chips per inference run), so each model's weights stay warm
    across the chunk. Each result is the one ``run_task`` gives."""
    pipe = pipeline or _PIPELINE
    if pipe is None:
        raise RuntimeError("worker pipeline was not initialised")
    results: dict[int, Result] = {}
    measured: list[tuple[int, str, MeasuredFace]] = []
    for i, task in enumerate(tasks):
        if task.measure_only:
            results[i] = run_task(task, pipe)
            continue
        sha = task.sha256 or sha256_bytes(task.data)
        try:
            m = pipe.measure(task.data, task.source, FaceSelection(policy=task.policy), sha256=sha)
        except ImageError as exc:
            results[i] = Result(
                task.position, task.source, sha, error_code=exc.code, error=exc.reason
            )
            continue
        except Exception as exc:  # a model crash on one file must not stop the batch
            log.exception("unexpected error on %s", task.source)
            results[i] = Result(
                task.position, task.source, sha, error_code="error", error=repr(exc)
            )
            continue
        measured.append((i, sha, m))
    try:
        done = pipe.complete_many([(m, tasks[i].source) for i, _, m in measured])
    except Exception:  # one face's failure: run them one by one, so only that one fails
        for i, _, _ in measured:
            results[i] = run_task(tasks[i], pipe)
    else:
        for (i, sha, _), out in zip(measured, done, strict=True):
            task = tasks[i]
            if isinstance(out, ImageError):
                results[i] = Result(
                    task.position, task.source, sha, error_code=out.code, error=out.reason
                )
            else:
                results[i] = _template_result(task, sha, out)
    return [results[i] for i in range(len(tasks))]


# Images a worker takes at once: it runs them stage by stage (``run_tasks``);
# docs/performance.md, "Cheaper per-face work with SFace", has what it measured.
CHUNK = 8


class WorkerPool:
    """Start workers early (their model load overlaps the caller's setup), then map tasks.

    With one worker everything runs in this process. Each worker takes ``chunk`` tasks at a
    time (``run_tasks``); ``chunk = 1`` runs them one by one (``run_task``).
    """

    def __init__(
        self, settings: Settings, space_key: str, workers: int, chunk: int | None = None
    ) -> None:
        self.workers = max(1, workers)
        self.chunk = max(1, CHUNK if chunk is None else chunk)
        self._settings = settings
        self._space_key = space_key
        self._pool: ProcessPoolExecutor | None = None
        self._local: FacePipeline | None = None

    def __enter__(self) -> WorkerPool:
        if self.workers == 1:
            self._local = build_pipeline(self._settings, self._space_key)
        else:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self._settings.model_dump_json(), self._space_key, os.getpid()),
            )
            # start every worker now, so the model loads while the caller prepares tasks
            for _ in range(self.workers):
                self._pool.submit(int, 0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def _chunks(self, tasks: Iterator[Task]) -> Iterator[list[Task]]:
        chunk: list[Task] = []
        for task in tasks:
            chunk.append(task)
            if len(chunk) >= self.chunk:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def map(self, tasks: Iterator[Task]) -> Iterator[Result]:
        """Results in completion order (a chunk's together), with a bounded number of tasks
        in flight."""
        if self._pool is None:
            assert self._local is not None
            for chunk in self._chunks(tasks):
                if len(chunk) == 1:
                    yield run_task(chunk[0], self._local)
                else:
                    yield from run_tasks(chunk, self._local)
            return
        in_flight: set[Future[list[Result]]] = set()
        limit = self.workers * (2 if self.chunk > 1 else 4)
        try:
            for chunk in self._chunks(tasks):
                in_flight.add(self._pool.submit(_run_chunk, chunk))
                while len(in_flight) >= limit:
                    done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                    for fut in done:
                        yield from fut.result()
            while in_flight:
                done, in_flight = wait(in_flight, return_when=FIRST_COMPLETED)
                for fut in done:
                    yield from fut.result()
        finally:
            for fut in in_flight:
                fut.cancel()


def _run_chunk(chunk: list[Task]) -> list[Result]:
    return [run_task(chunk[0])] if len(chunk) == 1 else run_tasks(chunk)
