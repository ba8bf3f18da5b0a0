"""Stored records, read into plain data for the reports (docs/reports.md). Reads only: no
clock, nothing written; the same records give the same data. The one file read outside the
database is a listed candidate's gallery photo, shown only while it hashes to what was
enrolled (``report_photos``)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.core.errors import InputError
from leadguard.evidence.groups import ranked_groups
from leadguard.evidence.model import EvidenceModel
from leadguard.quality.gate import describe_source_type
from leadguard.services import comparison_report, report_photos
from leadguard.services.casework.lead_state import (
    corroboration_dicts,
    independent,
    lead_final,
    showing_dicts,
)
from leadguard.storage.db import by_id
from leadguard.storage.tables import (
    AccuracyRecord,
    Case,
    CaseAssignment,
    EvidenceModelRecord,
    ExternalSearch,
    Lead,
    ProbeRecord,
    Review,
    SearchLog,
    SearchRequest,
    Subject,
    User,
)


def iso(v: datetime | date | None) -> str | None:
    return v.isoformat() if v is not None else None


def username(s: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    u = s.get(User, user_id)
    return u.username if u is not None else f"user #{user_id}"


def case_dict(s: Session, case: Case) -> dict[str, Any]:
    assigned = s.scalars(select(CaseAssignment.user_id).where(CaseAssignment.case_id == case.id))
    return {
        "number": case.number,
        "offence": case.offence,
        "incident_date": iso(case.incident_date),
        "description": case.description,
        "person_sought": case.attributes,
        "requesting_officer": case.requesting_officer,
        "legal_authority": case.legal_authority,
        "unit": case.unit,
        "status": case.status,
        "opened_at": iso(case.created_at),
        "assigned": sorted(str(username(s, u)) for u in assigned),
    }


def request_dict(s: Session, req: SearchRequest) -> dict[str, Any]:
    return {
        "id": req.id,
        "purpose": req.purpose,
        "source_type": req.source_type,
        "source_described": describe_source_type(req.source_type),
        "probe_path": req.probe_path,
        "probe_id": req.probe_id,
        "probe_sha256": req.probe_sha256,
        "face": req.face,
        "edits": req.edits,
        "status": req.status,
        "requested_by": username(s, req.requested_by),
        "approved_by": username(s, req.approved_by),
        "searched_by": username(s, req.searched_by),
        "search_id": req.search_id,
        "adjudications": req.adjudications,
        "created_at": iso(req.created_at),
    }


def external_dict(s: Session, ext: ExternalSearch) -> dict[str, Any]:
    return {
        "id": ext.id,
        "what": "a face search run outside LeadGuard: never a lead, never corroboration",
        "run_by": ext.run_by,
        "system": ext.system,
        "run_on": iso(ext.run_on),
        "candidate_named": ext.candidate,
        "how_received": ext.how_received,
        "probe_id": ext.probe_id,
        "probe_sha256": ext.probe_sha256,
        "notes": ext.notes,
        "recorded_by": username(s, ext.recorded_by),
        "recorded_at": iso(ext.created_at),
    }


def probe_dict(p: ProbeRecord, with_bytes: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.id,
        "parent_id": p.parent_id,
        "sha256": p.sha256,
        "source_type": p.source_type,
        "source_described": describe_source_type(p.source_type),
        "original_name": p.original_name,
        "exif": p.exif,
        "editor": p.editor,
        "edits": p.edits,
        "received_at": iso(p.created_at),
    }
    if with_bytes:
        out["data"] = p.data
    return out


def probes_of(s: Session, probe_id: int | None) -> list[ProbeRecord]:
    """The probe as received and every probe LeadGuard derived from it by recorded edits."""
    if probe_id is None:
        return []
    first = s.get(ProbeRecord, probe_id)
    if first is None:
        return []
    out, todo = [first], [probe_id]
    while todo:
        kids = list(
            s.scalars(
                select(ProbeRecord)
                .where(ProbeRecord.parent_id == todo.pop())
                .order_by(ProbeRecord.id)
            )
        )
        out += kids
        todo += [k.id for k in kids]
    return out


def search_dict(row: SearchLog) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso(row.created_at),
        "probe_id": row.probe_id,
        "probe_sha256": row.probe_sha256,
        "mode": row.mode,
        "outcome": row.outcome,
        "candidates": row.candidates,
        "gallery_subjects": row.gallery_subjects,
        "gallery_templates": row.gallery_templates,
        "threshold": row.threshold,
        "target_fpir": row.target_fpir,
        "evidence_model_id": row.evidence_model_id,
        "space_key": row.space_key,
        "result": row.result,
    }


def review_dict(s: Session, r: Review) -> dict[str, Any]:
    return {
        "id": r.id,
        "request_id": r.request_id,
        "examiner": username(s, r.examiner_id),
        "submitted_at": iso(r.submitted_at),
        "decisions": r.decisions,
    }


def lead_dict(s: Session, lead: Lead) -> dict[str, Any]:
    subject = s.scalars(select(Subject).where(Subject.external_id == lead.subject)).first()
    return {
        "id": lead.id,
        "request_id": lead.request_id,
        "subject": lead.subject,
        "subject_sex": subject.sex if subject else None,
        "subject_race": subject.race if subject else None,
        "released_by": username(s, lead.released_by),
        "released_at": iso(lead.released_at),
        "basis": lead.basis,
        "adjudication": lead.adjudication,
        "corroboration": corroboration_dicts(s, lead),
        "independent_corroboration": independent(s, lead),
        "final": lead_final(s, lead),
        "lineup_recorded": lead.lineup_recorded,
        "lineups": showing_dicts(s, lead),
        "outcomes": lead.outcomes,
    }


def evidence_model_dict(
    s: Session, model_id: int | None, threshold: float | None
) -> dict[str, Any] | None:
    """The stored evidence model a search used: provenance, held-out validation, and the
    false match rate at the search's threshold overall and within every measured group."""
    if model_id is None:
        return None
    rec = s.get(EvidenceModelRecord, model_id)
    if rec is None:
        return None
    head = {
        "id": rec.id,
        "source": rec.source,
        "payload_sha256": rec.payload_sha256,
        "stored_at": iso(rec.created_at),
        "accuracy_record": rec.record_id,
    }
    return _model_dict(head, rec.payload, threshold)


