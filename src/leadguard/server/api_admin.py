"""The REST API beyond casework: accounts, the audit log, gallery statistics, accuracy
records and the supervisor's urgent search (upload -> candidate list)."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from leadguard.server import schemas as S
from leadguard.server.auth import ApiActor, State
from leadguard.server.errors import ERROR_RESPONSES, EXPENSIVE
from leadguard.server.limits import check_expensive, compute
from leadguard.server.uploads import as_file, known_fields, label, read_upload
from leadguard.services import accounts, audit_pages, gallery
from leadguard.services import audit as audit_svc

router = APIRouter(prefix="/api", responses=ERROR_RESPONSES, dependencies=[Depends(known_fields)])


@router.get("/users", response_model=list[S.UserOut], tags=["accounts"])
def api_users(st: State, actor: ApiActor) -> list[S.UserOut]:
    return [S.of(S.UserOut, u) for u in st.call(accounts.list_users, st.ctx, actor)]


@router.post("/users", response_model=S.UserOut, status_code=201, tags=["accounts"])
def api_user_add(body: S.UserIn, st: State, actor: ApiActor) -> S.UserOut:
    info = st.call(
        accounts.add_user, st.ctx, actor, body.username, body.password, body.role, body.unit
    )
    return S.of(S.UserOut, info)


def verify_out(v: audit_svc.Verification) -> S.VerifyOut:
    c = v.check
    return S.VerifyOut(
        intact=v.intact,
        entries=c.entries,
        reason=c.reason,
        broken_at=c.broken_at,
        records_checked=c.records_checked,
        record_problems=list(c.record_problems),
        key_problems=list(c.key_problems),
        keyed=c.keyed_note,
        head_problems=list(c.head_problems),
        head_receipt=c.head_note,
        index_problems=list(v.index_problems),
        settings_problems=list(v.settings_problems),
        schema_problems=list(v.schema_problems),
        head=v.head,
    )


@router.get("/audit/verify", response_model=S.VerifyOut, tags=["audit"])
def api_verify(st: State, actor: ApiActor) -> S.VerifyOut:
    """The chain checked from genesis, with the head hash to compare with an anchor."""
    return verify_out(st.call(audit_svc.verify, st.ctx, actor))


def filtered(
    rows: list[dict[str, Any]], action: str | None, actor: str | None
) -> list[dict[str, Any]]:
    """Exact selection: ``action`` is one action or a dotted family (``login`` selects
    ``login`` and ``login.failed``, never ``loginx``); ``actor`` is one user."""
    return [
        r
        for r in rows
        if (not action or r["action"] == action or r["action"].startswith(action + "."))
        and (not actor or r["actor"] == actor)
    ]


# the audit selections' filters, the same for the whole selection and for a page
CaseQ = Annotated[str | None, Query(max_length=100)]
PrefixQ = Annotated[str, Query(max_length=200)]
ActionQ = Annotated[str | None, Query(max_length=100)]
ActorQ = Annotated[str | None, Query(max_length=200)]


@router.get("/audit/entries", response_model=list[S.AuditEntryOut], tags=["audit"])
def api_audit(
    st: State,
    who: ApiActor,
    case: CaseQ = None,
    prefix: PrefixQ = "",
    action: ActionQ = None,
    actor: ActorQ = None,
) -> list[S.AuditEntryOut]:
    """Audit entries (a case's whole trail, selected by exact case number, or one object
    and its parts: `prefix=subject:A` never returns subject:AB; `subject:` is the whole kind),
    filtered by action (one action or a dotted family) and actor; reading them is itself an
    audited export."""
    rows = st.call(audit_svc.trail, st.ctx, who, case, prefix)
    return [S.AuditEntryOut.model_validate(r) for r in filtered(rows, action, actor)]


@router.get("/audit/page", response_model=S.AuditPageOut, tags=["audit"])
def api_audit_page(
    st: State,
    who: ApiActor,
    case: CaseQ = None,
    prefix: PrefixQ = "",
    action: ActionQ = None,
    actor: ActorQ = None,
    since: date | None = None,
    until: date | None = None,
    before: Annotated[int | None, Query(ge=1)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
    size: Annotated[int, Query(ge=1, le=audit_pages.MAX_PAGE)] = 50,
) -> S.AuditPageOut:
    """One page of the audit entries the caller may read, newest first, selected on the
    server as the web audit page is (a 1,000,000-entry log is never read whole); each page
    read is an audited export."""
    q = audit_pages.AuditQuery(
        case=case or None,
        actor=actor or None,
        action=action or None,
        since=since,
        until=until,
        prefix=prefix,
        before=before,
        after=after,
        size=size,
    )
    got = st.call(audit_pages.page, st.ctx, who, q)
    return S.AuditPageOut(
        entries=[S.AuditEntryOut.model_validate(e) for e in got.entries],
        older=got.older,
        newer=got.newer,
        zone=got.zone,
    )


@router.get("/cases/{number}/export", response_model=list[S.AuditEntryOut], tags=["audit"])
def api_export(number: str, st: State, actor: ApiActor) -> Response:
    """A case's disclosure export (JSON download)."""
    import json

    rows = st.call(audit_svc.trail, st.ctx, actor, number)
    body = json.dumps(rows, default=str, indent=1)
    return Response(
        body,
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="case-export-{len(rows)}.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/gallery/stats", response_model=S.GalleryStatsOut, tags=["gallery"])
def api_gallery(st: State, actor: ApiActor) -> S.GalleryStatsOut:
    return S.of(S.GalleryStatsOut, st.call(gallery.gallery_stats, st.ctx, actor))


