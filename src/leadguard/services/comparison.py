"""The eye-aligned pair of the comparison view: the probe the search examined and one
listed candidate's gallery photo, each warped onto the same canvas with its eyes at the
same two points (same inter-eye distance, same angle), with its 68 landmarks on that canvas.

The faces are the ones the search compared: the probe's face box from the search record,
the candidate's from its stored face row; the landmarks are dlib's 68-point model inside
that box (``pipeline.align``). Who may see a pair, and by what name, is the candidate
image's rule (``files.resolve_candidate``): by the letter of one's own packet while blind,
by subject once every review is in. A blind pair holds nothing of the candidate's identity:
no name, record id, file, hash, score or rank, and re-encoded pixels only (no metadata)."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.core.alignment import CANVAS, EYES, INTER_EYE, Point
from leadguard.core.errors import LeadGuardError
from leadguard.core.types import Box
from leadguard.pipeline.align import LANDMARK_MODEL, AlignedFace, align_face
from leadguard.services.casework.service import get_request, policy
from leadguard.services.context import Actor, Context, refusals
from leadguard.services.files import resolve_candidate
from leadguard.storage.tables import FaceRecord, ProbeRecord, SearchLog, TemplateRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AlignedSide:
    png: bytes | None  # None: not aligned (``problem`` says why)
    landmarks: tuple[Point, ...] = ()
    problem: str = ""


@dataclass(frozen=True)
class AlignedPair:
    request: int
    label: str  # "candidate A" while blind, the subject once every review is in
    blind: bool
    probe: AlignedSide
    candidate: AlignedSide
    width: int = CANVAS[0]
    height: int = CANVAS[1]
    eyes: tuple[Point, Point] = EYES
    inter_eye: float = INTER_EYE
    landmark_model: str = LANDMARK_MODEL


def _box(d: dict[str, Any] | None) -> Box | None:
    if not d:
        return None
    return Box(int(d["left"]), int(d["top"]), int(d["right"]), int(d["bottom"]))


def probe_source(s: Session, result: dict[str, Any]) -> tuple[bytes | None, Box | None, str]:
    """The searched probe's stored bytes and the face box the search recorded."""
    probe = result.get("probe") or {}
    box = _box((probe.get("face") or {}).get("box"))
    sha = probe.get("sha256")
    if not sha or box is None:
        return None, None, "no face box is on record for this search's probe"
    row = s.scalars(select(ProbeRecord).where(ProbeRecord.sha256 == sha).limit(1)).first()
    if row is None:
        return None, None, "the searched probe's bytes are not stored"
    return bytes(row.data), box, ""


def candidate_source(s: Session, cand: dict[str, Any]) -> tuple[bytes | None, Box | None, str]:
    """A candidate's gallery photo (only while it hashes to what was enrolled) and the box of
    the face compared in it."""
    try:
        data = Path(str(cand.get("image") or "")).read_bytes()
    except OSError as exc:
        return None, None, f"the gallery photo cannot be read ({exc.strerror})"
    sha = cand.get("image_sha256")
    if sha and hashlib.sha256(data).hexdigest() != sha:
        return None, None, "the gallery photo has changed since it was enrolled: not shown"
    t = s.get(TemplateRecord, cand.get("template_id")) if cand.get("template_id") else None
    face = s.get(FaceRecord, t.face_id) if t is not None else None
    if face is None:
        return None, None, "the face row of this candidate's template is no longer stored"
    return data, Box(face.left, face.top, face.right, face.bottom), ""


# Aligned sides already computed, by (image SHA-256, box, side, pixel limit): a reviewer
# moving between candidates, or a client asking for one pair again and again, costs one
# alignment (a decode, 68 landmarks and a warp: about 0.2 s) per face, not one per request.
ALIGNED_KEPT = 64
_aligned: OrderedDict[tuple[str, Box, str, int], AlignedSide] = OrderedDict()
_aligned_lock = threading.Lock()


def align_side(
    data: bytes | None, box: Box | None, problem: str, what: str, max_pixels: int
) -> AlignedSide:
    if data is None or box is None:
        return AlignedSide(None, (), problem)
    key = (hashlib.sha256(data).hexdigest(), box, what, max_pixels)
    with _aligned_lock:
        if key in _aligned:
            _aligned.move_to_end(key)
            return _aligned[key]
    try:
        a: AlignedFace = align_face(data, box, what, max_pixels)
    except (LeadGuardError, ValueError) as exc:
        log.info("alignment of the %s failed: %s", what, exc)
        side = AlignedSide(None, (), f"the {what} could not be aligned ({exc})")
    else:
        side = AlignedSide(a.png, tuple((round(x, 1), round(y, 1)) for x, y in a.landmarks))
    with _aligned_lock:
        _aligned[key] = side
        while len(_aligned) > ALIGNED_KEPT:
            _aligned.popitem(last=False)
    return side


def pair_sources(
    s: Session, search_id: int, cand: dict[str, Any]
) -> tuple[tuple[bytes | None, Box | None, str], tuple[bytes | None, Box | None, str]]:
    row = s.get(SearchLog, search_id)
    assert row is not None
    return probe_source(s, row.result), candidate_source(s, cand)


def aligned_pair(
    ctx: Context,
    actor: Actor,
    request_id: int,
    candidate: str | None = None,
    subject: str | None = None,
) -> AlignedPair:
    """The probe and one candidate aligned on the eyes, for those who may see the candidate
    (by ``candidate`` letter while blind, by ``subject`` once every review is in)."""
    pol = policy(ctx, observe=False)
    where = f"request:{request_id}/comparison"
    with refusals(ctx, actor, "review.packet", where), ctx.session() as s:
        req, case = get_request(s, request_id)
        cand, label, blind = resolve_candidate(s, actor, req, case, pol, subject, candidate)
        assert req.search_id is not None  # resolve_candidate read its list
        (pd, pb, pp), (cd, cb, cp) = pair_sources(s, req.search_id, cand)
    probe = align_side(pd, pb, pp, "probe", ctx.settings.max_image_pixels)
    other = align_side(cd, cb, cp, "candidate", ctx.settings.max_image_pixels)
    return AlignedPair(req.id, label, blind, probe, other)
