"""The REST API of casework: login, cases, requests, blind review, leads. Each route calls
one service with the bearer token's user; refusals come back as ``ErrorOut``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from leadguard.quality.provenance import Edit
from leadguard.server import schemas as S
from leadguard.server.auth import ApiActor, Login, State, api_login, login
from leadguard.server.errors import ERROR_RESPONSES, EXPENSIVE, TOO_MANY
from leadguard.server.limits import check_expensive, compute
from leadguard.server.schemas import array_message
from leadguard.server.uploads import as_file, known_fields, label, read_upload
from leadguard.services import accounts
from leadguard.services.casework import (
    corroboration,
    external,
    leads,
    lineup,
    review,
    service,
    views,
)

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES, dependencies=[Depends(known_fields)])
IMAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}, "image/png": {}}, "description": "the image"}
}
NO_STORE = {"Cache-Control": "no-store"}


@router.post(
    "/login",
    response_model=S.LoginOut,
    tags=["session"],
    responses=TOO_MANY,
)
def api_login_route(body: S.LoginIn, request: Request, st: State) -> S.LoginOut:
    """A bearer token for the same login sessions as `leadguard login`."""
    sess = login(st, request, body.username, body.password)
    a = sess.actor
    return S.LoginOut(
        username=a.username,
        role=a.role,
        unit=a.unit,
        token=sess.token,
        expires_at=sess.expires_at,
    )


@router.post("/logout", response_model=S.Done, tags=["session"])
def api_logout(st: State, who: Annotated[Login, Depends(api_login)]) -> S.Done:
    st.call(accounts.logout, st.ctx, who.token)
    return S.Done(message="logged out: the token is revoked")


@router.get("/me", response_model=S.Me, tags=["session"])
def api_me(actor: ApiActor) -> S.Me:
    return S.Me(username=actor.username, role=actor.role, unit=actor.unit)


@router.get("/cases", response_model=list[S.CaseOut], tags=["cases"])
def api_cases(st: State, actor: ApiActor) -> list[S.CaseOut]:
    return [S.of(S.CaseOut, c) for c in st.call(views.list_cases, st.ctx, actor)]


@router.post("/cases", response_model=S.CaseOut, status_code=201, tags=["cases"])
def api_case_open(body: S.CaseIn, st: State, actor: ApiActor) -> S.CaseOut:
    info = st.call(
        service.open_case,
        st.ctx,
        actor,
        body.number,
        body.offence,
        body.incident_date,
        body.description,
        dict(body.attributes),
        body.officer,
        body.authority,
        body.unit,
        dict(body.known_facts),
    )
    return S.of(S.CaseOut, info)


@router.get("/cases/{number}", response_model=S.CaseDetailOut, tags=["cases"])
def api_case(number: str, st: State, actor: ApiActor) -> S.CaseDetailOut:
    return S.of(S.CaseDetailOut, st.call(views.show_case, st.ctx, actor, number))


@router.post("/cases/{number}/assign", response_model=S.Done, tags=["cases"])
def api_assign(number: str, body: S.AssignIn, st: State, actor: ApiActor) -> S.Done:
    st.call(service.assign, st.ctx, actor, number, body.username)
    return S.Done(message=f"{body.username} assigned to case {number}")


@router.post("/cases/{number}/suspect", response_model=S.Done, tags=["cases"])
def api_suspect(number: str, body: S.SuspectIn, st: State, actor: ApiActor) -> S.Done:
    st.call(leads.suspect_identified, st.ctx, actor, number, body.lead)
    return S.Done(message=f"case {number}: suspect identified (lead {body.lead})")


@router.get("/requests", response_model=list[S.RequestOut], tags=["requests"])
def api_requests(
    st: State, actor: ApiActor, pending: Annotated[bool, Query()] = False
) -> list[S.RequestOut]:
    rows = st.call(views.list_requests, st.ctx, actor, pending)
    return [S.of(S.RequestOut, r) for r in rows]


@router.post(
    "/cases/{number}/requests",
    response_model=S.RequestOut,
    status_code=201,
    tags=["requests"],
    responses=EXPENSIVE,
)
async def api_request_add(
    number: str,
    request: Request,
    st: State,
    actor: ApiActor,
    probe: Annotated[UploadFile, File(description="The probe image, stored as received.")],
    source_type: Annotated[str, Form(max_length=64)],
    purpose: Annotated[str, Form(max_length=5000)],
    face: Annotated[int | None, Form(ge=0, le=1000)] = None,
    edits: Annotated[list[str] | None, Form(description="e.g. crop:10,20,210,260")] = None,
) -> S.RequestOut:
    """A search request with its probe (and the edits LeadGuard will apply and record)."""
    check_expensive(st, request, actor, "request.create")
    data = await read_upload(st.ctx, probe)

    def go() -> S.RequestOut:
        parsed = tuple(Edit.parse(e) for e in edits or [])
        with as_file(data, probe.filename) as path:
            info = st.call(
                service.request_search,
                st.ctx,
                actor,
                number,
                path,
                source_type,
                purpose,
                face,
                parsed,
                label(probe.filename),
            )
        return S.of(S.RequestOut, info)

    return await compute(st, go)


@router.post("/requests/{request_id}/approve", response_model=S.RequestOut, tags=["requests"])
def api_approve(request_id: int, st: State, actor: ApiActor) -> S.RequestOut:
    return S.of(S.RequestOut, st.call(service.approve, st.ctx, actor, request_id))


@router.post(
    "/requests/{request_id}/run",
    response_model=S.SearchRunOut,
    tags=["requests"],
    responses=EXPENSIVE,
)
async def api_run(request_id: int, request: Request, st: State, actor: ApiActor) -> S.SearchRunOut:
    """Run the approved request's search; the list goes to blind review, not to the caller."""
    check_expensive(st, request, actor, "search.run")
    run = await compute(st, st.call, service.run_search, st.ctx, actor, request_id)
    return S.of(S.SearchRunOut, run)


