"""The application: API routers, web pages, static files, the error mapping and the
security headers. ``create_app`` takes an open services context; ``leadguard serve``
builds one and keeps the face model, quality policy and vector index resident in it."""

from __future__ import annotations

import logging
from importlib import resources

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from leadguard.quality.gate import workspace_policy
from leadguard.server import (
    api,
    api_admin,
    api_compare,
    api_docs,
    web,
    web_audit,
    web_cases,
    web_compare,
    web_documents,
    web_external,
    web_queues,
    web_requests,
    web_review,
)
from leadguard.server.errors import (
    HANDLED,
    ErrorOut,
    LoginRequired,
    ServerBusy,
    error_body,
    headers_of,
    status_of,
    validation_message,
)
from leadguard.server.limits import ASGIApp, BodyLimit, Message, Receive, Scope, Send
from leadguard.server.state import ServerState
from leadguard.services.context import Context

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class SecurityHeaders:
    """ASGI middleware: the security headers on every response (and ``Cache-Control:
    no-store`` outside /static/), where the application did not set them. Plain ASGI, not
    ``@app.middleware("http")``, whose request/response wrapping and extra task cost every
    request a measurable share of the server's CPU (docs/hardening.md)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for k, v in SECURITY_HEADERS.items():
                    headers.setdefault(k, v)
                if not static:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, sending)


def warm(ctx: Context, search_threads: int | None = 1) -> None:
    """Load once what every search needs: the face model and the quality policy (the vector
    index is loaded by the first search and then kept while its file is unchanged).

    Each search's exact scan of one query runs on one thread: that avoids
    OpenMP's thread wake-ups, which cost more than the scan itself on a busy machine (see
    docs/server.md); ``None`` leaves FAISS's default."""
    ctx.face_model()
    workspace_policy(ctx.ws)
    if search_threads is not None:
        try:
            import faiss
        except ImportError:  # no FAISS backend installed
            return
        faiss.omp_set_num_threads(search_threads)


def create_app(
    ctx: Context,
    *,
    secure_cookies: bool = True,
    login_limit: int = 10,
    preload: bool = True,
    search_threads: int | None = 1,
) -> FastAPI:
    if preload:
        warm(ctx, search_threads)
    app = FastAPI(
        title="LeadGuard",
        version="0.1.0",
        description=(
            "Face search for police investigations, built to prevent wrongful arrests: a "
            "search gives candidates to investigate, never an identification. Log in with "
            "POST /api/login and send the token as `Authorization: Bearer TOKEN`. Every "
            'error is `{"error", "message", "rule"?}` (ErrorOut).'
        ),
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI and ReDoc load from a CDN: /api/docs is our own page
        redoc_url=None,
        generate_unique_id_function=api_docs.operation_id,
    )
    st = ServerState(
        ctx, secure_cookies=secure_cookies, login_limit=login_limit, search_threads=search_threads
    )
    app.state.lg = st
    ctx.share_models(st.compute.slots)  # one face model per compute slot (loaded when needed)
    settings = ctx.settings
    app.add_middleware(
        BodyLimit,
        limit=settings.max_image_bytes + settings.max_form_bytes,
        form_limit=settings.max_form_bytes,
    )
    app.include_router(api.router)
    app.include_router(api_admin.router)
    app.include_router(api_compare.router)
    app.include_router(web.router)
    app.include_router(web_audit.router)
    app.include_router(web_cases.router)
    app.include_router(web_requests.router)
    app.include_router(web_external.router)
    app.include_router(web_review.router)
    app.include_router(web_compare.router)
    app.include_router(web_documents.router)
    app.include_router(web_queues.router)
    app.include_router(api_docs.router)
    api_docs.describe(app)
    static = resources.files("leadguard.server").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    app.add_middleware(SecurityHeaders)  # outermost: the 413s get them too

    async def handled(request: Request, exc: Exception) -> Response:
        status = status_of(exc)
        if status >= 500 and not isinstance(exc, ServerBusy):  # shedding load is no fault
            log.error("%s %s: %s", request.method, request.url.path, exc)
        if request.url.path.startswith("/api/"):
            body = error_body(exc).model_dump(exclude_none=True)
            return JSONResponse(body, status_code=status, headers=headers_of(exc))
        if isinstance(exc, LoginRequired):
            return RedirectResponse("/login", status_code=303)
        return web.error_page(request, exc, status)

    for kind in HANDLED:
        app.add_exception_handler(kind, handled)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "internal", "message": "internal error"}, status_code=500)

    app.add_exception_handler(Exception, unexpected)

    def api_error(
        status: int, kind: str, message: str, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        body = ErrorOut(error=kind, message=message).model_dump(exclude_none=True)
        return JSONResponse(body, status_code=status, headers=headers)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if request.url.path.startswith("/api/"):
            return api_error(422, "InvalidRequest", validation_message(exc.errors()))
        return web.error_page(request, exc, 400)

    app.add_exception_handler(RequestValidationError, invalid)

    async def http_error(request: Request, exc: Exception) -> Response:
        """The router's own errors (no such route, wrong method) in the API's shape."""
        assert isinstance(exc, StarletteHTTPException)
        if request.url.path.startswith("/api/") or request.url.path == "/api":
            kind = HTTP_KINDS.get(exc.status_code, "HTTPError")
            message = HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
            return api_error(exc.status_code, kind, message, dict(exc.headers or {}))
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)

    app.add_exception_handler(StarletteHTTPException, http_error)
    return app


HTTP_KINDS = {404: "NotFound", 405: "MethodNotAllowed"}
HTTP_MESSAGES = {
    404: "no such API route (the routes are listed at /api/docs)",
    405: "this route does not take that method (see /api/docs)",
}
