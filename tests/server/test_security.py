"""The security list: unauthenticated access to every route, another case's images, path
traversal in image routes, CSRF on every form, session fixation, token expiry, cookie
flags, security headers, login rate limiting, escaping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadguard.server.app import create_app
from leadguard.services import accounts
from tests.server.conftest import PW, Served, all_routes, csrf_of, decisions, open_case, web_client

pytestmark = [pytest.mark.integration, pytest.mark.api]


@pytest.fixture(scope="module")
def searched(served: Served) -> dict[str, Any]:
    s = served
    rid = open_case(s, "SEC-1")
    assert s.post("sup", f"/api/requests/{rid}/approve").status_code == 200
    assert s.post("ex1", f"/api/requests/{rid}/run").status_code == 200
    packet = s.get("ex2", f"/api/requests/{rid}/packet").json()
    subject = s.probes[0][1]
    return {"request": rid, "packet": packet, "subject": subject}


def concrete(path: str, rid: int) -> str:
    path = re.sub(r"\{(request_id|lead_id|record_id)\}", str(rid), path)
    return path.replace("{number}", "SEC-1")


def web_routes(app: Any, method: str) -> list[str]:
    return [
        r.path
        for r in all_routes(app)
        if method in getattr(r, "methods", ())
        and not r.path.startswith(("/api/", "/static"))
        and r.path not in ("/login",)
    ]


def test_every_route_needs_a_login(served: Served, searched: dict[str, Any]) -> None:
    s, rid = served, searched["request"]
    anon = TestClient(s.app, base_url="https://testserver")
    gets = web_routes(s.app, "GET")
    posts = web_routes(s.app, "POST")
    assert len(gets) >= 16 and len(posts) >= 13
    for path in gets + posts:
        url = concrete(path, rid)
        r = anon.request("GET" if path in gets else "POST", url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", (path, r.status_code)
    for path in ("/api/cases", f"/api/requests/{rid}/probe", "/api/audit/verify"):
        assert anon.get(path).status_code == 401


def test_images_only_for_those_allowed(served: Served, searched: dict[str, Any]) -> None:
    s, rid, subject = served, searched["request"], searched["subject"]
    cand = f"/api/requests/{rid}/candidate-image"
    assert s.get("ex2", cand, params={"candidate": "A"}).status_code == 200
    # under blind review a reviewer names candidates by letter, never by subject
    assert s.get("ex2", cand, params={"subject": subject}).status_code == 403
    # another unit's examiner: neither the probe nor a candidate of this case
    assert s.get("stranger", f"/api/requests/{rid}/probe").status_code == 403
    assert s.get("stranger", cand, params={"subject": subject}).status_code == 403
    # the searcher and the supervisor: no candidate before every blind review is in
    assert s.get("ex1", cand, params={"subject": subject}).status_code == 403
    assert s.get("sup", cand, params={"subject": subject}).status_code == 403
    web = web_client(s, "stranger")
    r = web.get(f"/images/requests/{rid}/probe")
    assert r.status_code == 403 and b"\xff\xd8" not in r.content[:4]
    r = s.get("ex2", f"/api/requests/{rid}/probe")
    assert r.headers["cache-control"] == "no-store"


def test_no_path_from_the_request_reaches_the_file_system(
    served: Served, searched: dict[str, Any]
) -> None:
    s, rid = served, searched["request"]
    secret = s.root / "ws" / "leadguard.db"
    assert secret.exists()
    cand = f"/api/requests/{rid}/candidate-image"
    for subject in (
        "../../../../etc/passwd",
        str(secret),
        "..%2F..%2Fleadguard.db",
        s.probes[0][0].as_posix(),
    ):
        r = s.get("ex2", cand, params={"candidate": subject})
        assert r.status_code == 404, (subject, r.status_code)
        assert "root:" not in r.text and b"SQLite" not in r.content
    for url in (
        "/api/requests/..%2F..%2Fetc%2Fpasswd/probe",
        "/api/requests/1%2F..%2F..%2Fleadguard.db/probe",
        "/images/requests/../../leadguard.db",
        "/static/../../ws/leadguard.db",
        "/static/%2e%2e/%2e%2e/etc/passwd",
    ):
        r = s.get("ex2", url)
        assert r.status_code in (404, 422), (url, r.status_code)
        assert b"SQLite" not in r.content and "root:" not in r.text


def test_csrf_on_every_form(served: Served, searched: dict[str, Any]) -> None:
    s, rid = served, searched["request"]
    web = web_client(s, "sup")
    posts = web_routes(s.app, "POST")
    for path in posts:
        url = concrete(path, rid)
        for data in ({}, {"csrf": "forged"}):
            r = web.post(url, data=data, follow_redirects=False)
            assert r.status_code == 403, (path, r.status_code)
    # a token from another session does not carry over
    other = web_client(s, "ex1")
    token = csrf_of(other.get("/cases").text)
    r = web.post("/cases/SEC-1/assign", data={"csrf": token, "username": "ex2"})
    assert r.status_code == 403
    anon = TestClient(s.app, base_url="https://testserver")
    r = anon.post("/login", data={"username": "sup", "password": PW})  # no login-form token
    assert r.status_code == 403
    # the same form with the session's own token works
    token = csrf_of(web.get("/cases/SEC-1").text)
    r = web.post("/cases/SEC-1/assign", data={"csrf": token, "username": "ex2"})
    assert r.status_code == 200 and "assigned" in r.text


def test_session_fixation_and_logout(served: Served) -> None:
    s = served
    client = TestClient(s.app, base_url="https://testserver")
    client.cookies.set("lg_session", "attacker-chosen", domain="testserver.local")
    assert client.get("/", follow_redirects=False).status_code == 303  # not a login
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"csrf": csrf_of(page.text), "username": "rev", "password": PW},
        follow_redirects=False,
    )
    cookie = r.headers["set-cookie"]
    assert "lg_session=" in cookie and "attacker-chosen" not in cookie
    for flag in ("HttpOnly", "Secure", "SameSite=strict"):
        assert flag.lower() in cookie.lower(), flag
    token = re.search(r"lg_session=([^;]+)", cookie)
    assert token is not None
    issued = token.group(1)
    assert s.client.get("/api/me", headers={"Authorization": f"Bearer {issued}"}).status_code == 200
    home = client.get("/")
    assert home.status_code == 200 and "rev" in home.text
    r = client.post("/logout", data={"csrf": csrf_of(home.text)}, follow_redirects=False)
    assert r.status_code == 303
    # the token is revoked on the server, not only forgotten by the browser
    assert s.client.get("/api/me", headers={"Authorization": f"Bearer {issued}"}).status_code == 401


def test_tokens_expire(served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    s = served
    web = web_client(s, "aud")
    assert web.get("/audit/verify").status_code == 200
    hours = s.ctx.settings.session_hours
    later = datetime.now(UTC) + timedelta(hours=hours, minutes=1)
    monkeypatch.setattr(accounts, "_now", lambda: later)
    assert s.get("aud", "/api/me").status_code == 401
    r = web.get("/audit/verify", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_logins_are_rate_limited(served: Served) -> None:
    app = create_app(served.ctx, login_limit=3, preload=False)
    with TestClient(app, base_url="https://testserver") as client:
        codes = [
            client.post("/api/login", json={"username": "nobody", "password": "x" * 12}).status_code
            for _ in range(4)
        ]
        assert codes == [401, 401, 401, 429]
        r = client.post("/api/login", json={"username": "sup", "password": PW})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1  # per client address


def test_headers_and_escaping(served: Served) -> None:
    s = served
    r = s.post(
        "sup",
        "/api/cases",
        json={
            "number": "SEC-XSS",
            "offence": "robbery",
            "incident_date": "2026-03-01",
            "description": "<script>alert(1)</script>",
            "officer": "o",
            "authority": "a",
        },
    )
    assert r.status_code == 201
    web = web_client(s, "sup")
    page = web.get("/cases/SEC-XSS")
    assert "<script>alert(1)</script>" not in page.text and "&lt;script&gt;" in page.text
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert 'lang="en"' in page.text
    assert s.client.get("/docs").status_code == 404  # no CDN-loaded Swagger UI


def test_a_refused_form_shows_the_policy_rule(served: Served, searched: dict[str, Any]) -> None:
    s, rid = served, searched["request"]
    web = web_client(s, "sup")
    token = csrf_of(web.get("/cases/SEC-1").text)
    r = web.get(f"/requests/{rid}/reveal")
    assert r.status_code == 409 and "examiners_required" in r.text and "Refused by policy" in r.text
    packet = s.get("rev", f"/api/requests/{rid}/packet").json()
    body = {"decisions": decisions(s, "rev", packet, None)}
    assert s.post("rev", f"/api/requests/{rid}/reviews", json=body).status_code == 201
    r = web.post(f"/requests/{rid}/release", data={"csrf": token, "subject": "x"})
    assert r.status_code == 409 and "examiners_required" in r.text