@router.get(
    "/requests/{request_id}/probe", response_class=Response, responses=IMAGE, tags=["images"]
)
def api_probe_image(request_id: int, st: State, actor: ApiActor) -> Response:
    from leadguard.services.files import probe_image

    f = st.call(probe_image, st.ctx, actor, request_id)
    return Response(f.data, media_type=f.media_type, headers=NO_STORE)


@router.get(
    "/requests/{request_id}/candidate-image",
    response_class=Response,
    responses=IMAGE,
    tags=["images"],
)
def api_candidate_image(
    request_id: int,
    st: State,
    actor: ApiActor,
    subject: Annotated[
        str | None, Query(max_length=200, description="once every review is in")
    ] = None,
    candidate: Annotated[
        str | None, Query(max_length=200, description="the letter of your blind packet")
    ] = None,
) -> Response:
    """A candidate's image: by the letter of your packet under blind review, by subject
    once every review is in."""
    from leadguard.services.files import candidate_image

    f = st.call(candidate_image, st.ctx, actor, request_id, subject, candidate)
    return Response(f.data, media_type=f.media_type, headers=NO_STORE)


@router.get("/reviews/queue", response_model=list[S.QueueItemOut], tags=["review"])
def api_queue(st: State, actor: ApiActor) -> list[S.QueueItemOut]:
    return [S.of(S.QueueItemOut, q) for q in st.call(review.queue, st.ctx, actor)]


def packet_out(p: review.Packet, prefix: str = "/api") -> S.PacketOut:
    base = f"{prefix}/requests/{p.request}"
    return S.PacketOut(
        request=p.request,
        case=p.case,
        probe_sha256=p.probe_sha256,
        probe_url=f"{base}/probe",
        incident_description=p.incident_description,
        person_sought=p.person_sought,
        candidates=[
            S.PacketCandidateOut(
                candidate=c.letter, image_url=f"{base}/candidate-image?candidate={c.letter}"
            )
            for c in p.candidates
        ],
        decisions=list(p.decisions),
        features=list(p.features),
    )


@router.get("/requests/{request_id}/packet", response_model=S.PacketOut, tags=["review"])
def api_packet(request_id: int, st: State, actor: ApiActor) -> S.PacketOut:
    """Your blind packet: no score, rank, evidence or other reviewer's decision."""
    return packet_out(st.call(review.blind_packet, st.ctx, actor, request_id))


@router.post(
    "/requests/{request_id}/reviews", response_model=S.Done, status_code=201, tags=["review"]
)
def api_submit(request_id: int, body: S.ReviewIn, st: State, actor: ApiActor) -> S.Done:
    """Your review, by the letters of your packet."""
    decisions = {k: v.model_dump() for k, v in body.decisions.items()}
    st.call(review.submit_review, st.ctx, actor, request_id, decisions)
    return S.Done(message=f"review of request {request_id} submitted")


@router.get("/requests/{request_id}/reveal", response_model=S.RevealOut, tags=["review"])
def api_reveal(request_id: int, st: State, actor: ApiActor) -> S.RevealOut:
    return S.of(S.RevealOut, st.call(review.reveal, st.ctx, actor, request_id))


@router.post(
    "/requests/{request_id}/release", response_model=S.LeadOut, status_code=201, tags=["leads"]
)
def api_release(request_id: int, body: S.ReleaseIn, st: State, actor: ApiActor) -> S.LeadOut:
    return S.of(S.LeadOut, st.call(leads.release, st.ctx, actor, request_id, body.subject))


@router.post("/requests/{request_id}/adjudicate", response_model=S.LeadOut | None, tags=["leads"])
def api_adjudicate(
    request_id: int, body: S.AdjudicateIn, st: State, actor: ApiActor
) -> S.LeadOut | None:
    """A ruling on a candidate the reviews leave open, after reading its brief; every
    inconsistency answered in `answers`. The lead when it is released, else null."""
    lead = st.call(
        leads.adjudicate,
        st.ctx,
        actor,
        request_id,
        body.subject,
        body.release,
        body.note,
        dict(body.answers),
    )
    return S.of(S.LeadOut, lead) if lead is not None else None


