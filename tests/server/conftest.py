"""Server fixtures: a real workspace (dlib's Johns enrolled with the real model, real SQLite),
the application built on it, and a login token per role, through the API itself."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from leadguard.gallery.enroll import enroll
from leadguard.server.app import create_app
from leadguard.services import accounts
from leadguard.services.casework.blind import letters_of
from leadguard.services.context import Context
from leadguard.storage.tables import User
from leadguard.storage.workspace import Workspace
from tests.casework_helpers import checklist
from tests.integration.conftest import (  # noqa: F401  (fixtures shared with integration)
    johns_split,
    non_enrolled_probes,
    write_manifest,
)

PW = "correct horse battery staple"
USERS = (
    ("sup", "supervisor", "north"),
    ("ex1", "examiner", "north"),
    ("ex2", "examiner", "north"),
    ("rev", "reviewer", "north"),
    ("aud", "auditor", ""),
    ("stranger", "examiner", "south"),
)
PERSON = {"sex": "M", "apparent_age": "25-60"}


@dataclass
class Served:
    client: TestClient
    app: FastAPI
    ctx: Context
    probes: list[tuple[Path, str]]
    root: Path
    tokens: dict[str, str] = field(default_factory=dict)

    def auth(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def get(self, user: str | None, url: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self.auth(user) if user else {}, **kw)

    def post(self, user: str | None, url: str, **kw: Any) -> Any:
        return self.client.post(url, headers=self.auth(user) if user else {}, **kw)


def make_workspace(root: Path, enrolled: list[tuple[Path, str]]) -> Context:
    ws = Workspace.init(root / "ws", workers=1)
    enroll(ws, write_manifest(root / "m.csv", enrolled))
    ctx = Context(ws)
    accounts.add_user(ctx, None, "admin", PW, "admin")
    admin = accounts.login(ctx, "admin", PW).actor
    for name, role, unit in USERS:
        accounts.add_user(ctx, admin, name, PW, role, unit)
    return ctx


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, johns_split) -> Iterator[Served]:  # noqa: F811
    enrolled, probes = johns_split
    root = tmp_path_factory.mktemp("server")
    ctx = make_workspace(root, enrolled)
    app = create_app(ctx, secure_cookies=True, login_limit=1000)
    with TestClient(app, base_url="https://testserver") as client:
        srv = Served(client, app, ctx, probes, root)
        for name in ("admin", *(u[0] for u in USERS)):
            r = client.post("/api/login", json={"username": name, "password": PW})
            assert r.status_code == 200, r.text
            srv.tokens[name] = r.json()["token"]
        yield srv
    ctx.close()


def open_case(srv: Served, number: str, probe: Path | None = None) -> int:
    """A case opened by sup, ex1/ex2/rev assigned, a request filed by ex1 (pending)."""
    r = srv.post(
        "sup",
        "/api/cases",
        json={
            "number": number,
            "offence": "robbery",
            "incident_date": "2026-03-01",
            "description": "street robbery",
            "attributes": PERSON,
            "officer": "Det. Rivera",
            "authority": "warrant 26-117",
        },
    )
    assert r.status_code == 201, r.text
    for name in ("ex1", "ex2", "rev"):
        assert (
            srv.post("sup", f"/api/cases/{number}/assign", json={"username": name}).status_code
            == 200
        )
    path = probe or srv.probes[0][0]
    with path.open("rb") as fh:
        r = srv.post(
            "ex1",
            f"/api/cases/{number}/requests",
            files={"probe": (path.name, fh, "image/jpeg")},
            data={"source_type": "surveillance_still", "purpose": "find the robber"},
        )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def decisions(srv: Served, user: str, packet: dict[str, Any], lead: str | None) -> dict[str, Any]:
    """A review by the letters of the user's packet (the scripted examiner "sees" which
    letter is the lead subject)."""
    seen = letter_of(srv, user, packet["request"], lead)
    return {
        c["candidate"]: {
            "decision": "possible_lead" if c["candidate"] == seen else "exclusion",
            "confidence": 4,
            "features": {"eyebrows": "same arch", "nose": "same bridge"},
            "exculpatory": checklist(PERSON),
        }
        for c in packet["candidates"]
    }


def letter_of(srv: Served, user: str, request_id: int, subject: str | None) -> str | None:
    """The letter ``user``'s packet gives ``subject`` (test knowledge; no route tells it)."""
    with srv.ctx.session() as s:
        uid = s.scalars(select(User.id).where(User.username == user)).one()
    return letters_of(srv.ctx, request_id, uid).get(subject or "")


def web_client(srv: Served, user: str) -> TestClient:
    """A browser-like client logged in through the login form (cookie + CSRF)."""
    return form_login(srv.app, user)


def form_login(app: FastAPI, user: str) -> TestClient:
    """A browser-like client of ``app`` logged in through the login form (cookie + CSRF)."""
    client = TestClient(app, base_url="https://testserver")
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    r = client.post(
        "/login",
        data={"csrf": token.group(1), "username": user, "password": PW},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None, "no CSRF token in the page"
    return m.group(1)


def all_routes(app: FastAPI) -> list[Any]:
    """Every route, with those of included routers (FastAPI keeps them behind a wrapper)."""
    out: list[Any] = []
    for r in app.routes:
        inner = getattr(r, "original_router", None)
        out += all_routes(inner) if inner is not None else [r]  # type: ignore[arg-type]
    return out
