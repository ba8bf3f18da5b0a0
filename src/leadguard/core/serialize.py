"""Plain-data (JSON-ready) forms of domain values, shared by the CLI and the later API."""

from __future__ import annotations

from typing import Any

from leadguard.core.errors import FindingsError, LeadGuardError, SeveralFaces
from leadguard.core.types import CandidateList, Detection


def detection_dict(d: Detection) -> dict[str, Any]:
    b = d.box
    return {
        "box": {"left": b.left, "top": b.top, "right": b.right, "bottom": b.bottom},
        "size_px": [b.width, b.height],
        "detector_score": round(d.score, 4),
    }


def error_dict(exc: LeadGuardError) -> dict[str, Any]:
    """A refusal or bad input as JSON (what ``--json`` prints instead of a result): the
    error's kind, its message, the rule that refused it, the faces found when there were
    several, the findings of a check that failed."""
    out: dict[str, Any] = {"kind": "error", "error": type(exc).__name__, "message": str(exc)}
    if getattr(exc, "rule", None):
        out["rule"] = exc.rule  # type: ignore[attr-defined]
    if isinstance(exc, SeveralFaces):
        out["detections"] = [detection_dict(d) for d in exc.detections]
    if isinstance(exc, FindingsError):
        out["findings"] = list(exc.findings)
    return out


def candidate_list_dict(cl: CandidateList) -> dict[str, Any]:
    return {
        "kind": "candidate_list",
        "probe": {
            "source": cl.probe_source,
            "sha256": cl.probe_sha256,
            "face": detection_dict(cl.probe_face),
        },
        "embedding_space": cl.space.to_dict(),
        "score": "cosine similarity of unit templates; higher = more alike; not a probability",
        "gallery_searched": {"subjects": cl.gallery_subjects, "templates": cl.gallery_templates},
        "search": "exact (every template in the gallery compared)",
        "mode": cl.mode,
        "outcome": cl.outcome,
        "threshold": _threshold(cl),
        "open_set": cl.open_set.to_dict() if cl.open_set is not None else None,
        "evidence_model": cl.evidence_model,
        "incident_date": cl.incident_date.isoformat() if cl.incident_date else None,
        "search_id": cl.search_id,
        "probe_quality": cl.quality,
        "probe_provenance": cl.provenance,
        "list_length": cl.top_k,
        "candidates": [
            {
                "rank": c.rank,
                "subject": c.subject,
                "score": round(c.score, 6),
                "image": c.image_path,
                "image_sha256": c.image_sha256,
                "template_id": c.template_id,
                "encounter_date": c.encounter_date.isoformat() if c.encounter_date else None,
                "evidence": c.evidence.to_dict() if c.evidence else None,
                "gallery_photo_quality": c.photo_quality,
            }
            for c in cl.candidates
        ],
        "notices": list(cl.notices),
    }


def _threshold(cl: CandidateList) -> dict[str, Any] | None:
    t = cl.threshold
    if t is None:
        return None
    return {
        "score": t.threshold,
        "target_fpir": t.target_fpir,
        "predicted_fpir": t.predicted_fpir if t.measurable else None,  # unverifiable: none
        "gallery_templates": t.gallery_size,
        "false_match_rate_at_threshold": t.fmr.fmr,
        "measurable": t.measurable,
        "listing_score": cl.listing_threshold,
        "statement": t.statement(),
    }
