"""The reviewer's blind page and the supervisor's reveal: probe and candidate side by side
(synchronised zoom and pan), the FISWG feature list and the exculpatory checklist; then
scores, decisions, adjudication and release once every review is in."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from leadguard.core.errors import InputError
from leadguard.server.auth import State, WebLogin
from leadguard.server.web import call, done, form_of, page, text, whole_number
from leadguard.services.casework import leads, review

router = APIRouter(include_in_schema=False)


def image_url(request_id: int, subject: str) -> str:
    return f"/images/requests/{request_id}/candidate?subject={quote(subject, safe='')}"


@router.get("/reviews", response_class=HTMLResponse)
def queue_page(request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    return page(request, "reviews.html", who, items=st.call(review.queue, st.ctx, who.actor))


@router.get("/requests/{request_id}/review", response_class=HTMLResponse)
def blind_page(request_id: int, request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    p = st.call(review.blind_packet, st.ctx, who.actor, request_id)
    cands = [
        {
            "letter": c.letter,
            "url": f"/images/requests/{request_id}/candidate?candidate={c.letter}",
            "photo_date": c.photo_date,
        }
        for c in p.candidates
    ]
    return page(request, "review.html", who, p=p, cands=cands)


CONSISTENT: dict[str, bool | None] = {"yes": True, "no": False, "cannot": None}


def decisions_of(f: dict[str, Any], features: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    i = 0
    while f"s.{i}" in f:
        subject = text(f, f"s.{i}")
        conf = text(f, f"c.{i}")
        checks = []
        for key in f:
            if key.startswith(f"x.{i}.") and text(f, key) in CONSISTENT:
                attr = key[len(f"x.{i}.") :]
                checks.append(
                    {
                        "attribute": attr,
                        "consistent": CONSISTENT[text(f, key)],
                        "note": text(f, f"xn.{i}.{attr}"),
                        "explanation": text(f, f"xe.{i}.{attr}"),
                    }
                )
        out[subject] = {
            "decision": text(f, f"d.{i}"),
            "confidence": whole_number(conf) or 0,
            "features": {ft: text(f, f"f.{i}.{ft}") for ft in features if text(f, f"f.{i}.{ft}")},
            "exculpatory": checks,
        }
        i += 1
    if not out:
        raise InputError("the review form holds no candidate")
    return out


@router.post("/requests/{request_id}/review")
async def blind_submit(request_id: int, request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    decisions = decisions_of(f, review.FEATURES)
    await call(st, review.submit_review, st.ctx, who.actor, request_id, decisions)
    return done(st, "/reviews", f"review of request {request_id} submitted")


@router.get("/requests/{request_id}/reveal", response_class=HTMLResponse)
def reveal_page(request_id: int, request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    r = st.call(review.reveal, st.ctx, who.actor, request_id)
    rows = []
    for c in r.candidates:
        ds = {rv.examiner: rv.decisions.get(c["subject"], {}) for rv in r.reviews}
        kinds = {d.get("decision") for d in ds.values()}
        rows.append(
            {
                "c": c,
                "decisions": ds,
                "url": image_url(request_id, c["subject"]),
                "agree": len(kinds) == 1,
                "all_lead": kinds == {"possible_lead"},
                "statements": (c.get("evidence") or {}).get("statements", []),
            }
        )
    return page(request, "reveal.html", who, r=r, rows=rows, features=review.FEATURES)


@router.post("/requests/{request_id}/release")
async def release(request_id: int, request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    lead = await call(st, leads.release, st.ctx, who.actor, request_id, text(f, "subject"))
    return done(
        st,
        f"/cases/{lead.case}",
        f"lead {lead.id} released: {lead.subject} (an investigative lead only)",
    )


@router.get("/requests/{request_id}/adjudicate", response_class=HTMLResponse)
def adjudicate_page(
    request_id: int, request: Request, st: State, who: WebLogin, subject: str = ""
) -> HTMLResponse:
    """Both examiners' feature notes and checks, and the inconsistencies to answer (reading
    this page is what lets the supervisor rule)."""
    request.state.login = who
    b = st.call(leads.adjudication_brief, st.ctx, who.actor, request_id, subject)
    return page(
        request,
        "adjudicate.html",
        who,
        b=b,
        url=image_url(request_id, subject),
        features=review.FEATURES,
    )


@router.post("/requests/{request_id}/adjudicate")
async def adjudicate(request_id: int, request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    answers = {k[2:]: text(f, k) for k in f if k.startswith("a.") and text(f, k)}
    lead = await call(
        st,
        leads.adjudicate,
        st.ctx,
        who.actor,
        request_id,
        text(f, "subject"),
        text(f, "release") == "yes",
        text(f, "note"),
        answers,
    )
    if lead is None:
        return done(st, f"/requests/{request_id}/reveal", "adjudicated: not released")
    return done(
        st,
        f"/cases/{lead.case}",
        f"adjudicated: lead {lead.id} released ({lead.subject}, an investigative lead only)",
    )
