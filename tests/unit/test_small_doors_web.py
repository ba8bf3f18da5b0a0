"""Small doors of the web shell and its services, found by an adversarial pass (2026-12-07):
a login name of any length written into the audit log, names tried once kept forever by
the limiter, form numbers that crashed the server, the last day of the calendar, a
truncated JPEG kept as an external search's probe, a preview naming the raw file name,
and the comparison view recomputed on every request."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from leadguard.core.errors import InputError, UnreadableImage
from leadguard.core.types import Box
from leadguard.server import state as server_state
from leadguard.server.app import create_app
from leadguard.server.auth import LOGIN_CSRF_COOKIE
from leadguard.server.web import whole_number
from leadguard.services import accounts, comparison
from leadguard.services.audit_pages import day_bounds
from leadguard.services.casework import external
from leadguard.services.casework import service as cw
from leadguard.services.context import Context
from leadguard.storage.tables import AuditEntry
from tests.conftest import FIXTURES
from tests.unit.accounts_kit import PW, north_desk


@pytest.fixture()
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    return north_desk(tmp_path / "ws", monkeypatch)


def _entries(ctx: Context) -> int:
    with ctx.session() as s:
        return int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def _web_login(client: TestClient, username: str, password: str) -> object:
    client.get("/login")
    token = client.cookies.get(LOGIN_CSRF_COOKIE)
    form = {"csrf": token, "username": username, "password": password}
    return client.post("/login", data=form, follow_redirects=False)


def test_a_login_name_longer_than_any_account_is_refused_before_it_is_recorded(
    ctx: Context,
) -> None:
    before = _entries(ctx)
    app = create_app(ctx, secure_cookies=False, preload=False)
    with TestClient(app) as client:
        r = _web_login(client, "Z" * 500_000, "x")
        assert r.status_code == 400 and len(r.text) < 50_000  # type: ignore[attr-defined]
        assert "1 to 200 characters" in r.text  # type: ignore[attr-defined]
        api = client.post("/api/login", json={"username": "Z" * 201, "password": "x"})
        assert api.status_code == 422
        assert _web_login(client, "nobody", "wrong password").status_code == 401  # type: ignore[attr-defined]
    assert _entries(ctx) == before + 1  # only the ordinary failed login is on record
    with pytest.raises(InputError, match="1 to 200"):
        accounts.add_user(ctx, accounts.login(ctx, "admin", PW).actor, "Y" * 201, PW, "examiner")


def test_the_limiter_forgets_names_whose_attempts_left_the_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(server_state.time, "monotonic", lambda: now[0])
    limiter = server_state.RateLimiter(limit=3, window=60.0)
    early = 3 * server_state.RateLimiter.SWEEP_FROM
    for i in range(early):
        assert limiter.hit(f"name{i}") == 0.0
    for _ in range(3):
        limiter.hit("kept")
    assert limiter.hit("kept") > 0  # the limit holds within the window
    assert len(limiter) == early + 1  # nothing has left the window yet: all kept
    now[0] += 61.0
    for i in range(early):
        limiter.hit(f"late{i}")
    assert len(limiter) <= early  # the early names were swept (else 2 x early + 1)
    assert limiter.hit("kept") == 0.0  # its attempts had left the window too


def test_form_numbers_are_ascii_digits_and_short() -> None:
    assert whole_number("12") == 12 and whole_number("007") == 7
    for bad in ("²", "١٢", "", "-1", "1.5", "1" * 10, " 1"):
        assert whole_number(bad) is None, bad


def test_the_calendar_s_first_and_last_days_bound_every_stored_time() -> None:
    begins, ends = day_bounds(date.max, ZoneInfo("UTC"))
    assert begins.startswith("9999-12-31") and ends > "9999-12-31T23:59:59.999999+00:00"
    begins, _ = day_bounds(date.min, ZoneInfo("Asia/Tokyo"))
    assert begins == ""


def test_an_external_search_s_truncated_probe_is_refused(ctx: Context, tmp_path: Path) -> None:
    sup = accounts.login(ctx, "sup", PW).actor
    cw.open_case(ctx, sup, "C-1", "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")
    good = next((FIXTURES / "dlib_johns").glob("*/*.jpg")).read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(UnreadableImage, match=r"sent\.jpg: corrupt or truncated"):
        external.record_external_search(
            ctx, sup, "C-1", "a", "b", date(2026, 3, 2), "x", "mail", cut, "other", "", "sent.jpg"
        )


def test_a_preview_s_refusal_names_the_upload_s_label(ctx: Context) -> None:
    sup = accounts.login(ctx, "sup", PW).actor
    cw.open_case(ctx, sup, "C-1", "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")
    cw.assign(ctx, sup, "C-1", "ex1")
    app = create_app(ctx, secure_cookies=False, preload=False)
    with TestClient(app) as client:
        _web_login(client, "ex1", PW)
        page = client.get("/cases/C-1").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        r = client.post(
            "/cases/C-1/requests",
            data={"csrf": csrf.group(1), "action": "preview", "source_type": "other"},
            files={"probe": ("../../etc/\u202epasswd.jpg", b"not an image", "image/jpeg")},
        )
    assert r.status_code == 400, r.text
    assert "_passwd.jpg" in r.text and "../" not in r.text and "\u202e" not in r.text


def test_a_comparison_side_is_aligned_once_and_then_reused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []

    def align(data: bytes, box: Box, what: str, max_pixels: int) -> object:
        calls.append(what)
        raise InputError("no eyes")  # a refusal is kept like an alignment

    monkeypatch.setattr(comparison, "align_face", align)
    monkeypatch.setattr(comparison, "_aligned", type(comparison._aligned)())
    box = Box(1, 2, 30, 40)
    first = comparison.align_side(b"probe bytes", box, "", "probe", 10**7)
    again = comparison.align_side(b"probe bytes", box, "", "probe", 10**7)
    other = comparison.align_side(b"other bytes", box, "", "probe", 10**7)
    assert first == again and first.png is None and "no eyes" in first.problem
    assert calls == ["probe", "probe"] and other == first


def test_a_case_is_opened_in_its_opener_s_unit(ctx: Context) -> None:
    from leadguard.services.authz import NotAllowed

    args = ("Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")
    ex1 = accounts.login(ctx, "ex1", PW).actor
    for other in ("south", "ghost"):
        with pytest.raises(NotAllowed, match=f"own unit \\(north\\) only, not in '{other}'"):
            cw.open_case(ctx, ex1, "S-1", *args, unit=other)
    assert cw.open_case(ctx, ex1, "N-1", *args, unit="north").unit == "north"
    assert cw.open_case(ctx, ex1, "N-2", *args).unit == "north"


def test_an_urgent_search_of_a_photo_awaiting_its_blind_review_is_refused(
    ctx: Context, tmp_path: Path
) -> None:
    from PIL import Image

    from leadguard.services import search as search_svc
    from leadguard.services.casework.policy import PolicyRefused

    sup = accounts.login(ctx, "sup", PW).actor
    ex1 = accounts.login(ctx, "ex1", PW).actor
    cw.open_case(ctx, sup, "C-1", "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")
    cw.assign(ctx, sup, "C-1", "ex1")
    still, other = tmp_path / "still.jpg", tmp_path / "other.jpg"
    Image.new("RGB", (64, 64), (90, 80, 70)).save(still)
    Image.new("RGB", (64, 64), (10, 20, 30)).save(other)
    filed = cw.request_search(ctx, ex1, "C-1", still, "surveillance_still", "a lead")
    urgent = search_svc.Override("C-1", "a child is missing")
    for status in ("pending", "approved"):
        with pytest.raises(PolicyRefused, match="sealed until its search has run"):
            search_svc.search(ctx, sup, search_svc.SearchRequest(still, "other"), urgent)
        if status == "pending":
            cw.approve(ctx, sup, filed.id)
    with ctx.read_session() as s:  # another photo is not held back
        search_svc.refuse_if_under_review(ctx, s, search_svc.SearchRequest(other, "other"))
    with ctx.session() as s:
        refused = s.scalars(select(AuditEntry).where(AuditEntry.action == "refused"))
        rules = [e.details.get("rule") for e in refused if e.object == "case:C-1"]
    assert rules == ["sealed_probe", "sealed_probe"], rules  # each refusal on record
