"""What keeps one client from stalling the others: a request body counted before anything
parses it (413 from Content-Length before a byte is read, or as soon as a streamed body
passes the limit, before anything is written to disk), per-user and per-address limits on
the expensive requests (429 naming the rule, audited), and the compute slots those requests
run in (their own threads and face models, a bounded queue, 503 beyond it), so a login
check or a page never waits behind a search or a preview."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

from fastapi import Request

from leadguard.server.auth import client_address
from leadguard.server.errors import RateLimited
from leadguard.server.state import ServerState
from leadguard.services.context import Actor, record_refusal

log = logging.getLogger(__name__)
T = TypeVar("T")
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# The routes that take an uploaded image (POST): only their bodies may hold one. Every
# other body (a login, a JSON request, a form) is held to max_form_bytes: it is read into
# memory before anyone is authenticated, so 64 MiB bodies to /api/login held open by a few
# connections had grown the server by 190 MB.
UPLOAD_ROUTES = tuple(
    re.compile(p)
    for p in (
        r"/api/cases/[^/]+/requests",
        r"/api/search",
        r"/cases/[^/]+/requests",
        r"/cases/[^/]+/external-searches",
    )
)


class BodyLimit:
    """ASGI middleware: a request body over its limit is refused 413 (the API's error shape
    under /api/, plain text elsewhere): ``limit`` bytes for a POST to a route that takes an
    upload, ``form_limit`` for any other request. A Content-Length over the limit is refused
    before the body is read; any other body is read into memory, counted, and refused as
    soon as the count passes the limit; only a body within it reaches the application
    (whose form parser is what spools uploads to disk)."""

    def __init__(self, app: ASGIApp, limit: int, form_limit: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.form_limit = limit if form_limit is None else min(form_limit, limit)

    def limit_of(self, scope: Scope) -> tuple[int, str]:
        path = str(scope.get("path", ""))
        if scope.get("method") == "POST" and any(r.fullmatch(path) for r in UPLOAD_ROUTES):
            return self.limit, "an upload may hold at most max_image_bytes plus max_form_bytes"
        return self.form_limit, "a request that carries no image may hold at most max_form_bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, rule = self.limit_of(scope)
        length = self.declared_length(scope)
        if length is not None and length > limit:
            await self.refuse(scope, send, f"the request declares {length} bytes", limit, rule)
            return
        chunks: list[bytes] = []
        count = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            count += len(chunk)
            if count > limit:
                why = f"the request body passed {limit} bytes"
                await self.refuse(scope, send, why, limit, rule)
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect

        await self.app(scope, replay, send)

    @staticmethod
    def declared_length(scope: Scope) -> int | None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    async def refuse(self, scope: Scope, send: Send, why: str, limit: int, rule: str) -> None:
        message = f"{why}: {rule} ({limit} bytes in all)"
        if str(scope.get("path", "")).startswith("/api"):
            body = json.dumps({"error": "TooLarge", "message": message}).encode()
            kind = b"application/json"
        else:
            body, kind = message.encode(), b"text/plain; charset=utf-8"
        log.info("refused %s %s: %s", scope.get("method"), scope.get("path"), why)
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", kind),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def check_expensive(st: ServerState, request: Request, actor: Actor, action: str) -> None:
    """Count one expensive request (search, preview, request filing) against its user and
    its client address; over either limit: 429 with the rule, recorded as a refusal."""
    settings = st.ctx.settings
    address = client_address(request, settings.trusted_proxies)
    for key, limiter, rule, whose in (
        (f"user:{actor.username}", st.per_user, "per_user_limit", f"user {actor.username}"),
        (f"ip:{address}", st.per_address, "per_address_limit", f"address {address}"),
    ):
        wait = limiter.hit(key)
        if wait > 0:
            exc = RateLimited(
                wait,
                f"too many searches, previews and request filings by {whose}: at most "
                f"{limiter.limit} a minute ({rule})",
                rule,
            )
            record_refusal(st.ctx, actor, action, f"user:{actor.username}", exc)
            raise exc


async def compute(st: ServerState, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` (an expensive service call, through ``st.call``) in a compute slot."""
    return await st.compute.run(fn, *args)