def shipped_model(row: SearchLog) -> tuple[str, bytes] | None:
    """For a search recorded before the shipped model was stored with it (no id): the file
    LeadGuard ships for its space, when it hashes to the SHA-256 the search recorded."""
    from leadguard.evidence.model import shipped_payload

    named = row.result.get("evidence_model") or {}
    if row.evidence_model_id is not None or named.get("source") != "shipped":
        return None
    payload = shipped_payload(row.space_key)
    if payload is None or hashlib.sha256(payload).hexdigest() != named.get("payload_sha256"):
        return None
    return f"leadguard/evidence/data/{row.space_key}.npz", payload


def search_model_dict(s: Session, row: SearchLog) -> dict[str, Any] | None:
    """The evidence model a search used: the stored one by id, else the shipped file."""
    if row.evidence_model_id is not None:
        return evidence_model_dict(s, row.evidence_model_id, row.threshold)
    shipped = shipped_model(row)
    if shipped is None:
        return None
    name, payload = shipped
    head = {
        "id": None,
        "source": "shipped",
        "file": name,
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "stored_at": None,
        "accuracy_record": None,
    }
    return _model_dict(head, payload, row.threshold)


def _model_dict(head: dict[str, Any], payload: bytes, threshold: float | None) -> dict[str, Any]:
    model = EvidenceModel.from_bytes(payload)
    meta = model.meta
    out: dict[str, Any] = {
        **head,
        "provenance": meta.get("provenance", {}),
        "validation": meta.get("validation", {}),
        "groups_at_threshold": [],
    }
    if threshold is not None:
        overall = model.fmr(threshold)
        out["fmr_at_threshold"] = {"fmr": overall.fmr, "ci95": list(overall.ci)}
        # ranked as the list names its worst group (95 % upper bound first): one worst
        # group per list, the same in every section
        out["groups_at_threshold"] = [
            {
                "group": st.group,
                "fmr": st.fmr.fmr,
                "ci95": list(st.fmr.ci),
                "comparisons": st.fmr.comparisons,
                "informative": st.fmr.informative,  # its bound says something
            }
            for st in ranked_groups(model, threshold)
            if st.fmr is not None
        ]
    return out


def accuracy_records(s: Session, space_key: str) -> list[dict[str, Any]]:
    q = select(AccuracyRecord).where(AccuracyRecord.space_key == space_key)
    return [
        {
            "id": r.id,
            "created_at": iso(r.created_at),
            "protocol": r.protocol,
            "dataset": r.dataset,
            "dataset_checksum": r.dataset_checksum,
            "command": r.command,
            "software_version": r.software_version,
            "metrics": r.metrics,
        }
        for r in s.scalars(q.order_by(AccuracyRecord.id))
    ]


def lead_record(s: Session, lead_id: int) -> dict[str, Any]:
    """Everything the lead report shows, from stored records only."""
    lead = by_id(s, Lead, lead_id)
    if lead is None:
        raise InputError(f"lead {lead_id}: no such lead")
    req = s.get(SearchRequest, lead.request_id)
    assert req is not None
    case = s.get(Case, req.case_id)
    assert case is not None
    if req.search_id is None:
        raise InputError(f"lead {lead_id}: its request {req.id} has no search on record")
    row = s.get(SearchLog, req.search_id)
    assert row is not None
    reviews = s.scalars(select(Review).where(Review.request_id == req.id).order_by(Review.id))
    return {
        "case": case_dict(s, case),
        "request": request_dict(s, req),
        "lead": lead_dict(s, lead),
        "probes": [probe_dict(p) for p in probes_of(s, req.probe_id)],
        "search": search_dict(row),
        "probe_face": report_photos.probe_face(s, row.result, row.probe_id),
        "candidate_photos": report_photos.candidate_photos(s, row.result),
        "reviews": [review_dict(s, r) for r in reviews],
        "comparison": comparison_report.for_lead(s, req, lead.subject),
        "evidence_model": search_model_dict(s, row),
        "accuracy_records": accuracy_records(s, row.space_key),
        "external_searches": [
            external_dict(s, x)
            for x in s.scalars(
                select(ExternalSearch)
                .where(ExternalSearch.case_id == case.id)
                .order_by(ExternalSearch.id)
            )
        ],
    }
