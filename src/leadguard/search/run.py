"""Probe -> candidate list. A search returns candidates to investigate, never a verdict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from leadguard.acceptance import gate as models_gate
from leadguard.audit import log as audit
from leadguard.core.errors import EvidenceUnavailable, LeadGuardError, SpaceMismatch
from leadguard.core.serialize import candidate_list_dict
from leadguard.core.types import Candidate, CandidateList, EmbeddingSpace
from leadguard.evidence import lookalikes
from leadguard.evidence import model as evidence_model
from leadguard.evidence.chance import GalleryThreshold
from leadguard.evidence.duplicates import StrangerFigures
from leadguard.evidence.for_search import list_evidence, search_threshold
from leadguard.evidence.gallery_figures import gallery_figures
from leadguard.evidence.gallery_figures import list_lines as gallery_list_lines
from leadguard.evidence.model import StoredModel
from leadguard.evidence.shift import ShiftCheck
from leadguard.evidence.statements import INVESTIGATION_NOTICE, NO_CANDIDATE, CandidateEvidence
from leadguard.evidence.tail import OpenSetDecision, TailRefused, decide, scores_needed
from leadguard.face_models.base import FaceModel
from leadguard.gallery.lookalikes import candidate_rows
from leadguard.gallery.maintenance import gallery_counts, synced_index
from leadguard.index.base import VectorIndex, check_space
from leadguard.pipeline.compose import FacePipeline, FaceSelection, MeasuredFace, ProcessedImage
from leadguard.pipeline.decode import Header, check_header, read_file, sha256_bytes
from leadguard.quality.gate import QualityRefused, Verdict, workspace_policy
from leadguard.quality.provenance import ProbeRefused, apply_edits, check_source_type
from leadguard.search.intake import Intake, gate, log_refusal, receive_probe
from leadguard.search.rank import best_subject_templates, subject_codes, with_rows
from leadguard.search.request import SearchRequest
from leadguard.storage import queries as repo
from leadguard.storage.tables import ProbeRecord, SearchLog
from leadguard.storage.workspace import Workspace

LEAD_NOTICE = (
    "These are candidates for an investigator to examine, ranked by similarity. A candidate is "
    "an investigative lead only: not an identification and not probable cause."
)


def search(
    ws: Workspace,
    request: SearchRequest,
    *,
    model: FaceModel,
    then: Callable[[Session, CandidateList], None] | None = None,
    screen: Callable[[np.ndarray, str], None] | None = None,
) -> CandidateList:
    """Open-set by default: only subjects at or above the threshold measured for this gallery
    size; ``investigation=N`` returns N people with no threshold, and says so.

    One transaction and one session, in named stages: intake → measure and gate → gallery
    snapshot → rank → evidence → log. A refused or failed search (prohibited source, quality
    gate, no face, ...) commits its probe, its search-log row and its audit entries, then
    raises. ``then(session, result)`` runs in the same transaction, after the search is
    logged (a casework request is marked searched with it; an override is audited).
    ``screen(template, sha256)`` runs once the probe is received and embedded, before the
    gallery is read, with the SHA-256 of the bytes received (the ones searched, not a file
    read again): an error it raises refuses the search, recorded like any refusal (an urgent
    search of a sealed request's person)."""
    failure: LeadGuardError | None = None
    ready = prepare(ws, request, model)  # the costly part, before the transaction
    with ws.session() as s:
        received: list[Intake] = []  # the intake, once the probe is stored
        try:
            result = _search(ws, s, request, model, received, ready, screen)
            if then is not None:
                then(s, result)
            return result
        except (ProbeRefused, QualityRefused) as exc:
            failure = exc  # recorded where it was refused
        except LeadGuardError as exc:
            intake = received[0] if received else None
            code = getattr(exc, "code", type(exc).__name__.lower())
            log_refusal(
                s,
                intake.probe_id if intake else None,
                intake.original_sha256 if intake else "",
                request.shown,
                code,
                str(exc),
                {},
            )
            failure = exc
    raise failure


@dataclass(frozen=True)
class Prepared:
    """The probe's face measured and embedded before the search's transaction (decode,
    detection, measures and the template take most of a search, and the transaction holds
    the database's writer lock). The stages inside the transaction take these results
    for the bytes they were computed from, and raise a captured error at the point where
    it would have been raised, so what is stored, logged and audited is unchanged."""

    sha256: str  # of the bytes that were measured (the searched bytes, edits applied)
    original: bytes | None  # the file's bytes as read (None for a stored probe)
    header: Header  # the header check of the bytes received, made once
    measured: MeasuredFace | None
    processed: ProcessedImage | None
    error: LeadGuardError | None  # raised by measure (measured None) or by complete


def prepare(ws: Workspace, req: SearchRequest, model: FaceModel) -> Prepared | None:
    """Measure and embed the probe outside any transaction. ``None`` when a check before
    the measures fails (unreadable, header, prohibited source type, edits): the search's
    own stages raise that error and record it."""
    settings = ws.settings
    try:
        if req.stored_probe is None:
            original = read_file(req.probe, settings.max_image_bytes)
        else:
            with ws.session() as s:  # a short read
                rec = s.get(ProbeRecord, req.stored_probe)
                if rec is None:
                    return None
                original = bytes(rec.data)
        header = check_header(original, req.shown, settings.max_image_pixels)  # before decoding
        check_source_type(req.source_type, workspace_policy(ws).prohibited_source_types)
        data = original
        if req.edits:
            data = apply_edits(original, list(req.edits), req.shown, settings.max_image_pixels)
    except LeadGuardError:
        return None
    pipeline = FacePipeline(model, settings.min_face_size, settings.max_image_pixels)
    sha = sha256_bytes(data)
    read = original if req.stored_probe is None else None
    checked = header if not req.edits else None  # an edited image is checked when decoded
    try:
        measured = pipeline.measure(data, req.shown, FaceSelection("reject", req.face), checked)
    except LeadGuardError as exc:
        return Prepared(sha, read, header, None, None, exc)
    try:
        processed = pipeline.complete(measured, req.shown)
        return Prepared(sha, read, header, measured, processed, None)
    except LeadGuardError as exc:
        return Prepared(sha, read, header, measured, None, exc)


@dataclass(frozen=True)
class _Probe:
    """The probe received, measured and gated."""

    intake: Intake
    processed: ProcessedImage
    verdict: Verdict
    faces: int


@dataclass(frozen=True)
class _Gallery:
    """The gallery as this search sees it: one generation, read once."""

    table: tuple[int, ...]  # the templates' stamp (generation)
    subjects: int
    templates: int
    stored: StoredModel | None
    index: VectorIndex
    consistent: bool


@dataclass(frozen=True)
class _Ranked:
    ranked: list[tuple[float, repo.TemplateInfo]]
    requested: int
    k: int
    threshold: GalleryThreshold | None
    shift: ShiftCheck | None
    open_set: OpenSetDecision | None
    notices: list[str]
    figures: StrangerFigures | None = None


def _search(
    ws: Workspace,
    s: Session,
    req: SearchRequest,
    model: FaceModel,
    received: list[Intake],
    ready: Prepared | None = None,
    screen: Callable[[np.ndarray, str], None] | None = None,
) -> CandidateList:
    probe = _receive(ws, s, req, model, received, ready)
    if screen is not None:
        screen(probe.processed.template.vector, probe.intake.original_sha256)
    gallery = _snapshot(ws, s, model.space, req.investigation)
    ranked = _rank(ws, s, req, probe, gallery)
    candidates = _candidates(s, req, model.space.key, gallery, ranked)
    notices = [
        *([LEAD_NOTICE] if candidates else []),  # not beside "No candidate above ..."
        *probe.intake.notices,
        *probe.verdict.warnings(),
        *_probe_notices(req, probe, gallery, ranked),
        *ranked.notices,
    ]
    if req.investigation is not None:
        notices.insert(0, INVESTIGATION_NOTICE.format(n=ranked.k))
    stored = gallery.stored
    result = CandidateList(
        probe_source=req.shown,
        probe_sha256=probe.processed.image.sha256,
        probe_face=probe.processed.template.detection,
        space=model.space,
        gallery_subjects=gallery.subjects,
        gallery_templates=gallery.templates,
        top_k=ranked.k,
        candidates=candidates,
        notices=tuple(notices),
        mode="investigation" if req.investigation is not None else "open-set",
        threshold=ranked.threshold,
        evidence_model=stored.describe() if stored else None,
        incident_date=req.incident_date,
        quality=probe.verdict.to_dict(),
        provenance=probe.intake.provenance(),
        open_set=ranked.open_set,
    )
    return log_search(s, result, stored.id if stored else None, probe.intake.probe_id)


def _receive(
    ws: Workspace,
    s: Session,
    req: SearchRequest,
    model: FaceModel,
    received: list[Intake],
    ready: Prepared | None = None,
) -> _Probe:
    """Intake, then measure and gate (the gate runs before the face-size check); the
    measures and template of ``ready`` when they are of the bytes taken in."""
    settings = ws.settings
    pipeline = FacePipeline(model, settings.min_face_size, settings.max_image_pixels)
    # the bytes prepare read and checked are the ones stored and searched: read once
    original = ready.original if ready else None
    given = (original, ready.header) if ready and original is not None else None
    intake = receive_probe(
        ws, s, req.probe, req.source_type, req.edits, req.stored_probe, req.shown, given
    )
    received.append(intake)
    if ready is None or ready.sha256 != sha256_bytes(intake.data):
        ready = None
        selection = FaceSelection("reject", req.face)
        measured = pipeline.measure(intake.data, req.shown, selection, intake.header)
    elif ready.measured is None:
        assert ready.error is not None
        raise ready.error
    else:
        measured = ready.measured
    verdict = gate(ws, s, intake, measured.quality, req.shown)
    if ready is None:
        processed = pipeline.complete(measured, req.shown)
    elif ready.processed is None:
        assert ready.error is not None
        raise ready.error
    else:
        processed = ready.processed
    return _Probe(intake, processed, verdict, len(processed.detections))


def _snapshot(
    ws: Workspace, s: Session, space: EmbeddingSpace, investigation: int | None
) -> _Gallery:
    """The gallery's generation, counts, evidence model and index, each read once."""
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
    return _Gallery(table, subjects, templates, stored, index, check.consistent)


def _rank(
    ws: Workspace, s: Session, req: SearchRequest, probe: _Probe, gallery: _Gallery
) -> _Ranked:
    """The best subjects, the open-set decision and the listing threshold."""
    settings = ws.settings
    requested = req.investigation or req.top_k or settings.top_k
    k = min(requested, settings.max_candidates)
    notices: list[str] = []
    fetch = max(k + 1, scores_needed(gallery.subjects))  # the per-search fit reads the best
    vector = probe.processed.template.vector
    best: list[tuple[float, int]] = []  # (score, template id): rows read for the listed only
    if gallery.templates:
        subjects = subject_codes(ws, s, gallery.index.space_key, gallery.table)
        best = best_subject_templates(gallery.index, vector, fetch, s, subjects)
    ranked = best[:k]
    threshold = shift = None
    figures: StrangerFigures | None = None
    open_set: OpenSetDecision | None = None
    if gallery.stored is not None and gallery.templates:  # resident: read once per generation
        figures = gallery_figures(ws, gallery.stored.model.space_key, gallery.table, s)
    if req.investigation is None and gallery.stored is not None and gallery.templates:
        threshold, shift = search_threshold(
            ws, gallery.stored, gallery.templates, gallery.table, figures
        )
    if gallery.templates:
        open_set = decide(
            [score for score, _ in best],
            gallery.subjects,
            settings.target_fpir,
            threshold.threshold if threshold else None,
        )
    near = lookalikes.near_top([score for score, _ in best], gallery.subjects)
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
            if shift is not None and shift.shifted:  # said per candidate otherwise
                notices.append(f"NOT VALIDATED FOR THIS GALLERY: {shift.statement()}")
    if ranked and near is not None:  # the list's top candidate is the search's top score
        notices.append(near.line())
    if figures is not None:
        at = open_set.listing_threshold if open_set is not None else None
        domain = gallery.stored.model.domain if gallery.stored else ""
        # the one group the list names: the evidence model's worst at the listing score
        named = gallery.stored.model.worst_group(at) if gallery.stored and at is not None else None
        notices += gallery_list_lines(
            figures, at, domain, named.group if named else None
        ).list_lines
    listed = with_rows(s, ranked)
    return _Ranked(listed, requested, k, threshold, shift, open_set, notices, figures)


def _probe_notices(
    req: SearchRequest, probe: _Probe, gallery: _Gallery, ranked: _Ranked
) -> list[str]:
    notices = []
    if ranked.requested > ranked.k:
        notices.append(f"list length capped at {ranked.k} by the max_candidates setting")
    if not gallery.consistent:
        notices.append("the vector index disagreed with the database and was rebuilt first")
    if probe.faces > 1:
        notices.append(f"the probe holds {probe.faces} faces; face {req.face} was searched")
    if gallery.templates == 0:
        notices.append("the gallery is empty: nobody was searched")
    if gallery.stored is None:
        notices.append(
            "no evidence model for this embedding space: scores are given without any statement "
            "of what they are worth"
        )
    return notices


def _candidates(
    s: Session, req: SearchRequest, space_key: str, gallery: _Gallery, ranked: _Ranked
) -> tuple[Candidate, ...]:
    """Each listed subject with its photo's date and quality and its evidence statements."""
    rows = ranked.ranked
    latest_dates = repo.latest_encounters(s, [info.subject for _, info in rows], space_key)
    evidence = (
        list_evidence(
            gallery.stored,
            rows,
            ranked.threshold,
            gallery.subjects,
            gallery.templates,
            latest_dates,
            req.incident_date,
            req.probe_sex,
            req.probe_race,
            ranked.shift,
            ranked.open_set,
            ranked.figures,
        )
        if gallery.stored
        else [None] * len(rows)
    )
    kept = candidate_rows(s, [info.template_id for _, info in rows]) if rows else {}
    with_counts: list[CandidateEvidence | None] = [
        replace(ev, lookalikes=lookalikes.read(score, kept.get(info.template_id)))
        if ev is not None
        else None
        for ev, (score, info) in zip(evidence, rows, strict=True)
    ]
    return tuple(
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
        for r, ((score, info), ev) in enumerate(zip(rows, with_counts, strict=True), start=1)
    )


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
