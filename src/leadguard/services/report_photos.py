"""The pictures of a search for its documents (docs/reports.md): the face LeadGuard examined
in the probe, and for every listed candidate the gallery photo with its date and the face
examined in it.

A gallery photo is read from the file the search log names, and only while its bytes still
hash to the SHA-256 recorded at enrollment (as the web pages serve it); otherwise the
document says why it is missing. The examined faces are cut from the stored bytes at the box
the detector recorded (the probe's in the search record, the candidate's in its face row),
with a margin of a quarter of the box on each side, and written as PNG: the same records
give the same bytes."""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.storage.tables import AuditEntry, FaceRecord, ProbeRecord, TemplateRecord

log = logging.getLogger(__name__)
MARGIN = 0.25
EMBEDDABLE = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def face_crop(data: bytes, box: dict[str, Any] | None) -> bytes | None:
    """The detected face with a margin, from the stored bytes (PNG); None without a box or
    when the bytes do not decode."""
    if not box:
        return None
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            rgb = img.convert("RGB")
    except (OSError, ValueError) as exc:
        log.warning("face crop: the image does not decode (%s)", exc)
        return None
    left, top, right, bottom = (int(box[k]) for k in ("left", "top", "right", "bottom"))
    mx, my = int((right - left) * MARGIN), int((bottom - top) * MARGIN)
    area = (
        max(0, left - mx),
        max(0, top - my),
        min(rgb.width, right + mx),
        min(rgb.height, bottom + my),
    )
    if area[2] <= area[0] or area[3] <= area[1]:
        return None
    return _png(rgb.crop(area))


def embeddable(data: bytes) -> tuple[bytes, bool]:
    """JPEG and PNG as stored; another format re-encoded as PNG (and said so)."""
    if data.startswith(EMBEDDABLE):
        return data, False
    with Image.open(io.BytesIO(data)) as img:
        return _png(img.convert("RGB")), True


def probe_face(
    s: Session, result: dict[str, Any], probe_id: int | None = None
) -> dict[str, Any] | None:
    """The face examined in the searched probe image (the stored bytes the search names):
    the search's own probe record (``probe_id``, the search log's), not an earlier record
    of the same bytes, which may belong to another request or case."""
    probe = result.get("probe") or {}
    sha = probe.get("sha256")
    box = (probe.get("face") or {}).get("box")
    if not sha or not box:
        return None
    own = s.get(ProbeRecord, probe_id) if probe_id is not None else None
    row = (
        own
        if own is not None and own.sha256 == sha
        else s.scalars(
            select(ProbeRecord).where(ProbeRecord.sha256 == sha).order_by(ProbeRecord.id).limit(1)
        ).first()
    )
    if row is None:
        return {"sha256": sha, "box": box, "data": None, "problem": "probe bytes not stored"}
    crop = face_crop(row.data, box)
    return {
        "probe_id": row.id,
        "sha256": sha,
        "box": box,
        "data": crop,
        "problem": None if crop else "the stored probe does not decode",
    }


def _expunged(s: Session) -> dict[str, str]:
    """SHA-256 of every expunged gallery photo -> the order that expunged it."""
    out: dict[str, str] = {}
    for details in s.scalars(
        select(AuditEntry.details).where(AuditEntry.action == "gallery_expunge")
    ):
        for sha in (details or {}).get("images") or []:
            out[str(sha)] = str(details.get("order"))
    return out


def _read_checked(path: str, sha: str | None) -> tuple[bytes | None, str | None]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, f"the gallery photo cannot be read ({exc.strerror})"
    if sha and hashlib.sha256(data).hexdigest() != sha:
        return None, "the gallery photo has changed since it was enrolled: not shown"
    return data, None


def _face_box(s: Session, template_id: int | None) -> dict[str, int] | None:
    if template_id is None:
        return None
    t = s.get(TemplateRecord, template_id)
    face = s.get(FaceRecord, t.face_id) if t is not None else None
    if face is None:
        return None
    return {"left": face.left, "top": face.top, "right": face.right, "bottom": face.bottom}


def candidate_photos(s: Session, result: dict[str, Any]) -> list[dict[str, Any]]:
    """Every listed candidate's gallery photo (bytes checked), its date and examined face."""
    out = []
    expunged = _expunged(s)
    for c in result.get("candidates") or []:
        order = expunged.get(str(c.get("image_sha256")))
        data: bytes | None
        problem: str | None
        if order is not None:  # a court's order: the photo is not read again, even if it exists
            data, problem = None, f"the gallery photo was expunged (order {order}): not read again"
        else:
            data, problem = _read_checked(str(c.get("image") or ""), c.get("image_sha256"))
        shown, converted = embeddable(data) if data is not None else (None, False)
        box = _face_box(s, c.get("template_id"))
        crop = face_crop(data, box) if data is not None else None
        out.append(
            {
                "rank": c["rank"],
                "subject": c["subject"],
                "sha256": c.get("image_sha256"),
                "date": c.get("encounter_date"),
                "data": shown,
                "stored": data,
                "converted": converted,
                "face": crop,
                "face_box": box,
                "problem": problem,
                "face_problem": None
                if crop
                else (problem or "the face row of this template is no longer stored"),
            }
        )
    return out
