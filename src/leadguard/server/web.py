"""Web pages shared by every role: login, home, error pages, the auditor's and
supervisor's read pages, and images for the pages (cookie login, never cached)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from importlib import resources
from typing import Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from leadguard.core.errors import InputError
from leadguard.server import web_format, web_refusals
from leadguard.server.auth import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    Login,
    State,
    WebLogin,
    login,
    require_csrf,
    set_session_cookie,
)
from leadguard.server.errors import CsrfFailed, error_body
from leadguard.services import accounts, gallery
from leadguard.services import audit as audit_svc
from leadguard.services.authz import NotAllowed

T = TypeVar("T")
router = APIRouter(include_in_schema=False)
FLASH = "lg_flash"
_templates: Jinja2Templates | None = None
ROLE_HOME = {
    "examiner": [
        ("/cases", "My cases"),
        ("/reviews", "My reviews"),
        ("/leads", "Leads"),
        ("/documents", "Documents"),
    ],
    "reviewer": [("/cases", "My cases"), ("/reviews", "My reviews")],
    "supervisor": [
        ("/cases", "Cases"),
        ("/approvals", "Approval queue"),
        ("/leads", "Leads"),
        ("/audit", "Audit log"),
        ("/gallery", "Gallery"),
        ("/documents", "Documents"),
    ],
    "auditor": [
        ("/cases", "Cases"),
        ("/audit", "Audit log"),
        ("/leads", "Leads"),
        ("/gallery", "Gallery and reports"),
        ("/documents", "Documents"),
    ],
    "admin": [("/gallery", "Gallery and reports")],
}


def templates() -> Jinja2Templates:
    global _templates
    if _templates is None:
        folder = resources.files("leadguard.server").joinpath("templates")
        _templates = Jinja2Templates(directory=str(folder))
        _templates.env.filters["when"] = web_format.when
        _templates.env.filters["shown"] = web_format.shown
        _templates.env.filters["word"] = web_format.word
        _templates.env.filters["attribute"] = web_format.attribute
    return _templates


def page(
    request: Request, name: str, who: Login | None, status: int = 200, **values: Any
) -> HTMLResponse:
    from leadguard.server.web_queues import nav_links  # builds on this module

    st = request.app.state.lg
    flash = request.cookies.get(FLASH)
    values.update(
        user=who.actor if who else None,
        csrf=st.csrf_for(who.token) if who else "",
        nav=nav_links(st, who, ROLE_HOME.get(who.actor.role, [])) if who else [],
        flash=flash,
    )
    values.setdefault("zone", st.ctx.settings.time_zone)
    response = templates().TemplateResponse(request, name, values, status_code=status)
    if flash:
        response.delete_cookie(FLASH, path="/")
    if who and status == 200 and request.method == "GET":
        web_refusals.remember(request, response, st.secure_cookies)
    return response


def done(st: Any, to: str, message: str) -> RedirectResponse:
    """After a change: back to a page, with one line saying what happened."""
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(
        FLASH,
        message[:300],
        max_age=60,
        httponly=True,
        secure=st.secure_cookies,
        samesite="strict",
        path="/",
    )
    return response


def error_page(request: Request, exc: Exception, status: int) -> HTMLResponse:
    body = error_body(exc) if not hasattr(exc, "errors") else None
    message = body.message if body else "the form was not filled in correctly"
    who = getattr(request.state, "login", None)
    return page(
        request,
        "error.html",
        who,
        status,
        status_code=status,
        message=message,
        rule=body.rule if body else None,
        kind=body.error if body else "bad form",
        help=web_refusals.help_for(body.rule if body else None, status),
        back=web_refusals.back_of(request),
    )


async def form_of(request: Request, st: Any, who: Login) -> dict[str, Any]:
    """The posted form, once its CSRF token is checked."""
    request.state.login = who
    form = await request.form()
    require_csrf(st, who, form.get("csrf"))
    return {k: form.getlist(k) if len(form.getlist(k)) > 1 else form.get(k) for k in form}


async def call(st: Any, fn: Callable[..., T], *args: Any) -> T:
    return await run_in_threadpool(st.call, fn, *args)


def text(form: dict[str, Any], key: str) -> str:
    v = form.get(key)
    return v.strip() if isinstance(v, str) else ""


def whole_number(value: str) -> int | None:
    """A form field's whole number: ASCII digits only, at most nine (``"²".isdigit()`` is
    true and ``int("²")`` fails; a thousand-digit number is no id or age), else None."""
    if 0 < len(value) <= 9 and value.isascii() and value.isdigit():
        return int(value)
    return None


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, st: State) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = page(request, "login.html", None, login_csrf=token)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=900,
        httponly=True,
        secure=st.secure_cookies,
        samesite="strict",
        path="/login",
    )
    return response


@router.post("/login")
async def login_post(request: Request, st: State) -> Response:
    form = await request.form()
    expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    given = form.get("csrf")
    if not expected or not isinstance(given, str) or not secrets.compare_digest(expected, given):
        raise CsrfFailed("the login form's CSRF token is missing or wrong: reload and retry")
    username, password = str(form.get("username") or ""), str(form.get("password") or "")
    try:
        sess = await run_in_threadpool(login, st, request, username, password)
    except NotAllowed as exc:
        return page(request, "login.html", None, 401, login_csrf=expected, failed=str(exc))
    except InputError as exc:  # a name or password longer than any account's
        return page(request, "login.html", None, 400, login_csrf=expected, failed=str(exc))
    response = RedirectResponse("/", status_code=303)
    hours = st.ctx.settings.session_hours
    set_session_cookie(st, response, sess.token, int(hours * 3600))  # a new token: no fixation
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout_post(request: Request, st: State, who: WebLogin) -> Response:
    await form_of(request, st, who)
    await call(st, accounts.logout, st.ctx, who.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, st: State, who: WebLogin) -> HTMLResponse:
    """The user's work queue (``web_queues``) and their pages."""
    from leadguard.server.web_queues import home_values

    request.state.login = who
    return page(request, "home.html", who, **home_values(st, who))


