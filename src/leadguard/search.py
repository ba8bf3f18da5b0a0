"""Probe -> candidate list. A search returns candidates to investigate, never a verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leadguard.backends.base import FaceModel
from leadguard.errors import SpaceMismatch
from leadguard.gallery import synced_index
from leadguard.index.base import VectorIndex, check_space
from leadguard.pipeline.compose import FacePipeline, FaceSelection
from leadguard.pipeline.decode import read_file
from leadguard.storage import repository as repo
from leadguard.types import Candidate, CandidateList
from leadguard.workspace import Workspace

LEAD_NOTICE = (
    "These are candidates for an investigator to examine, ranked by similarity. A candidate is "
    "an investigative lead only: not an identification and not probable cause."
)


def best_per_subject(
    index: VectorIndex, query: np.ndarray, k: int, ws: Workspace
) -> list[tuple[float, repo.TemplateInfo]]:
    """Top-k subjects by their best template score (exact: widens until k subjects are found)."""
    total = len(index)
    want = min(total, k * 4)
    while True:
        scores, ids = index.search(query, max(want, 1))
        valid = [(int(i), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
        with ws.session() as s:
            info = repo.template_info(s, [i for i, _ in valid])
        best: dict[str, tuple[float, repo.TemplateInfo]] = {}
        for tid, score in valid:  # scores arrive best first: a subject's first hit is its best
            best.setdefault(info[tid].subject, (score, info[tid]))
        if len(best) >= k or want >= total:
            ranked = sorted(best.values(), key=lambda b: (-b[0], b[1].template_id))
            return ranked[:k]
        want = min(total, want * 2)


def search(
    ws: Workspace,
    probe: Path,
    top_k: int | None = None,
    face: int | None = None,
    model: FaceModel | None = None,
) -> CandidateList:
    settings = ws.settings
    model = model or ws.face_model()
    pipeline = FacePipeline(model, settings.min_face_size, settings.max_image_pixels)
    space = model.space
    data = read_file(probe, settings.max_image_bytes)
    processed = pipeline.process(data, str(probe), FaceSelection(policy="reject", index=face))
    detections, chosen = processed.detections, processed.template.detection

    with ws.session() as s:
        subjects, templates = repo.gallery_counts(s, space.key)
        stats = repo.gallery_stats(s) if templates == 0 else None
    other = (
        {k: n for k, n in stats.templates_by_space.items() if k != space.key and n} if stats else {}
    )
    if other:
        raise SpaceMismatch(
            f"the gallery's templates are in embedding space(s) {sorted(other)}, but the current "
            f"settings produce space {space.key}; search with the settings the gallery was "
            "enrolled with, or re-enroll"
        )
    index, check = synced_index(ws, space)
    check_space(index.space_key, space.key)

    requested = top_k or settings.top_k
    k = min(requested, settings.max_candidates)
    notices = [LEAD_NOTICE]
    if requested > k:
        notices.append(f"list length capped at {k} by the max_candidates setting")
    if not check.consistent:
        notices.append("the vector index disagreed with the database and was rebuilt first")
    if len(detections) > 1:
        notices.append(f"the probe holds {len(detections)} faces; face {face} was searched")
    if templates == 0:
        notices.append("the gallery is empty: nobody was searched")

    ranked = best_per_subject(index, processed.template.vector, k, ws) if templates else []
    candidates = tuple(
        Candidate(
            rank=r,
            subject=info.subject,
            score=score,
            image_path=info.image_path,
            image_sha256=info.image_sha256,
            template_id=info.template_id,
            encounter_date=info.encounter_date,
        )
        for r, (score, info) in enumerate(ranked, start=1)
    )
    return CandidateList(
        probe_source=str(probe),
        probe_sha256=processed.image.sha256,
        probe_face=chosen,
        space=space,
        gallery_subjects=subjects,
        gallery_templates=templates,
        top_k=k,
        candidates=candidates,
        notices=tuple(notices),
    )