def _duplicate_out(d: Any) -> S.DuplicateOut:
    def num(x: float) -> float | None:
        return x if math.isfinite(x) else None

    return S.DuplicateOut(
        subject_a=d.subject_a,
        subject_b=d.subject_b,
        score=num(d.score),
        cutoff=num(d.cutoff),
        range=d.group,
        expected_stranger_pairs_this_high=num(d.expected_strangers),
        verdict=d.verdict,
        note=d.note,
        excluded_from_stranger_figures=d.excluded,
    )


@router.get("/gallery/duplicates", response_model=S.DuplicatesOut, tags=["gallery"])
def api_duplicates(st: State, actor: ApiActor) -> S.DuplicatesOut:
    from leadguard.evidence.gallery_figures import source_line

    figures = st.call(gallery.probable_duplicates, st.ctx, actor)
    return S.DuplicatesOut(
        statement=source_line(figures),
        complete=figures.complete,
        pairs=[_duplicate_out(d) for d in figures.duplicates],
    )


@router.post("/gallery/duplicates/resolve", response_model=S.DuplicateOut, tags=["gallery"])
def api_duplicate_resolve(body: S.DuplicateResolveIn, st: State, actor: ApiActor) -> S.DuplicateOut:
    d = st.call(
        gallery.resolve_duplicate,
        st.ctx,
        actor,
        body.subject_a,
        body.subject_b,
        body.verdict,
        body.note,
    )
    return _duplicate_out(d)


@router.get("/searches", response_model=list[S.SearchLogOut], tags=["gallery"])
def api_searches(
    st: State, actor: ApiActor, last: Annotated[int, Query(ge=1, le=1000)] = 20
) -> list[S.SearchLogOut]:
    return [S.of(S.SearchLogOut, r) for r in st.call(gallery.search_log, st.ctx, actor, last)]


@router.get("/records", response_model=list[S.AccuracyRecordOut], tags=["gallery"])
def api_records(st: State, actor: ApiActor) -> list[S.AccuracyRecordOut]:
    return [
        S.AccuracyRecordOut(
            id=r.id,
            created_at=r.created_at,
            protocol=r.protocol,
            space_key=r.space_key,
            dataset=r.dataset,
            report_url=f"/records/{r.id}/report",
        )
        for r in st.call(gallery.accuracy_records, st.ctx, actor)
    ]


@router.post(
    "/search",
    response_model=S.CandidateListOut,
    tags=["search"],
    responses=EXPENSIVE,
)
async def api_search(
    request: Request,
    st: State,
    actor: ApiActor,
    probe: Annotated[UploadFile, File()],
    case: Annotated[str, Form(max_length=100)],
    reason: Annotated[str, Form(max_length=5000)],
    source_type: Annotated[str, Form(max_length=64)],
    face: Annotated[int | None, Form(ge=0, le=1000)] = None,
    incident_date: Annotated[date | None, Form()] = None,
) -> S.CandidateListOut:
    """A supervisor's urgent search outside a request: audited and flagged for review.
    (Every other search runs from an approved request: POST /api/requests/{id}/run.)"""
    from leadguard.core.serialize import candidate_list_dict
    from leadguard.services.search import Override, SearchRequest, search

    check_expensive(st, request, actor, "search")
    data = await read_upload(st.ctx, probe)

    def go() -> S.CandidateListOut:
        with as_file(data, probe.filename) as path:
            wanted = SearchRequest(
                path,
                source_type,
                face=face,
                incident_date=incident_date,
                probe_name=label(probe.filename),
            )
            result = st.call(search, st.ctx, actor, wanted, Override(case, reason))
        return S.CandidateListOut.model_validate(candidate_list_dict(result))

    return await compute(st, go)
