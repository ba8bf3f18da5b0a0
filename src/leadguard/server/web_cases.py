"""Web pages of the examiner/requester and the supervisor: cases, new requests with upload,
edits and face choice, the approval queue, leads with corroboration and lineups."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from leadguard.core.errors import InputError
from leadguard.server import web_external, web_queues, web_refusals
from leadguard.server.auth import State, WebLogin
from leadguard.server.errors import error_body
from leadguard.server.limits import check_expensive, compute
from leadguard.server.schemas import array_message
from leadguard.server.web import call, done, form_of, page, text, whole_number
from leadguard.server.web_person import BUILDS, SEXES, person_sought
from leadguard.services import case_actions
from leadguard.services.casework import corroboration, leads, lineup, service, views
from leadguard.services.casework.corroboration import KINDS, LINKS
from leadguard.services.casework.policy import PolicyRefused
from leadguard.services.casework.service import OUTCOMES

router = APIRouter(include_in_schema=False)


def day(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"{field} {value!r}: not a date in the form YYYY-MM-DD") from exc


@router.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    rows = st.call(views.list_cases, st.ctx, who.actor)
    today = date.today().isoformat()
    return page(request, "cases.html", who, cases=rows, today=today, sexes=SEXES, builds=BUILDS)


@router.post("/cases")
async def case_open(request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    number = text(f, "number")
    attrs = person_sought(f)
    await call(
        st,
        service.open_case,
        st.ctx,
        who.actor,
        number,
        text(f, "offence"),
        day(text(f, "incident_date"), "incident date"),
        text(f, "description"),
        attrs,
        text(f, "officer"),
        text(f, "authority"),
        text(f, "unit") or None,
    )
    return done(st, f"/cases/{number}", f"case {number} opened")


@router.get("/cases/{number}", response_class=HTMLResponse)
def case_page(number: str, request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    detail = st.call(views.show_case, st.ctx, who.actor, number)
    return page(
        request,
        "case.html",
        who,
        d=detail,
        kinds=KINDS,
        links=LINKS,
        witness_types=lineup.WITNESS_TYPES,
        outcomes=OUTCOMES,
        today=date.today().isoformat(),
        actions=st.call(case_actions.request_actions, st.ctx, who.actor, number),
        **web_external.case_values(st, who, number),
        **web_queues.case_values(st, who, number),
    )


@router.post("/cases/{number}/assign")
async def case_assign(number: str, request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    await call(st, service.assign, st.ctx, who.actor, number, text(f, "username"))
    return done(st, f"/cases/{number}", f"{text(f, 'username')} assigned to case {number}")


@router.post("/cases/{number}/suspect")
async def case_suspect(number: str, request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    lead = whole_number(text(f, "lead"))
    if lead is None:
        raise InputError(f"case {number}: suspect identified: choose the lead that names them")
    await call(st, leads.suspect_identified, st.ctx, who.actor, number, lead)
    return done(st, f"/cases/{number}", f"case {number}: suspect identified")


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    rows = st.call(views.list_requests, st.ctx, who.actor, True)
    return page(request, "approvals.html", who, requests=rows)


@router.post("/requests/{request_id}/approve")
async def approve(request_id: int, request: Request, st: State, who: WebLogin) -> Response:
    await form_of(request, st, who)
    req = await call(st, service.approve, st.ctx, who.actor, request_id)
    return done(st, "/approvals", f"request {request_id} approved (probe {req.probe_sha256})")


@router.post("/requests/{request_id}/run")
async def run(request_id: int, request: Request, st: State, who: WebLogin) -> Response:
    await form_of(request, st, who)
    check_expensive(st, request, who.actor, "search.run")
    r = await compute(st, st.call, service.run_search, st.ctx, who.actor, request_id)
    detail = await call(st, views.list_requests, st.ctx, who.actor, False)
    number = next((x.case for x in detail if x.id == request_id), "")
    return done(
        st,
        f"/cases/{number}",
        f"search {r.search_id} done ({r.outcome}, {r.candidates} candidate(s)): the list is "
        "with the examiners for blind review",
    )


@router.get("/leads", response_class=HTMLResponse)
def leads_page(request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    rows = st.call(views.list_leads, st.ctx, who.actor)
    return page(request, "leads.html", who, leads=rows)


async def _lead_case(st: State, who: WebLogin, lead_id: int) -> str:
    rows = await call(st, views.list_leads, st.ctx, who.actor)
    return next((f"/cases/{x.case}" for x in rows if x.id == lead_id), "/leads")


def yes_no(value: str, question: str) -> bool:
    if value not in ("yes", "no"):
        raise InputError(f"{question}: answer yes or no (it is asked every time)")
    return value == "yes"


@router.post("/leads/{lead_id}/corroborate")
async def corroborate(lead_id: int, request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    ident = text(f, "identified_on")
    ev = corroboration.Evidence(
        kind=text(f, "kind"),
        description=text(f, "description"),
        how_obtained=text(f, "how_obtained"),
        obtained_by=text(f, "obtained_by"),
        obtained_on=day(text(f, "obtained_on"), "obtained on"),
        face_comparison_involved=yes_no(
            text(f, "face_comparison_involved"), "face recognition or face comparison involved"
        ),
        witness_shown_candidate=yes_no(
            text(f, "witness_shown_candidate"), "witness shown the candidate or a derived array"
        ),
        links_to=text(f, "links_to") or None,
        witness=text(f, "witness"),
        witness_relationship=text(f, "witness_relationship"),
        identified_on=day(ident, "identified on") if ident else None,
    )
    item = await call(st, corroboration.corroborate, st.ctx, who.actor, lead_id, ev)
    note = "" if item["counts"] else " (presence only: not counted as independent)"
    return done(
        st, await _lead_case(st, who, lead_id), f"corroboration recorded for lead {lead_id}{note}"
    )


@router.post("/cases/{number}/facts")
async def case_fact(number: str, request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    name = text(f, "name")
    await call(st, service.record_fact, st.ctx, who.actor, number, name, text(f, "text"))
    return done(st, f"/cases/{number}", f"case {number}: fact {name!r} recorded")


@router.post("/leads/{lead_id}/array")
async def array(lead_id: int, request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    description = {k: text(f, k) for k in ("sex", "race") if text(f, k)}
    try:
        made = await call(st, lineup.build_kept_array, st.ctx, who.actor, lead_id, description)
    except PolicyRefused as exc:
        if exc.rule != "suspect_stands_out":
            raise
        return array_refused(request, exc, who, lead_id, description)
    message = array_message(lead_id, len(made.members))
    return done(st, await _lead_case(st, who, lead_id), message)


def array_refused(
    request: Request, exc: PolicyRefused, who: WebLogin, lead_id: int, description: dict[str, str]
) -> HTMLResponse:
    """The array's refusal because the suspect stands out: the refusal page, with the same
    witness's description offered again to draw other fillers (a new random draw)."""
    body = error_body(exc)
    return page(
        request,
        "array_refused.html",
        who,
        409,
        status_code=409,
        message=body.message,
        rule=body.rule,
        kind=body.error,
        help=web_refusals.help_for(body.rule, 409),
        back=web_refusals.back_of(request),
        lead=lead_id,
        description=description,
    )


