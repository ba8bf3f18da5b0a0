"""Images and report files for the users allowed to see them. The caller names a request,
a candidate or an accuracy record; the file's location comes from the database only, and
a gallery image is given out only while its bytes still hash to what was enrolled."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.core.errors import InputError
from leadguard.quality.provenance import Edit
from leadguard.services.authz import NotAllowed
from leadguard.services.casework.blind import lettered, reviews_in
from leadguard.services.casework.policy import CaseworkPolicy, PolicyRefused
from leadguard.services.casework.review import require_may_review, still_to_review
from leadguard.services.casework.service import candidates_of, check_case, get_request, policy
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.services.gallery import operator_check
from leadguard.storage.tables import AccuracyRecord, Case, ProbeRecord, SearchRequest

LANDMARKS = "dlib 68-point model on the box"  # as the search's pipeline measures
# a preview's image is shown at most this many pixels a side (a 7000 x 7000 probe's full-size
# PNG took seconds to encode and tens of MB of page); its width and height stay the probe's
PREVIEW_SIDE = 2048
MEDIA = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))


@dataclass(frozen=True)
class FileData:
    data: bytes
    media_type: str


def media_type(data: bytes) -> str:
    for magic, kind in MEDIA:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def probe_image(ctx: Context, actor: Actor, request_id: int) -> FileData:
    """The probe of a request, as received: for those who may view its case."""
    with refusals(ctx, actor, "case.view", f"request:{request_id}/probe"), ctx.session() as s:
        req, case = get_request(s, request_id)
        check_case(s, current_user(s, actor), "case.view", case)
        row = s.get(ProbeRecord, req.probe_id) if req.probe_id is not None else None
        if row is None:
            raise InputError(f"request {request_id}: the stored probe does not exist")
        return FileData(bytes(row.data), media_type(row.data))


def resolve_candidate(
    s: Session,
    actor: Actor,
    req: SearchRequest,
    case: Case,
    pol: CaseworkPolicy,
    subject: str | None,
    letter: str | None,
) -> tuple[dict[str, Any], str, bool]:
    """A candidate of a request's list as ``actor`` may name it: ``(candidate, label,
    blind)``. Until every review is in, and for a reviewer who has not yet submitted (a third
    reviewer too), only by the letter of the user's own blind packet, and only for its blind
    reviewers (the label is then "candidate A"); once every review is in, by subject for those
    who may see the reveal. No message names what the caller offered."""
    user = current_user(s, actor)
    blind = not reviews_in(s, req, pol.examiners_required) or still_to_review(
        s, user, req, case, pol
    )
    if blind:
        try:
            require_may_review(s, user, req, case, "review.packet", pol)
        except (NotAllowed, PolicyRefused):
            raise NotAllowed(
                f"{actor.username}: the candidates of request {req.id} are shown only "
                "to its blind reviewers until every review is in"
            ) from None
        if letter is None:
            raise NotAllowed(
                f"request {req.id} is under blind review: its candidates are named by "
                "the letter of your packet (candidate=A), never by subject"
            )
        by_letter = dict(lettered(req.id, user.id, candidates_of(s, req)))
        if letter not in by_letter:
            raise InputError(
                f"that candidate of your packet of request {req.id} does not exist: name one by "
                "its letter"
            )
        return by_letter[letter], f"candidate {letter}", True
    check_case(s, user, "review.reveal", case)
    if subject is None:
        raise InputError("name the candidate by subject (the reviews are all in)")
    found = [c for c in candidates_of(s, req) if c["subject"] == subject]
    if not found:
        raise InputError(f"a candidate of that subject on request {req.id} does not exist")
    return found[0], str(found[0]["subject"]), False


def candidate_image(
    ctx: Context,
    actor: Actor,
    request_id: int,
    subject: str | None = None,
    letter: str | None = None,
) -> FileData:
    """A candidate's gallery image from a request's list. Until every review is in, and for
    a reviewer who has not yet submitted (a third reviewer too), only by the letter of the
    user's own blind packet, and only to its blind reviewers; once every review is in, by
    subject to those who may see the reveal."""
    pol = policy(ctx, observe=False)
    obj = f"request:{request_id}/candidate"
    with refusals(ctx, actor, "review.packet", obj), ctx.session() as s:
        req, case = get_request(s, request_id)
        cand, label, _ = resolve_candidate(s, actor, req, case, pol, subject, letter)
    path, sha = Path(cand["image"]), cand.get("image_sha256")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"the gallery image of {label} cannot be read ({exc.strerror})") from exc
    if sha and hashlib.sha256(data).hexdigest() != sha:
        raise InputError(
            f"the gallery image of {label} has changed since it was enrolled: not shown"
        )
    return FileData(data, media_type(data))


def report_html(ctx: Context, actor: Actor, record_id: int) -> FileData:
    """The report.html of an accuracy record (gallery readers: supervisors, auditors)."""
    operator_check(ctx, actor, "gallery.read", f"record:{record_id}")
    with ctx.session() as s:
        rec = s.scalars(select(AccuracyRecord).where(AccuracyRecord.id == record_id)).first()
        if rec is None:
            raise InputError(f"accuracy record {record_id} does not exist")
        folder = Path(rec.report_dir)
    if not folder.is_absolute():
        folder = ctx.root / folder
    try:
        return FileData((folder / "report.html").read_bytes(), "text/html; charset=utf-8")
    except OSError as exc:
        raise InputError(f"accuracy record {record_id}: its report cannot be read ({exc})") from exc


@dataclass(frozen=True)
class Preview:
    """What the requester sees before filing: the probe with LeadGuard's edits applied (PNG,
    at most ``PREVIEW_SIDE`` px a side, reduced by a whole factor; ``width`` and ``height``
    are the probe's own, which a crop dragged on it counts in; faces outlined and numbered,
    largest first as ``face`` counts them), the faces found,
    and the quality gate's verdict on the face the search would take (``quality``: pass,
    warn or refuse; None when no face or several faces and none chosen, ``quality_note``
    says why), with its findings in words."""

    png: bytes
    faces: tuple[str, ...]
    width: int = 0
    height: int = 0
    quality: str | None = None
    findings: tuple[str, ...] = ()
    quality_note: str = ""


def preview_probe(
    ctx: Context,
    actor: Actor,
    number: str,
    data: bytes,
    edits: tuple[Edit, ...],
    name: str,
    face: int | None = None,
) -> Preview:
    """Nothing is stored: a preview of the edits, the face choice and the quality verdict
    (the search's own measures and policy) for a new request."""
    import io

    from PIL import Image, ImageDraw

    from leadguard.core.errors import FaceError
    from leadguard.pipeline.compose import FaceSelection, choose_face, detection_lines
    from leadguard.pipeline.compose import dlib_68_on_box as landmarks
    from leadguard.pipeline.decode import decode_image
    from leadguard.pipeline.measures import measure_face
    from leadguard.quality.gate import assess, workspace_policy
    from leadguard.quality.provenance import apply_edits
    from leadguard.services.casework.service import case_by_number

    with refusals(ctx, actor, "request.create", f"case:{number}"), ctx.read_session() as s:
        check_case(s, current_user(s, actor), "request.create", case_by_number(s, number))
    edited = apply_edits(data, list(edits), name) if edits else data
    image = decode_image(edited, name, ctx.settings.max_image_pixels)
    with ctx.borrowed_model() as model:
        detections = model.detect(image.pixels)
    verdict: str | None = None
    findings: tuple[str, ...] = ()
    note = ""
    try:
        chosen = choose_face(list(detections), image, FaceSelection("reject", face))
    except FaceError as exc:
        note = exc.reason
    else:
        found = measure_face(image.pixels, chosen, len(detections), landmarks, LANDMARKS)
        v = assess(found, workspace_policy(ctx.ws))
        verdict, findings = v.decision, tuple(f.text() for f in v.findings)
        side = min(chosen.box.width, chosen.box.height)
        if side < ctx.settings.min_face_size:
            note = (
                f"the face is {chosen.box.width}x{chosen.box.height} px, smaller than the "
                f"minimum of {ctx.settings.min_face_size} px: the search will refuse it"
            )
    img = Image.fromarray(image.pixels)
    width, height = img.width, img.height  # the probe's pixels: what a dragged crop counts
    factor = -(-max(width, height) // PREVIEW_SIDE)  # shown at most PREVIEW_SIDE px a side
    if factor > 1:
        img = img.reduce(factor)
    sx, sy = img.width / width, img.height / height
    draw = ImageDraw.Draw(img)
    for i, d in enumerate(detections):
        b = d.box
        box = (b.left * sx, b.top * sy, b.right * sx, b.bottom * sy)
        draw.rectangle(box, outline=(255, 200, 0), width=3)
        draw.text((box[0] + 4, box[1] + 4), str(i), fill=(255, 200, 0))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    lines = tuple(detection_lines(detections))
    return Preview(buf.getvalue(), lines, width, height, verdict, findings, note)
