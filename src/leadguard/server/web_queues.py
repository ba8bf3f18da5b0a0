"""Work queues, notifications and the case timeline on the web: the home page is the user's
queue (``services.queues``), the navigation carries the counts of the queue and of unread
notifications, ``/notifications`` lists them (``services.notifications``), and the case
page's timeline and assignment select come from ``services.timeline`` and
``services.assignment``. Presentation only: every read and check is the service's."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from leadguard.core.errors import InputError, LeadGuardError
from leadguard.server.auth import Login, State, WebLogin
from leadguard.server.web import call, done, form_of, page, text, whole_number
from leadguard.server.web_format import action_label
from leadguard.services import assignment, notifications, queues, timeline

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
WORK_ROLES = ("supervisor", "examiner", "reviewer")
# where each queue item is acted on
WHERE = {
    "approve": "/approvals",
    "review": "/requests/{request}/review",
    "decide": "/requests/{request}/reveal",
}


def nav_links(st: Any, who: Login, links: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
    """The role's menu with the queue and notifications first, each link with its count
    (0: no count shown). A failed count shows none (the page itself still loads)."""
    if who.actor.role not in WORK_ROLES:
        return [(href, label, 0) for href, label in links]
    try:
        waiting = st.call(queues.work_queue, st.ctx, who.actor).total
        unread = len(st.call(notifications.notifications, st.ctx, who.actor).unread)
    except LeadGuardError:
        log.warning("no queue counts for %s", who.actor.username, exc_info=True)
        waiting = unread = 0
    return [("/", "My queue", waiting), ("/notifications", "Notifications", unread)] + [
        (href, label, 0) for href, label in links
    ]


def item_link(item: queues.QueueItem) -> str:
    where = WHERE.get(item.kind)
    if where:
        return where.format(request=item.request)
    return f"/cases/{item.case}" + (f"#lead-{item.lead}" if item.lead else "")


def home_values(st: Any, who: Login) -> dict[str, Any]:
    if who.actor.role not in WORK_ROLES:
        return {"queue": None}
    q = st.call(queues.work_queue, st.ctx, who.actor)
    sections = [
        {"title": sec.title, "kind": sec.kind, "entries": [(i, item_link(i)) for i in sec.items]}
        for sec in q.sections
    ]
    return {"queue": sections, "waiting": q.total}


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    got = st.call(notifications.notifications, st.ctx, who.actor)
    rows = [
        {
            "n": n,
            "href": f"/cases/{n.case}" + (f"#lead-{n.lead}" if n.lead else ""),
        }
        for n in got.unread
    ]
    return page(request, "notifications.html", who, rows=rows, through=got.through)


@router.post("/notifications/read")
async def notifications_read(request: Request, st: State, who: WebLogin) -> Response:
    f = await form_of(request, st, who)
    through = whole_number(text(f, "through"))
    if through is None:
        raise InputError("mark notifications read: which entry to read up to is missing")
    await call(st, notifications.mark_read, st.ctx, who.actor, through)
    return done(st, "/notifications", "notifications marked read")


def case_values(st: Any, who: Login, number: str) -> dict[str, Any]:
    """The case page's timeline (labelled, in the page's time zone) and assignment select."""
    tl = st.call(timeline.case_timeline, st.ctx, who.actor, number)
    rows = [
        {"e": e, "label": action_label(e.action) if e.action else "entry sealed"}
        for e in tl.entries
    ]
    return {
        "timeline": rows,
        "timeline_left_out": tl.left_out,
        "assignees": st.call(assignment.eligible_assignees, st.ctx, who.actor, number),
    }
