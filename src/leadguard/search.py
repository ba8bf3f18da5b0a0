"""Probe -> candidate list. A search returns candidates to investigate, never a verdict."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leadguard.backends.base import FaceModel
from leadguard.errors import SpaceMismatch
from leadguard.gallery import synced_index
from leadguard.index.base import VectorIndex, check_space
from leadguard.pipeline.compose import FacePipeline, FaceSelection, choose_face
from leadguard.pipeline.decode import read_file
from leadguard.storage import repository as repo
from leadguard.types import Candidate, CandidateList, DecodedImage, Detection
from leadguard.workspace import Workspace

LEAD_NOTICE = (
    "These are candidates for an investigator to examine, ranked by similarity. A candidate is "
    "an investigative lead only: not an identification and not probable cause."
)


def best_per_subject(
    index: VectorIndex, query: np.ndarray, k: int, ws: Workspace
) -> list[tuple[int, float, str]]:
    """Top-k subjects by their best template score (exact: widens until k subjects are found)."""
    total = len(index)
    want = min(total, max(k * 4, k))
    while True:
        scores, ids = index.search(query, max(want, 1))
        valid = [(int(i), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
        with ws.session() as s:
            info = repo.template_info(s, [i for i, _ in valid])
        best: dict[str, tuple[int, float]] = {}
        for tid, score in valid:
            subject = info[tid].subject
            if subject not in best:
                best[subject] = (tid, score)
        if len(best) >= k or want >= total:
            ranked = sorted(best.items(), key=lambda kv: (-kv[1][1], kv[1][0]))[:k]
            return [(tid, score, subj) for subj, (tid, score) in ranked]
        want = min(total, want * 2)


def detect_probe(
    pipeline: FacePipeline, probe: Path, max_bytes: int
) -> tuple[DecodedImage, list[Detection]]:
    data = read_file(probe, max_bytes)
    image = pipeline.decode(data, str(probe))
    return image, pipeline.model.detect(image.pixels)


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
    image, detections = detect_probe(pipeline, probe, settings.max_image_bytes)
    chosen = choose_face(detections, image, FaceSelection(policy="reject", index=face))
    pipeline.check_size(chosen, str(probe))
    vector = model.embed(image.pixels, chosen)

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

    ranked = best_per_subject(index, vector, k, ws) if templates else []
    with ws.session() as s:
        info = repo.template_info(s, [tid for tid, _, _ in ranked])
    candidates = tuple(
        Candidate(
            rank=r,
            subject=subj,
            score=score,
            image_path=info[tid].image_path,
            image_sha256=info[tid].image_sha256,
            template_id=tid,
            encounter_date=info[tid].encounter_date,
        )
        for r, (tid, score, subj) in enumerate(ranked, start=1)
    )
    return CandidateList(
        probe_source=str(probe),
        probe_sha256=image.sha256,
        probe_face=chosen,
        space=space,
        gallery_subjects=subjects,
        gallery_templates=templates,
        top_k=k,
        candidates=candidates,
        notices=tuple(notices),
    )
