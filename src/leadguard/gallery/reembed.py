"""Moving a gallery to another embedding space: every enrolled image is read again from its
stored source path, checked against its stored SHA-256, and enrolled in the space of another
face model by the ordinary enrollment path (same subjects, encounters and image rows; new
faces and templates in the new space). The old space's templates stay until an
administrator deletes them; which space searches is the setting ``face_model``.

Resumable: images that already have a template (or a recorded failure) in the new space are
skipped, exactly as a re-run of ``leadguard enroll`` skips them.
"""

from __future__ import annotations

import time
from pathlib import Path

from leadguard.acceptance import records as store
from leadguard.core.errors import UnreadableImage
from leadguard.face_models import model_space
from leadguard.face_models.registry import resolve
from leadguard.gallery.enroll import EnrollReport, ProgressCallback, enroll_source
from leadguard.gallery.sources import EnrollItem, Source, SourceProblem
from leadguard.pipeline.decode import read_file, sha256_bytes
from leadguard.pipeline.worker import WorkerPool
from leadguard.storage.queries import SubjectInfo
from leadguard.storage.workspace import Workspace


def reembed(
    ws: Workspace,
    model_name: str,
    progress: ProgressCallback | None = None,
    retry_failed: bool = False,
) -> EnrollReport:
    """Enroll every stored image again with backend ``model_name``; returns the report
    (``space_key`` is the new space)."""
    started = time.perf_counter()
    name = resolve(model_name).name
    settings = ws.settings.model_copy(update={"face_model": name})
    space = model_space(settings)
    with ws.session() as s:
        images = store.stored_images(s)
    items: list[EnrollItem] = []
    problems: list[SourceProblem] = []
    for img in images:
        where = f"{img.source_path} (image {img.sha256[:12]}, subject {img.subject})"
        try:
            data = read_file(Path(img.source_path), settings.max_image_bytes)
        except UnreadableImage as exc:
            problems.append(SourceProblem(where, f"source image unreadable: {exc.reason}"))
            continue
        if sha256_bytes(data) != img.sha256:
            problems.append(
                SourceProblem(where, "the file at the stored path is no longer the enrolled image")
            )
            continue
        info = SubjectInfo(img.subject, img.encounter_date, img.sex, img.race, img.attributes)
        items.append(EnrollItem(Path(img.source_path), info, where))
    src = Source(items, problems)
    workers = min(settings.effective_workers(), max(len(items), 1))
    with WorkerPool(settings, space.key, workers) as pool:
        report = enroll_source(ws, src, space, pool, progress, retry_failed)
    report.elapsed_s = time.perf_counter() - started
    return report
