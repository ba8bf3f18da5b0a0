"""The audit log page: one page at a time, newest first, filtered by case, user, action and
days (in the workspace's time zone), each entry in labels rather than JSON."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from leadguard.core.errors import InputError
from leadguard.server.auth import State, WebLogin
from leadguard.server.web import page
from leadguard.server.web_format import action_label, details_items
from leadguard.services import audit_pages

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50


def _day(value: str, what: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"{what} {value!r}: not a date in the form YYYY-MM-DD") from exc


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    st: State,
    who: WebLogin,
    case: str = Query("", max_length=100),
    action: str = Query("", max_length=100),
    actor: str = Query("", max_length=200),
    prefix: str = Query("", max_length=200),
    since: str = Query("", max_length=10),
    until: str = Query("", max_length=10),
    before: int | None = Query(None, ge=1),
    after: int | None = Query(None, ge=0),
) -> HTMLResponse:
    request.state.login = who
    filters = {
        "case": case.strip(),
        "actor": actor.strip(),
        "action": action.strip(),
        "since": since,
        "until": until,
        "prefix": prefix.strip(),
    }
    q = audit_pages.AuditQuery(
        case=filters["case"] or None,
        actor=filters["actor"] or None,
        action=filters["action"] or None,
        since=_day(since, "from"),
        until=_day(until, "to"),
        prefix=filters["prefix"],
        before=before,
        after=after,
        size=PAGE_SIZE,
    )
    result = st.call(audit_pages.page, st.ctx, who.actor, q)
    kept = {k: v for k, v in filters.items() if v}

    def link(**cursor: int) -> str:
        return "/audit?" + urlencode({**kept, **cursor})

    rows = [
        {
            **e,
            "label": action_label(e["action"]),
            "fields": details_items(e["details"]),
        }
        for e in result.entries
    ]
    return page(
        request,
        "audit.html",
        who,
        rows=rows,
        f=filters,
        older=link(before=result.older) if result.older else None,
        newer=link(after=result.newer) if result.newer else None,
        newest="/audit?" + urlencode(kept) if (before or after) else None,
        first_page=before is None and after is None,
        zone=result.zone,
    )
