"""One client cannot stall the others (issue 27, item 3), tested without any timing: a
search held inside its face model (a threading.Event, not a sleep) while another user's
GET /api/me and a write answer; uploads refused 413 by Content-Length before the body is
read, and a streamed body refused as soon as it passes the limit, with nothing spooled;
per-user and per-address limits on expensive requests (429 with the rule, audited), and
X-Forwarded-For believed only from a trusted proxy."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from starlette.testclient import TestClient

from leadguard.server.app import create_app
from leadguard.services.context import Context
from leadguard.storage.tables import AuditEntry
from tests.server.conftest import Served

pytestmark = [pytest.mark.integration, pytest.mark.api]

NOT_AN_IMAGE = {"probe": ("x.jpg", b"not an image", "image/jpeg")}
URGENT = {"case": "LOAD-1", "reason": "a test of the limits", "source_type": "surveillance_still"}


def urgent_form(served: Served) -> tuple[dict[str, Any], dict[str, str]]:
    path, _ = served.probes[1]
    return {"probe": (path.name, path.read_bytes(), "image/jpeg")}, URGENT


@pytest.fixture(scope="module")
def case(served: Served) -> str:
    from tests.server.conftest import open_case

    open_case(served, "LOAD-1")
    return "LOAD-1"


def test_me_and_a_write_answer_while_a_search_is_held_in_its_face_model(
    served: Served, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    waits: list[bool] = []
    model_class = type(served.ctx.face_model())
    detect = model_class.detect

    def held(self: Any, pixels: Any) -> Any:
        entered.set()
        waits.append(release.wait(120))  # False only if nobody released it: a deadlock
        return detect(self, pixels)

    monkeypatch.setattr(model_class, "detect", held)
    files, form = urgent_form(served)
    answers: dict[str, Any] = {}

    def search() -> None:
        answers["search"] = served.post("sup", "/api/search", files=files, data=form)

    worker = threading.Thread(target=search)
    worker.start()
    try:
        assert entered.wait(120), "the search never reached its face model"
        me = served.get("ex1", "/api/me")
        opened = served.post(
            "sup",
            "/api/cases",
            json={
                "number": "LOAD-HELD",
                "offence": "robbery",
                "incident_date": "2026-03-01",
                "description": "opened while a search is held",
                "attributes": {"sex": "M"},
                "officer": "Det. Rivera",
                "authority": "warrant 26-118",
            },
        )
        still_held = not release.is_set()
    finally:
        release.set()
        worker.join(120)
    assert still_held
    assert me.status_code == 200 and me.json()["username"] == "ex1"
    assert opened.status_code == 201, opened.text  # the search holds no writer lock here
    assert waits and all(waits)  # the search was released by this test, not by a timeout
    assert answers["search"].status_code == 200, answers["search"].text
    assert answers["search"].json()["candidates"][0]["subject"] == served.probes[1][1]


@pytest.fixture(scope="module")
def small(served: Served) -> Iterator[FastAPI]:
    """An app on the same workspace whose uploads may hold 4096 bytes (+1024 of form)."""
    ctx = Context.open(served.ctx.root, max_image_bytes=4096, max_form_bytes=1024)
    yield create_app(ctx, preload=False)
    ctx.close()


def call_asgi(
    app: FastAPI, headers: list[tuple[bytes, bytes]], chunks: list[bytes], path: str
) -> tuple[int, bytes, int]:
    """One request straight through ASGI: (status, body, how many times the body was read)."""
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        if reads <= len(chunks):
            return {"type": "http.request", "body": chunks[reads - 1], "more_body": True}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("203.0.113.9", 4000),
        "server": ("testserver", 443),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, reads


@pytest.fixture
def nothing_spooled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail loudly if the form parser or the upload code writes anything to disk."""
    import starlette.formparsers

    import leadguard.server.uploads

    written: list[str] = []

    class Refused:
        def __init__(self, *a: Any, **kw: Any) -> None:
            written.append("spooled")
            raise AssertionError("an over-limit body reached the disk")

    monkeypatch.setattr(starlette.formparsers, "SpooledTemporaryFile", Refused)
    monkeypatch.setattr(leadguard.server.uploads.tempfile, "TemporaryDirectory", Refused)
    return written


MULTIPART = (b"content-type", b"multipart/form-data; boundary=xyz")


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(
    small: FastAPI, nothing_spooled: list[str]
) -> None:
    headers = [MULTIPART, (b"content-length", str(300 * 1024 * 1024).encode())]
    status, body, reads = call_asgi(small, headers, [b"x" * 1000] * 10, "/api/search")
    assert status == 413 and reads == 0
    import json

    out = json.loads(body)
    assert out["error"] == "TooLarge" and "5120 bytes" in out["message"]
    assert set(out) <= {"error", "message", "rule"}
    assert nothing_spooled == []


def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit(
    small: FastAPI, nothing_spooled: list[str]
) -> None:
    status, body, reads = call_asgi(small, [MULTIPART], [b"x" * 1000] * 100, "/api/search")
    assert status == 413
    assert reads == 6  # 6000 bytes passed 5120: the 94 chunks after it were never read
    assert b"TooLarge" in body and nothing_spooled == []
    # a web form gets the refusal in words
    status, body, reads = call_asgi(small, [MULTIPART], [b"x" * 1000] * 100, "/cases/X/requests")
    assert status == 413 and reads == 6 and body.startswith(b"the request body passed")


