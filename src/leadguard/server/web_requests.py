"""The new search request form: upload (held from the preview to the filing, ``held.py``),
source type, purpose, LeadGuard's own edits (a crop dragged on the preview fills the crop
fields), the face choice, and the preview with the quality verdict."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from leadguard.core.errors import InputError
from leadguard.core.textsafe import printable
from leadguard.quality.gate import declarable_source_types
from leadguard.quality.provenance import EDIT_ARGS, Edit
from leadguard.server.auth import Login, State, WebLogin
from leadguard.server.held import Held, owner_of
from leadguard.server.limits import check_expensive, compute
from leadguard.server.uploads import as_file, label, read_upload
from leadguard.server.web import call, done, form_of, page, text, whole_number
from leadguard.services.casework import service, views
from leadguard.services.context import record_refusal

router = APIRouter(include_in_schema=False)
CROP = ("crop_left", "crop_top", "crop_right", "crop_bottom")
MOVES_PIXELS = ("crop", "rotate", "resize")  # edits after which a dragged box cannot be mapped
VERDICTS = {
    "pass": "passes the quality gate",
    "warn": "passes the quality gate with warnings (the search notes them)",
    "refuse": "refused by the quality gate: this probe cannot support a lead",
}


def _form(request: Request, who: Login, detail: Any, **values: Any) -> HTMLResponse:
    values.setdefault("form", {})
    values.setdefault("preview", None)
    values.setdefault("held", None)
    return page(
        request,
        "request_new.html",
        who,
        d=detail,
        sources=declarable_source_types(),
        edit_ops=EDIT_ARGS,
        verdicts=VERDICTS,
        **values,
    )


@router.get("/cases/{number}/requests/new", response_class=HTMLResponse)
def request_new(number: str, request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    return _form(request, who, st.call(views.show_case, st.ctx, who.actor, number))


def crop_of(f: dict[str, Any]) -> tuple[Edit, ...]:
    """The crop fields (pixels of the probe as uploaded) as one crop edit, or none."""
    values = [text(f, k) for k in CROP]
    if not any(values):
        return ()
    if not all(values):
        raise InputError("crop: give all four of left, top, right and bottom (or none)")
    edit = Edit.parse("crop:" + ",".join(values))
    left, top, right, bottom = edit.args
    if right <= left or bottom <= top:
        raise InputError("crop: right must be past left and bottom below top")
    return (edit,)


def edits_of(f: dict[str, Any]) -> tuple[Edit, ...]:
    """The crop first (its box is in the uploaded probe's pixels), then the edits typed."""
    lines = str(f.get("edits") or "").splitlines()
    return crop_of(f) + tuple(Edit.parse(line) for line in lines if line.strip())


async def _probe(
    st: State, who: Login, number: str, f: dict[str, Any], keep: bool
) -> tuple[str, Held]:
    """The probe: a file chosen now (held for the next step when ``keep``), else the one
    held under the form's token for this login session."""
    owner = owner_of(who.actor.id, who.token)
    upload = f.get("probe")
    if isinstance(upload, UploadFile) and upload.filename:
        data, name = await read_upload(st.ctx, upload), label(upload.filename)  # as shown
        if not keep:
            return "", Held(owner, data, name, hashlib.sha256(data).hexdigest(), 0)
        return st.held.put(owner, data, name)
    token = text(f, "held")
    if not token:
        raise InputError("choose the probe image to upload")
    try:
        return token, st.held.get(owner, token)
    except InputError as exc:  # refused like any refusal of the service: on record
        obj = f"case:{number}"
        await run_in_threadpool(record_refusal, st.ctx, who.actor, "request.create", obj, exc)
        raise


def _drag_origin(f: dict[str, Any], edits: tuple[Edit, ...]) -> tuple[int, int] | None:
    """Where the preview's top-left corner lies in the uploaded probe, when a box dragged on
    the preview maps to the probe's pixels by that offset alone; None otherwise."""
    crop = crop_of(f)
    if any(e.op in MOVES_PIXELS for e in edits[len(crop) :]):
        return None
    return (int(crop[0].args[0]), int(crop[0].args[1])) if crop else (0, 0)


@router.post("/cases/{number}/requests", response_class=HTMLResponse)
async def request_add(number: str, request: Request, st: State, who: WebLogin) -> Response:
    from leadguard.services.files import preview_probe

    f = await form_of(request, st, who)
    preview = f.get("action") == "preview"
    check_expensive(st, request, who.actor, "request.preview" if preview else "request.create")
    edits = edits_of(f)
    face_text = text(f, "face")
    face = whole_number(face_text)
    if face_text.strip() and face is None:
        raise InputError(
            f"face: {printable(face_text)[:20]!r} is not a face's number (0, 1, 2, ... as the "
            "preview numbers them); leave it empty to let the search choose"
        )
    token, held = await _probe(st, who, number, f, keep=preview)
    if preview:
        args = (st.ctx, who.actor, number, held.data, edits, held.name, face)
        pv = await compute(st, st.call, preview_probe, *args)
        detail = await call(st, views.show_case, st.ctx, who.actor, number)
        shown = {"token": token, "name": label(held.name), "sha256": held.sha256}
        return _form(
            request,
            who,
            detail,
            form=f,
            held=shown,
            origin=_drag_origin(f, edits),
            preview={
                "src": "data:image/png;base64," + base64.b64encode(pv.png).decode(),
                "pv": pv,
            },
        )

    def file_it() -> int:
        with as_file(held.data, held.name) as path:
            req = st.call(
                service.request_search,
                st.ctx,
                who.actor,
                number,
                path,
                text(f, "source_type"),
                text(f, "purpose"),
                face,
                edits,
                label(held.name),
            )
        return req.id

    rid = await compute(st, file_it)
    st.held.drop(owner_of(who.actor.id, who.token), token)
    return done(st, f"/cases/{number}", f"search request {rid} filed: it waits for approval")
