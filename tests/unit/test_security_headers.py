"""The security headers middleware (plain ASGI): every response gets each header once,
a header the application set is kept, /static/ is cacheable, and the 413 that BodyLimit
answers before the application runs carries them too."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from leadguard.server.app import SECURITY_HEADERS, SecurityHeaders
from leadguard.server.limits import BodyLimit


def _page(request: Request) -> Response:
    return PlainTextResponse("page")


def _sandboxed(request: Request) -> Response:
    return PlainTextResponse("doc", headers={"Content-Security-Policy": "sandbox"})


def _static(request: Request) -> Response:
    return PlainTextResponse("css")


def _client() -> TestClient:
    app = Starlette(
        routes=[
            Route("/page", _page, methods=["GET", "POST"]),
            Route("/doc", _sandboxed),
            Route("/static/x.css", _static),
        ]
    )
    app.add_middleware(BodyLimit, limit=100)
    app.add_middleware(SecurityHeaders)  # outermost, as create_app adds it
    return TestClient(app)


def test_every_header_once_and_no_store() -> None:
    r = _client().get("/page")
    assert r.status_code == 200 and r.text == "page"
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get_list(name) == [value]
    assert r.headers.get_list("cache-control") == ["no-store"]


def test_a_header_the_application_set_is_kept() -> None:
    r = _client().get("/doc")
    assert r.headers.get_list("content-security-policy") == ["sandbox"]
    assert r.headers["x-frame-options"] == "DENY"


def test_static_files_are_not_marked_no_store() -> None:
    r = _client().get("/static/x.css")
    assert "cache-control" not in r.headers
    assert r.headers["x-content-type-options"] == "nosniff"


def test_the_body_limit_refusal_carries_them() -> None:
    r = _client().post("/page", content=b"x" * 500)
    assert r.status_code == 413
    assert r.headers["content-security-policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    assert r.headers.get_list("cache-control") == ["no-store"]  # BodyLimit's own, not doubled
