"""The API as documented: operation ids for client generators (stable, unique), a summary and
description on every operation, every error in LeadGuard's ``{"error", "message", "rule"?}``
shape (the router's 404 and 405 and request validation's 422 too), 401 for a failed login,
and the offline reference page (nothing from another host).

A workspace with accounts and no gallery: nothing here needs the face model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from markupsafe import escape

from leadguard.server.api_docs import OPERATIONS
from leadguard.server.app import create_app
from leadguard.server.errors import ErrorOut
from leadguard.services import accounts
from leadguard.services.context import Context
from leadguard.storage.workspace import Workspace

pytestmark = [pytest.mark.api]
PW = "correct horse battery staple"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    ws = Workspace.init(tmp_path_factory.mktemp("apidocs") / "ws", workers=1)
    ctx = Context(ws)
    accounts.add_user(ctx, None, "admin", PW, "admin")
    app = create_app(ctx, preload=False, login_limit=1000)
    with TestClient(app, base_url="https://testserver") as c:
        yield c
    ctx.close()


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


def assert_error_shape(r: Any, status: int, kind: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) <= set(ErrorOut.model_fields), body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]
    assert "detail" not in body
    if kind is not None:
        assert body["error"] == kind, body
    return dict(body)


def test_operation_ids_are_written_for_client_generators(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    ops = operations(spec)
    ids = [op["operationId"] for _, _, op in ops]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for oid in ids:
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", oid), oid  # camelCase, no path or method
    by_key = {f"{m} {p}": op["operationId"] for m, p, op in ops}
    assert by_key["POST /api/login"] == "login"
    assert by_key["POST /api/search"] == "urgentSearch"
    assert by_key["GET /api/cases/{number}"] == "getCase"
    for key, (oid, _, _) in OPERATIONS.items():  # the table names routes that exist
        assert by_key.get(key) == oid, key
    # stable: a second application gives the same ids
    again = create_app(client.app.state.lg.ctx, preload=False).openapi()  # type: ignore[attr-defined]
    assert [op["operationId"] for _, _, op in operations(again)] == ids


def test_every_operation_is_described(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    undocumented = [
        f"{m} {p}"
        for m, p, op in operations(spec)
        if not op.get("summary", "").strip()
        or not op.get("description", "").strip()
        or op["summary"].lower().startswith("api ")  # FastAPI's made-up "Api Login Route"
    ]
    assert not undocumented, "operations without a summary or description: " + ", ".join(
        undocumented
    )
    assert len(operations(spec)) >= 30
    login = spec["paths"]["/api/login"]["post"]  # the table's words, not FastAPI's
    assert login["summary"] == "Log in" and "401" in login["description"]


def test_error_responses_are_documented_as_error_out(client: TestClient) -> None:
    spec = client.get("/api/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for m, p, op in operations(spec):
        for code, resp in op["responses"].items():
            if int(code) < 400:
                continue
            schema = resp["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (m, p, code)
        if op.get("parameters") or op.get("requestBody"):
            assert "422" in op["responses"], (m, p)


def test_router_and_validation_errors_have_leadguards_shape(client: TestClient) -> None:
    assert_error_shape(client.get("/api/no-such-route"), 404, "NotFound")
    assert_error_shape(client.get("/api"), 404, "NotFound")
    assert_error_shape(client.delete("/api/me"), 405, "MethodNotAllowed")
    assert_error_shape(client.put("/api/cases"), 405, "MethodNotAllowed")
    body = assert_error_shape(client.post("/api/login", json={}), 422, "InvalidRequest")
    assert "username" in body["message"] and "password" in body["message"]
    body = assert_error_shape(
        client.post("/api/login", content=b"not json", headers={"content-type": "text/plain"}),
        422,
        "InvalidRequest",
    )
    login = client.post("/api/login", json={"username": "admin", "password": PW})
    token = {"Authorization": f"Bearer {login.json()['token']}"}
    body = assert_error_shape(
        client.get("/api/searches", params={"last": "many"}, headers=token), 422, "InvalidRequest"
    )
    assert "last" in body["message"]
    body = assert_error_shape(client.get("/api/requests/x/reveal", headers=token), 422)
    assert "request_id" in body["message"]
    # the service's own errors keep their shape
    assert_error_shape(client.get("/api/cases/NOPE-1", headers=token), 404, "InputError")


def test_a_failed_login_is_401(client: TestClient) -> None:
    r = client.post("/api/login", json={"username": "admin", "password": "wrong " * 3})
    body = assert_error_shape(r, 401, "LoginFailed")
    assert "failed" in body["message"]
    assert r.headers["www-authenticate"] == "Bearer"
    r = client.post("/api/login", json={"username": "nobody", "password": "x" * 12})
    assert_error_shape(r, 401, "LoginFailed")
    assert_error_shape(client.get("/api/me"), 401, "LoginRequired")
    bad = {"Authorization": "Bearer not-a-token"}
    assert_error_shape(client.get("/api/me", headers=bad), 401, "LoginRequired")


def test_the_web_login_form_still_shows_a_failed_login(client: TestClient) -> None:
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    r = client.post(
        "/login", data={"csrf": csrf.group(1), "username": "admin", "password": "wrong " * 3}
    )
    assert r.status_code == 401 and "text/html" in r.headers["content-type"]
    assert "failed" in r.text


EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.I)


def test_the_reference_page_is_offline(client: TestClient) -> None:
    r = client.get("/api/docs")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text
    assert not EXTERNAL.search(html), EXTERNAL.search(html)
    assert "<script" not in html.lower()
    assert "cdn" not in html.lower()
    for url in re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)""", html):
        assert url.startswith(("/", "#")), url
    assert "default-src 'none'" in r.headers["content-security-policy"]
    spec = client.get("/api/openapi.json").json()
    for _, _, op in operations(spec):
        assert f'id="op-{op["operationId"]}"' in html
        assert str(escape(op["summary"])) in html
    assert 'id="model-ErrorOut"' in html
    # every stylesheet it links is served here
    for href in re.findall(r'<link[^>]+href="([^"]+)"', html):
        assert client.get(href).status_code == 200, href
