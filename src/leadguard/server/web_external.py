"""The case page's face searches run outside LeadGuard (a retailer's system, another
agency's, a commercial service): the list and the form to record one, for the roles that may
record them. Such a search is recorded for audit and disclosure; it is never a lead and never
corroboration."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from leadguard.core.errors import InputError
from leadguard.quality.gate import declarable_source_types
from leadguard.server.auth import Login, State, WebLogin
from leadguard.server.uploads import as_file, label, read_upload
from leadguard.server.web import done, form_of, text
from leadguard.services.authz import ALLOWED
from leadguard.services.casework import external

router = APIRouter(include_in_schema=False)
RECORD = "external.record"
# the API's limits (schemas.ExternalSearchIn), in the words of the form's labels
LIMITS = {
    "run_by": ("who ran it", 500),
    "system": ("the system", 500),
    "candidate": ("the person it named", 500),
    "how_received": ("how it reached the case", 5000),
    "notes": ("notes", 5000),
}


def may_record(who: Login) -> bool:
    return RECORD in ALLOWED.get(who.actor.role, frozenset())


def case_values(st: Any, who: Login, number: str) -> dict[str, Any]:
    """What the case page shows of external searches: nothing to a role that may not
    record them (the form and the list go together)."""
    if not may_record(who):
        return {"external": None}
    rows = st.call(external.list_external_searches, st.ctx, who.actor, number)
    return {
        "external": rows,
        "external_notice": external.NOTICE,
        "probe_sources": declarable_source_types(),
    }


def _checked(f: dict[str, Any]) -> dict[str, str]:
    values = {k: text(f, k) for k in LIMITS}
    for key, (words, limit) in LIMITS.items():
        if len(values[key]) > limit:
            raise InputError(f"{words}: at most {limit} characters")
    return values


@router.post("/cases/{number}/external-searches")
async def external_record(number: str, request: Request, st: State, who: WebLogin) -> Response:
    from leadguard.server.web_cases import day

    f = await form_of(request, st, who)
    v = _checked(f)
    run_on = day(text(f, "run_on"), "the date it was run")
    upload = f.get("probe")
    data, name = None, None
    if isinstance(upload, UploadFile) and upload.filename:  # the probe is optional
        data, name = await read_upload(st.ctx, upload), upload.filename
    source = text(f, "source_type") or None

    def record() -> external.ExternalSearchInfo:
        args = (st.ctx, who.actor, number, v["run_by"], v["system"], run_on, v["candidate"])
        if data is None:
            return st.call(
                external.record_external_search, *args, v["how_received"], None, None, v["notes"]
            )
        with as_file(data, name) as path:
            return st.call(
                external.record_external_search,
                *args,
                v["how_received"],
                path,
                source,
                v["notes"],
                label(name),
            )

    rec = await run_in_threadpool(record)
    return done(
        st,
        f"/cases/{number}",
        f"external search {rec.id} recorded under case {number}: never a lead, never corroboration",
    )