@router.get("/audit/verify", response_class=HTMLResponse)
def verify_page(request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    v = st.call(audit_svc.verify, st.ctx, who.actor)
    return page(request, "verify.html", who, v=v)


@router.get("/cases/{number}/export")
def export(number: str, st: State, who: WebLogin) -> Response:
    from leadguard.server.api_admin import api_export

    return api_export(number, st, who.actor)


@router.get("/gallery", response_class=HTMLResponse)
def gallery_page(request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    stats = st.call(gallery.gallery_stats, st.ctx, who.actor)
    records = st.call(gallery.accuracy_records, st.ctx, who.actor)
    searches = st.call(gallery.search_log, st.ctx, who.actor, 20)
    return page(request, "gallery.html", who, stats=stats, records=records, searches=searches)


@router.get("/records/{record_id}/report")
def report(record_id: int, request: Request, st: State, who: WebLogin) -> Response:
    from leadguard.services.files import report_html

    request.state.login = who
    f = st.call(report_html, st.ctx, who.actor, record_id)
    # the report is LeadGuard's own file: shown in a sandbox, with no script
    return Response(
        f.data,
        media_type=f.media_type,
        headers={
            "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self' data:; "
            "style-src 'unsafe-inline'"
        },
    )


@router.get("/images/requests/{request_id}/probe")
def probe_image(request_id: int, request: Request, st: State, who: WebLogin) -> Response:
    from leadguard.server.api import api_probe_image

    request.state.login = who
    return api_probe_image(request_id, st, who.actor)


@router.get("/images/requests/{request_id}/candidate")
def candidate_image(
    request_id: int,
    request: Request,
    st: State,
    who: WebLogin,
    subject: str | None = Query(None, max_length=200),
    candidate: str | None = Query(None, max_length=200),
) -> Response:
    from leadguard.server.api import api_candidate_image

    request.state.login = who
    return api_candidate_image(request_id, st, who.actor, subject, candidate)