def test_a_body_within_the_limit_reaches_the_application(small: FastAPI) -> None:
    body = b'{"username": "nobody", "password": "wrong"}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    status, out, _ = call_asgi(small, headers, [body], "/api/login")
    assert status == 401 and b"LoginFailed" in out  # the login read the replayed body


def test_a_body_to_a_route_without_an_upload_is_held_to_the_form_limit(
    small: FastAPI, nothing_spooled: list[str]
) -> None:
    """Bodies are read before anyone is authenticated: only the routes that take an image
    may carry one (5120 bytes here), every other body at most max_form_bytes (1024)."""
    headers = [MULTIPART, (b"content-length", b"3000")]
    for path in ("/api/login", "/login", "/api/cases", "/cases/X/assign"):
        status, body, reads = call_asgi(small, headers, [b"x" * 1000] * 3, path)
        assert status == 413 and reads == 0, (path, status)
        assert b"carries no image" in body and b"1024 bytes" in body, body
    status, _, reads = call_asgi(small, [MULTIPART], [b"x" * 600] * 5, "/api/login")
    assert status == 413 and reads == 2  # 1200 bytes passed 1024: refused while streaming
    assert nothing_spooled == []


def refusals_of(ctx: Context, rule: str) -> list[AuditEntry]:
    with ctx.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == "refused")).all()
        return [r for r in rows if r.details.get("rule") == rule]


def test_a_users_expensive_requests_are_limited_with_the_rule_and_audited(
    served: Served, case: str
) -> None:
    ctx = Context.open(served.ctx.root, expensive_per_user=2, expensive_per_address=1000)
    before = len(refusals_of(served.ctx, "per_user_limit"))
    try:
        app = create_app(ctx, preload=False)
        with TestClient(app, base_url="https://testserver") as client:

            def search(user: str) -> Any:
                return client.post(
                    "/api/search", headers=served.auth(user), files=NOT_AN_IMAGE, data=URGENT
                )

            codes = [search("sup").status_code for _ in range(2)]
            refused = search("sup")
            other = search("ex1")  # another user's count is their own
    finally:
        ctx.close()
    assert codes == [400, 400]  # counted, then refused by the image check
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["error"] == "RateLimited" and body["rule"] == "per_user_limit"
    assert "sup" in body["message"] and "at most 2 a minute" in body["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    assert set(body) <= {"error", "message", "rule"}
    assert other.status_code == 403  # an examiner: refused by the service, not by the limit
    entries = refusals_of(served.ctx, "per_user_limit")
    assert len(entries) == before + 1
    assert entries[-1].actor == "sup" and entries[-1].details["refused"] == "search"


def address_codes(served: Served, app: FastAPI, peer: str, forwarded: list[str]) -> list[int]:
    with TestClient(app, base_url="https://testserver", client=(peer, 4000)) as client:
        return [
            client.post(
                "/api/search",
                headers={**served.auth("sup"), "X-Forwarded-For": hop},
                files=NOT_AN_IMAGE,
                data=URGENT,
            ).status_code
            for hop in forwarded
        ]


def test_x_forwarded_for_counts_only_from_a_trusted_proxy(served: Served, case: str) -> None:
    ctx = Context.open(
        served.ctx.root,
        expensive_per_user=1000,
        expensive_per_address=2,
        trusted_proxies=["10.0.0.5"],
    )
    try:
        behind = address_codes(
            served,
            create_app(ctx, preload=False),
            "10.0.0.5",
            ["198.51.100.1", "198.51.100.1", "198.51.100.1", "198.51.100.2"],
        )
        spoofed = address_codes(
            served,
            create_app(ctx, preload=False),
            "203.0.113.9",
            ["198.51.100.1", "198.51.100.2", "198.51.100.3"],
        )
    finally:
        ctx.close()
    # behind the proxy: each client its own count (the third from .1 refused, .2 fresh)
    assert behind == [400, 400, 429, 400]
    # anyone else: rotating the header gains nothing
    assert spoofed == [400, 400, 429]


def test_me_answers_while_another_thread_holds_the_writer_lock(served: Served) -> None:
    """A token check reads without the writer lock: GET /api/me answers while a write
    transaction is held open (before, it queued behind every search's transaction)."""
    from sqlalchemy import text

    entered, release = threading.Event(), threading.Event()
    waits: list[bool] = []

    def writer() -> None:
        with served.ctx.session() as s:
            s.execute(text("SELECT 1"))  # begun IMMEDIATE: the writer lock is held
            entered.set()
            waits.append(release.wait(120))

    worker = threading.Thread(target=writer)
    worker.start()
    try:
        assert entered.wait(120)
        me = served.get("ex1", "/api/me")
        still_held = not release.is_set()
    finally:
        release.set()
        worker.join(120)
    assert still_held and waits == [True]
    assert me.status_code == 200 and me.json()["username"] == "ex1"
