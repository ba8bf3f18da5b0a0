"""Probe -> candidate list. A search returns candidates to investigate, never a verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from leadguard import audit, models_gate
from leadguard.backends.base import FaceModel
from leadguard.errors import EvidenceUnavailable, LeadGuardError, SpaceMismatch
from leadguard.evidence import model as evidence_model
from leadguard.evidence.for_search import list_evidence, search_threshold
from leadguard.evidence.statements import INVESTIGATION_NOTICE, NO_CANDIDATE
from leadguard.evidence.tail import OpenSetDecision, TailRefused, decide, scores_needed
from leadguard.gallery import gallery_counts, synced_index
from leadguard.index.base import VectorIndex, check_space
from leadguard.intake import Intake, gate, log_refusal, receive_probe
from leadguard.pipeline.compose import FacePipeline, FaceSelection
from leadguard.quality.gate import QualityRefused
from leadguard.quality.provenance import Edit, ProbeRefused
from leadguard.serialize import candidate_list_dict
from leadguard.storage import repository as repo
from leadguard.storage.models import SearchLog
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
    investigation: int | None = None,
    incident_date: date | None = None,
    source_type: str = "other",
    edits: tuple[Edit, ...] = (),
    stored_probe: int | None = None,
    then: Callable[[Session, CandidateList], None] | None = None,
    probe_sex: str | None = None,
    probe_race: str | None = None,
    probe_name: str | None = None,
) -> CandidateList:
    """Open-set by default: only subjects at or above the threshold measured for this gallery
    size; ``investigation=N`` returns N people with no threshold, and says so.

    Intake, search, search log and audit are one transaction. A refused or failed search
    (prohibited source, quality gate, no face, ...) commits its probe, its search-log row and
    its audit entries, then raises. ``then(session, result)`` runs in the same transaction
    (a casework request is marked searched with it)."""
    shown = probe_name or str(probe)  # an upload: its file name, never the server's copy
    failure: LeadGuardError | None = None
    with ws.session() as s:
        intakes: list[Intake] = []
        try:
            result = _search(
                ws,
                s,
                intakes,
                probe,
                top_k,
                face,
                model,
                investigation,
                incident_date,
                source_type,
                edits,
                stored_probe,
                probe_sex,
                probe_race,
                shown,
            )
            if then is not None:
                then(s, result)
            return result
        except (ProbeRefused, QualityRefused) as exc:
            failure = exc  # recorded where it was refused
        except LeadGuardError as exc:
            intake = intakes[0] if intakes else None
            code = getattr(exc, "code", type(exc).__name__.lower())
            log_refusal(
                s,
                intake.probe_id if intake else None,
                intake.original_sha256 if intake else "",
                shown,
                code,
                str(exc),
                {},
            )
            failure = exc
    raise failure


def _search(
    ws: Workspace,
    s: Session,
    intakes: list[Intake],
    probe: Path,
    top_k: int | None,
    face: int | None,
    model: FaceModel | None,
    investigation: int | None,
    incident_date: date | None,
    source_type: str,
    edits: tuple[Edit, ...],
    stored_probe: int | None,
    probe_sex: str | None,
    probe_race: str | None,
    shown: str,
) -> CandidateList:
    settings = ws.settings
    model = model or ws.face_model()
    pipeline = FacePipeline(model, settings.min_face_size, settings.max_image_pixels)
    space = model.space
    intake = receive_probe(ws, s, probe, source_type, edits, stored_probe, shown)
    intakes.append(intake)
    measured = pipeline.measure(intake.data, shown, FaceSelection("reject", face))
    verdict = gate(ws, s, intake, measured.quality, shown)  # before the size check
    processed = pipeline.complete(measured, shown)
    detections, chosen = processed.detections, processed.template.detection

    with s.no_autoflush:  # the probe's pending intake rows are not read here
        table = repo.templates_stamp(s)  # read once: it says whether anything changed
    subjects, templates = gallery_counts(ws, s, space.key, table)
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
    stored = evidence_model.latest(ws, space.key)
    if stored is None and investigation is None:
        raise EvidenceUnavailable(
            f"no evidence model has been measured for embedding space {space.key}, so no "
            "threshold can be set and no score can be given a meaning; run `leadguard eval "
            "evidence` on a labelled dataset first, or ask for an investigation-mode list"
        )
    if stored is not None and investigation is None:
        models_gate.require_open_set(s, space)  # an accepted evaluation of this space
    if stored is not None and stored.id is None:  # the record names the model it used
        stored = evidence_model.take_up(s, stored)
    index, check = synced_index(ws, space, table, s)  # a repair is recorded in s
    check_space(index.space_key, space.key)

    requested = investigation or top_k or settings.top_k
    k = min(requested, settings.max_candidates)
    notices = [LEAD_NOTICE, *intake.notices, *verdict.warnings()]
    if requested > k:
        notices.append(f"list length capped at {k} by the max_candidates setting")
    if not check.consistent:
        notices.append("the vector index disagreed with the database and was rebuilt first")
    if len(detections) > 1:
        notices.append(f"the probe holds {len(detections)} faces; face {face} was searched")
    if templates == 0:
        notices.append("the gallery is empty: nobody was searched")
    if stored is None:
        notices.append(
            "no evidence model for this embedding space: scores are given without any statement "
            "of what they are worth"
        )

    fetch = max(k + 1, scores_needed(subjects))  # the per-search fit reads the best subjects
    best = best_per_subject(index, processed.template.vector, fetch, ws) if templates else []
    ranked = best[:k]
    threshold = shift = None
    open_set: OpenSetDecision | None = None
    if investigation is not None:
        notices.insert(0, INVESTIGATION_NOTICE.format(n=k))
    elif stored is not None and templates:
        threshold, shift = search_threshold(ws, stored, templates, table)
    if templates:
        open_set = decide(
            [score for score, _ in best],
            subjects,
            settings.target_fpir,
            threshold.threshold if threshold else None,
        )
    if threshold is not None and open_set is not None:
        listing = open_set.listing_threshold
        assert listing is not None
        if isinstance(open_set.fit, TailRefused):
            notices.append(
                f"NO PER-SEARCH FIT: {open_set.fit.reason}; candidates are listed at the fixed "
                f"gallery-size threshold {listing:.4f} alone, so the list's statements do not "
                "reflect how strangers score against this particular probe"
            )
        above = [r for r in best if r[0] >= listing]
        if len(above) > k:
            notices.append(
                f"at least {k + 1} people scored above the threshold; only the top {k} are listed"
            )
        ranked = above[:k]
        if not ranked:
            notices.append(NO_CANDIDATE)
    latest_dates = repo.latest_encounters(s, [info.subject for _, info in ranked], space.key)
    evidence = (
        list_evidence(
            stored,
            ranked,
            threshold,
            subjects,
            templates,
            latest_dates,
            incident_date,
            probe_sex,
            probe_race,
            shift,
            open_set,
        )
        if stored
        else [None] * len(ranked)
    )
    candidates = tuple(
        Candidate(
            rank=r,
            subject=info.subject,
            score=score,
            image_path=info.image_path,
            image_sha256=info.image_sha256,
            template_id=info.template_id,
            encounter_date=info.encounter_date,
            photo_quality=_photo_quality(info.quality),
            evidence=ev,
        )
        for r, ((score, info), ev) in enumerate(zip(ranked, evidence, strict=True), start=1)
    )
    result = CandidateList(
        probe_source=shown,
        probe_sha256=processed.image.sha256,
        probe_face=chosen,
        space=space,
        gallery_subjects=subjects,
        gallery_templates=templates,
        top_k=k,
        candidates=candidates,
        notices=tuple(notices),
        mode="investigation" if investigation is not None else "open-set",
        threshold=threshold,
        evidence_model=stored.describe() if stored else None,
        incident_date=incident_date,
        quality=verdict.to_dict(),
        provenance=intake.provenance(),
        open_set=open_set,
    )
    return log_search(s, result, stored.id if stored else None, intake.probe_id)


def _photo_quality(q: dict[str, Any] | None) -> dict[str, Any] | None:
    if q is None:
        return None
    return {"decision": q.get("decision"), "findings": q.get("findings", [])}


def log_search(
    s: Session, cl: CandidateList, model_id: int | None, probe_id: int | None = None
) -> CandidateList:
    """Record the search (a "no candidate" answer too) in the search's transaction and
    return the list with its log id."""
    row = SearchLog(
        probe_sha256=cl.probe_sha256,
        probe_source=cl.probe_source,
        probe_id=probe_id,
        space_key=cl.space.key,
        mode=cl.mode,
        gallery_subjects=cl.gallery_subjects,
        gallery_templates=cl.gallery_templates,
        threshold=cl.listing_threshold if cl.threshold else None,
        target_fpir=cl.threshold.target_fpir if cl.threshold else None,
        evidence_model_id=model_id,
        candidates=len(cl.candidates),
        outcome=cl.outcome,
        result=candidate_list_dict(cl),
    )
    s.add(row)
    s.flush()
    audit.append(
        s,
        "search",
        f"search:{row.id}",
        {
            "probe_sha256": cl.probe_sha256,
            "probe_id": probe_id,
            "space": cl.space.key,
            "gallery_templates": cl.gallery_templates,
            "mode": cl.mode,
            "outcome": cl.outcome,
            "threshold": row.threshold,
            "candidates": [c.subject for c in cl.candidates],
        },
        records=[row],
    )
    return replace(cl, search_id=row.id)
