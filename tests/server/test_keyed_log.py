"""The keyed audit log through the server: the API and the web page name an entry forged
without the key, and a server without the key refuses to write (503, "Nothing was
written") instead of leaving an unkeyed entry."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.server.app import create_app
from leadguard.services import accounts
from leadguard.services.audit_key import adopt_key
from leadguard.services.context import Context
from leadguard.storage.workspace import Workspace
from tests.server.conftest import PW, Served, web_client

pytestmark = [pytest.mark.integration, pytest.mark.api]


def test_a_forged_entry_is_named_by_the_api_and_the_page(served: Served) -> None:
    s = served
    keys = s.root / "keys"
    keys.mkdir(mode=0o700)
    admin = accounts.login(s.ctx, "admin", PW).actor
    done = adopt_key(s.ctx, admin, keys / "audit.key")
    v = s.get("aud", "/api/audit/verify").json()
    assert v["intact"] and f"from entry {done.seq} on" in v["keyed"], v
    with Session(s.ctx.ws.engine) as raw, raw.begin():  # an insider: the code, not the key
        forged = audit.append(raw, "settings.set", "settings:target_fpir", {"new": 0.3}).seq
    v = s.get("aud", "/api/audit/verify").json()
    assert not v["intact"] and v["broken_at"] is None
    assert f"entry {forged}" in v["key_problems"][0]
    page = web_client(s, "aud").get("/audit/verify")
    assert page.status_code == 200 and "authentication codes:</p>" in page.text
    assert f"entry {forged}" in page.text

    before = s.get("aud", "/api/audit/verify").json()["entries"]
    bare = Workspace(s.ctx.root, s.ctx.settings.model_copy(update={"audit_mac_key": None}))
    app = create_app(Context(bare), secure_cookies=True, login_limit=1000, preload=False)
    with TestClient(app, base_url="https://testserver") as client:
        r = client.post("/api/login", json={"username": "ex1", "password": PW})
        assert r.status_code == 503, r.text
        assert "this process has no key" in r.text and "Nothing was written" in r.text
    bare.close()
    assert s.get("aud", "/api/audit/verify").json()["entries"] == before  # nothing written
