"""Small doors closed: spreadsheet formulas in exported CSV cells, safeguard settings from
the environment, the login limit dodged with X-Forwarded-For, and server temporary paths
in error messages. (One refusal message for every account name: test_audit_volatile.py.)"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from leadguard.core.csvsafe import cell_in, cell_out
from leadguard.core.errors import UnreadableImage, WorkspaceError
from leadguard.evaluation.scores import read_rows, write_rows
from leadguard.pipeline.decode import check_header
from leadguard.server.app import create_app
from leadguard.server.auth import client_address
from leadguard.server.uploads import as_file
from leadguard.services import accounts
from leadguard.services.casework import service as cw
from leadguard.services.context import Context
from tests.unit.accounts_kit import PW, north_desk

HOSTILE = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "'=quoted"]
# the same signs in full-width and small forms, the minus sign, and after leading spaces
WIDE = [
    "\uff1dSUM(1,2)",
    "-\u0663",  # Arabic-Indic three: a digit to Python's \d, not a number to a spreadsheet
    "+\uff11",  # full-width one
    "\ufe661+1",
    "\uff0b1",
    "\uff20x",
    "\uff0d1",
    "\u22121",
    " =1",
    "\u3000=1",
]


@pytest.fixture()
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    c = north_desk(tmp_path / "ws", monkeypatch)
    return c


# --- CSV exports ---


def test_exported_csv_cells_never_start_a_formula(tmp_path: Path) -> None:
    rows = [
        {"probe_identity": name, "reference_identity": "plain", "score": -0.25, "fold": "-3"}
        for name in HOSTILE
    ]
    cols = ["probe_identity", "reference_identity", "score", "fold"]
    for name in ("scores.csv", "scores.csv.gz"):
        path = tmp_path / name
        write_rows(path, cols, rows)
        if name.endswith(".csv"):
            with path.open(newline="") as fh:
                raw = list(csv.DictReader(fh))
            for r in raw:
                assert r["probe_identity"].startswith("'"), r
                assert r["score"] == "-0.2500000" and r["fold"] == "-3"  # numbers stay numbers
        back = list(read_rows(path))  # the analysis reads back exactly what was written
        assert [r["probe_identity"] for r in back] == HOSTILE
        assert all(r["reference_identity"] == "plain" for r in back)


def test_full_width_and_spaced_formula_signs_are_neutralised_too() -> None:
    for value in WIDE:
        out = cell_out(value)
        assert isinstance(out, str) and out.startswith("'") and cell_in(out) == value, value
    for value in ("abc", "\uff41bc", "2026-12-07", "-0.25", "1e-3"):  # text and numbers pass
        assert cell_out(value) == value


# --- safeguard settings from the environment ---


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("LEADGUARD_INDEX_BACKEND", "faiss-flat"),
        ("LEADGUARD_MILVUS_URI", "http://elsewhere:19530"),
        ("LEADGUARD_DETECTOR_FALLBACK_ADJUST", "0"),
        ("LEADGUARD_TRUSTED_PROXIES", '["0.0.0.0/0"]'),
        ("LEADGUARD_EXPENSIVE_PER_USER", "100000"),
        ("LEADGUARD_EXPENSIVE_PER_ADDRESS", "100000"),
        ("LEADGUARD_MAX_FORM_BYTES", "999999999"),
        ("LEADGUARD_SERVER_COMPUTE_QUEUE", "100000"),
        ("LEADGUARD_SERVER_COMPUTE_SLOTS", "64"),
        ("LEADGUARD_MAX_IMAGE_BYTES", "2000000000"),
        ("LEADGUARD_MAX_IMAGE_PIXELS", "4000000000"),
        ("LEADGUARD_DETECTOR_UPSAMPLE", "3"),
        ("LEADGUARD_SFACE_MIRROR", "true"),  # another embedding space: people left unsearched
        # pydantic-settings matches names in any case: so must the refusal
        ("leadguard_index_backend", "faiss-flat"),
        ("Leadguard_Session_Hours", "24"),
    ],
)
def test_index_detector_and_proxy_settings_are_refused_from_the_environment(
    ctx: Context, monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(WorkspaceError, match=var):
        Context.open(ctx.root)
    monkeypatch.delenv(var)
    assert Context.open(ctx.root).settings.trusted_proxies == []


# --- the per-address login limit ---


def _request(peer: str, forwarded: list[str]) -> Request:
    headers = [(b"x-forwarded-for", v.encode()) for v in forwarded]
    scope: dict[str, Any] = {"type": "http", "client": (peer, 1234), "headers": headers}
    return Request(scope)


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    for spoof in ("1.1.1.1", "2.2.2.2, 3.3.3.3"):
        assert client_address(_request("203.0.113.9", [spoof]), []) == "203.0.113.9"
        assert client_address(_request("203.0.113.9", [spoof]), ["10.0.0.0/8"]) == "203.0.113.9"
    proxy = ["10.0.0.0/8"]
    assert client_address(_request("10.0.0.2", ["198.51.100.7"]), proxy) == "198.51.100.7"
    # a client's own forged hops stay to the left of what the proxies appended
    seen = _request("10.0.0.2", ["1.1.1.1, 198.51.100.7, 10.0.0.3"])
    assert client_address(seen, proxy) == "198.51.100.7"
    assert client_address(_request("10.0.0.2", []), proxy) == "10.0.0.2"


def test_rotating_x_forwarded_for_gains_no_login_attempts(ctx: Context) -> None:
    app = create_app(ctx, secure_cookies=False, login_limit=3, preload=False)
    with TestClient(app, client=("203.0.113.9", 4000)) as client:
        codes = [
            client.post(
                "/api/login",
                json={"username": f"u{i}", "password": "wrong password"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            ).status_code
            for i in range(5)
        ]
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]  # a bad login is 401


def test_serve_does_not_let_uvicorn_rewrite_the_client_address(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn
    from typer.testing import CliRunner

    import leadguard.server.app as app_module
    from leadguard.cli.main import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.setattr(app_module, "create_app", lambda *a, **kw: object())
    result = CliRunner().invoke(app, ["serve", "-w", str(ctx.root)])
    assert result.exit_code == 0, result.output
    assert seen.get("proxy_headers") is False


# --- uploads: messages name the file sent, never the server's temporary copy ---


def test_an_error_inside_an_upload_names_the_uploaded_file() -> None:
    with pytest.raises(UnreadableImage) as err, as_file(b"not an image", "../../my probe.jpg") as p:
        check_header(p.read_bytes(), str(p), 10_000_000)
    assert "leadguard-upload-" not in str(err.value) and "/tmp" not in str(err.value)
    assert str(err.value).startswith("my_probe.jpg: ")
    assert err.value.source == "my_probe.jpg"


def test_a_refused_upload_through_the_api_names_the_file(ctx: Context) -> None:
    sup = accounts.login(ctx, "sup", PW).actor
    cw.open_case(ctx, sup, "C-1", "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")
    cw.assign(ctx, sup, "C-1", "ex1")
    app = create_app(ctx, secure_cookies=False, preload=False)
    with TestClient(app) as client:
        token = client.post("/api/login", json={"username": "ex1", "password": PW}).json()
        r = client.post(
            "/api/cases/C-1/requests",
            headers={"Authorization": f"Bearer {token['token']}"},
            files={"probe": ("still.jpg", b"\xff\xd8 truncated, not a JPEG", "image/jpeg")},
            data={"source_type": "surveillance_still", "purpose": "find the robber"},
        )
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert "still.jpg" in message and "leadguard-upload-" not in message and "/tmp" not in message


def test_an_urgent_search_upload_is_recorded_and_refused_by_its_name(ctx: Context) -> None:
    from sqlalchemy import select

    from leadguard.storage.tables import ProbeRecord, SearchLog

    sup = accounts.login(ctx, "sup", PW).actor
    cw.open_case(ctx, sup, "C-2", "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")
    app = create_app(ctx, secure_cookies=False, preload=False)
    with TestClient(app) as client:
        token = client.post("/api/login", json={"username": "sup", "password": PW}).json()
        r = client.post(
            "/api/search",
            headers={"Authorization": f"Bearer {token['token']}"},
            files={"probe": ("urgent.jpg", b"\xff\xd8 truncated, not a JPEG", "image/jpeg")},
            data={"case": "C-2", "reason": "a child is missing", "source_type": "other"},
        )
    assert r.status_code == 400, r.text
    assert r.json()["message"].startswith("urgent.jpg: ")
    with ctx.session() as s:
        names = [p.original_name for p in s.scalars(select(ProbeRecord))]
        names += [row.probe_source for row in s.scalars(select(SearchLog))]
    assert names and all(n == "urgent.jpg" for n in names), names


# --- settings set: policy files that parse, list settings, safeguard ranges ---


def test_settings_set_refuses_a_policy_file_that_does_not_parse(ctx: Context) -> None:
    from leadguard.core.errors import InputError
    from leadguard.services.settings import set_setting

    admin = accounts.login(ctx, "admin", PW).actor
    before = (ctx.root / "leadguard.toml").read_text()
    for key, value, why in (
        ("quality_policy", "/etc/passwd", "not a usable policy file"),
        ("casework_policy", "/etc/hostname", "not a usable policy file"),
        ("casework_policy", "/nonexistent.toml", "not a file"),
        ("target_fpir", "0.5", "less than or equal to 0.1"),
        ("target_fpir", "1e-300", "greater than or equal to"),
        ("source_roots", "relative/dir", "not an absolute path of a folder"),
        ("source_roots", "/", "would let a manifest point anywhere"),
    ):
        with pytest.raises(InputError, match=why):
            set_setting(ctx, admin, key, value)
    assert (ctx.root / "leadguard.toml").read_text() == before  # nothing written
    roots = ctx.root.parent / "photos"
    roots.mkdir()
    change = set_setting(ctx, admin, "source_roots", f"{roots}:{ctx.root.parent}")
    assert change.new == [roots, ctx.root.parent]


def test_a_bad_settings_value_reads_as_one_line(tmp_path: Path) -> None:
    from leadguard.core.config import load_settings

    (tmp_path / "leadguard.toml").write_text("[leadguard]\nmax_image_pixels = 1e30\n")
    with pytest.raises(WorkspaceError) as exc:
        load_settings(tmp_path)
    text = str(exc.value)
    assert text.startswith("invalid settings: max_image_pixels: ") and "given" in text
    assert "\n" not in text and "pydantic.dev" not in text
