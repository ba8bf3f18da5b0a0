"""Who is asking: a bearer token (API) or the session cookie (web UI), both the same login
sessions as the CLI's (``services.accounts``). Login attempts are rate-limited per client
address (``X-Forwarded-For`` believed only from the ``trusted_proxies`` setting) and per
user name; web forms carry a CSRF token bound to the login session."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leadguard.server.errors import CsrfFailed, LoginFailed, LoginRequired, RateLimited
from leadguard.server.state import ServerState
from leadguard.services import accounts
from leadguard.services.authz import NotAllowed
from leadguard.services.context import Actor

COOKIE = "lg_session"
LOGIN_CSRF_COOKIE = "lg_login_csrf"
bearer = HTTPBearer(auto_error=False, description="The token from POST /api/login")


async def state_of(request: Request) -> ServerState:  # async: no thread hop, no I/O
    st: ServerState = request.app.state.lg
    return st


State = Annotated[ServerState, Depends(state_of)]


@dataclass(frozen=True)
class Login:
    actor: Actor
    token: str


def _authenticate(st: ServerState, token: str | None) -> Login:
    if not token:
        raise LoginRequired("this needs a login: POST /api/login, then send the bearer token")
    try:
        return Login(st.call(accounts.authenticate, st.ctx, token), token)
    except NotAllowed as exc:
        raise LoginRequired(str(exc)) from exc


def api_login(
    st: State, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Login:
    return _authenticate(st, creds.credentials if creds else None)


async def api_actor(login: Annotated[Login, Depends(api_login)]) -> Actor:
    return login.actor


ApiActor = Annotated[Actor, Depends(api_actor)]


def web_login(request: Request, st: State) -> Login:
    return _authenticate(st, request.cookies.get(COOKIE))


WebLogin = Annotated[Login, Depends(web_login)]


def _trusted(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(n, strict=False) for n in networks)


def client_address(request: Request, trusted_proxies: list[str]) -> str:
    """The address a login attempt is counted against: the connecting peer, unless the peer
    is a configured trusted proxy; then the nearest address in ``X-Forwarded-For`` that is
    not itself a trusted proxy (what the proxies in front of the server saw). Anyone else's
    ``X-Forwarded-For`` is ignored: rotating it gains no fresh attempts."""
    peer = request.client.host if request.client else "?"
    if not trusted_proxies or not _trusted(peer, trusted_proxies):
        return peer
    hops = [h.strip() for h in ",".join(request.headers.getlist("x-forwarded-for")).split(",")]
    hops = [h for h in hops if h]
    for hop in reversed(hops):
        if not _trusted(hop, trusted_proxies):
            return hop
    return hops[0] if hops else peer


def check_rate(st: ServerState, request: Request, username: str) -> None:
    client = client_address(request, st.ctx.settings.trusted_proxies)
    for key in (f"ip:{client}", f"user:{username}"):
        wait = st.limiter.hit(key)
        if wait > 0:
            raise RateLimited(wait)


def login(st: ServerState, request: Request, username: str, password: str) -> accounts.LoginSession:
    """A login session; a failed login is ``LoginFailed`` (401, and a NotAllowed)."""
    accounts.check_lengths(username, password)  # before a 1 MB name becomes a limiter key
    check_rate(st, request, username)
    try:
        return st.call(accounts.login, st.ctx, username, password)
    except NotAllowed as exc:
        raise LoginFailed(str(exc)) from exc


def set_session_cookie(st: ServerState, response: Response, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age,
        httponly=True,
        secure=st.secure_cookies,
        samesite="strict",
        path="/",
    )


def require_csrf(st: ServerState, login: Login, given: object) -> None:
    if not st.check_csrf(login.token, given):
        raise CsrfFailed("the form's CSRF token is missing or wrong: reload the page and retry")