def positions(value: str) -> list[dict[str, object]]:
    """One line per array position, in order: ``decision; the witness's words``."""
    out: list[dict[str, object]] = []
    for n, line in enumerate((x for x in value.splitlines() if x.strip()), start=1):
        decision, _, words = line.partition(";")
        out.append({"position": n, "decision": decision.strip(), "confidence": words.strip()})
    if not out:
        raise InputError("the showing needs one line per position: decision; confidence")
    return out


@router.post("/leads/{lead_id}/administer")
async def administer(lead_id: int, request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    await call(
        st,
        lineup.record_administration,
        st.ctx,
        who.actor,
        lead_id,
        text(f, "administrator"),
        text(f, "instruction"),
        positions(text(f, "decisions")),
        text(f, "witness"),
        text(f, "witness_type"),
        text(f, "witness_note"),
    )
    return done(
        st,
        await _lead_case(st, who, lead_id),
        f"lineup administration recorded for lead {lead_id} ({text(f, 'witness_type')})",
    )


@router.post("/leads/{lead_id}/outcome")
async def outcome(lead_id: int, request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    await call(
        st,
        leads.record_outcome,
        st.ctx,
        who.actor,
        lead_id,
        text(f, "outcome"),
        text(f, "details"),
    )
    return done(st, await _lead_case(st, who, lead_id), f"lead {lead_id}: {text(f, 'outcome')}")