@router.get("/requests/{request_id}/brief", response_model=S.BriefOut, tags=["leads"])
def api_brief(
    request_id: int, subject: Annotated[str, Query(max_length=200)], st: State, actor: ApiActor
) -> S.BriefOut:
    """Both examiners' feature notes and checks on a candidate, and the inconsistencies a
    ruling must answer (read before adjudicating)."""
    brief = st.call(leads.adjudication_brief, st.ctx, actor, request_id, subject)
    return S.of(S.BriefOut, brief)


@router.get("/leads", response_model=list[S.LeadOut], tags=["leads"])
def api_leads(st: State, actor: ApiActor) -> list[S.LeadOut]:
    return [S.of(S.LeadOut, x) for x in st.call(views.list_leads, st.ctx, actor)]


@router.get("/leads/stats", response_model=S.OutcomeStatsOut, tags=["leads"])
def api_lead_stats(st: State, actor: ApiActor) -> S.OutcomeStatsOut:
    return S.OutcomeStatsOut(groups=st.call(leads.outcome_stats, st.ctx, actor))


@router.post("/leads/{lead_id}/corroborate", response_model=S.CorroborationOut, tags=["leads"])
def api_corroborate(
    lead_id: int, body: S.CorroborateIn, st: State, actor: ApiActor
) -> S.CorroborationOut:
    """Refused (409, with the rule) when the evidence is not independent of the face search;
    presence-only evidence is recorded with `counts: false`."""
    ev = corroboration.Evidence(**body.model_dump())
    item = st.call(corroboration.corroborate, st.ctx, actor, lead_id, ev)
    note = "" if item["counts"] else " (presence only: not counted as independent)"
    return S.CorroborationOut(
        message=f"corroboration recorded for lead {lead_id}{note}", record=item
    )


@router.post("/leads/{lead_id}/administer", response_model=S.Done, tags=["leads"])
def api_administer(lead_id: int, body: S.AdministerIn, st: State, actor: ApiActor) -> S.Done:
    """The double-blind sequential showing of the lead's latest array, with the witness and
    their type (a witness who saw only the same recording is refused)."""
    st.call(
        lineup.record_administration,
        st.ctx,
        actor,
        lead_id,
        body.administrator,
        body.instruction,
        body.decisions,
        body.witness,
        body.witness_type,
        body.witness_note,
    )
    return S.Done(message=f"lineup administration recorded for lead {lead_id}")


@router.post("/cases/{number}/facts", response_model=S.CaseOut, tags=["cases"])
def api_case_fact(number: str, body: S.FactIn, st: State, actor: ApiActor) -> S.CaseOut:
    """A fact about the person sought that every possible lead must check."""
    info = st.call(service.record_fact, st.ctx, actor, number, body.name, body.text)
    return S.of(S.CaseOut, info)


@router.post("/leads/{lead_id}/array", response_model=S.Done, tags=["leads"])
def api_array(lead_id: int, body: S.ArrayIn, st: State, actor: ApiActor) -> S.Done:
    made = st.call(
        lineup.build_kept_array, st.ctx, actor, lead_id, body.description(), body.fillers
    )
    return S.Done(message=array_message(lead_id, len(made.members)))


@router.post("/leads/{lead_id}/outcome", response_model=S.Done, tags=["leads"])
def api_outcome(lead_id: int, body: S.OutcomeIn, st: State, actor: ApiActor) -> S.Done:
    st.call(leads.record_outcome, st.ctx, actor, lead_id, body.outcome, body.details)
    return S.Done(message=f"lead {lead_id}: {body.outcome}")


@router.post(
    "/cases/{number}/external-searches",
    response_model=S.ExternalSearchOut,
    status_code=201,
    tags=["cases"],
)
def api_external_search(
    number: str, body: S.ExternalSearchIn, st: State, actor: ApiActor
) -> S.ExternalSearchOut:
    """Record a face search run outside LeadGuard: never a lead, never corroboration."""
    rec = st.call(
        external.record_external_search,
        st.ctx,
        actor,
        number,
        body.run_by,
        body.system,
        body.run_on,
        body.candidate,
        body.how_received,
        None,
        None,
        body.notes,
    )
    return S.of(S.ExternalSearchOut, rec)


@router.get(
    "/cases/{number}/external-searches",
    response_model=list[S.ExternalSearchOut],
    tags=["cases"],
)
def api_external_searches(number: str, st: State, actor: ApiActor) -> list[S.ExternalSearchOut]:
    rows = st.call(external.list_external_searches, st.ctx, actor, number)
    return [S.of(S.ExternalSearchOut, r) for r in rows]
