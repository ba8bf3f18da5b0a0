"""The audit log page: paged newest first by sequence number, filters in SQL (case, user,
action family, days in the workspace's time zone), labels rather than JSON, the same
readable() rule as the export. A workspace with accounts and no face model (the page needs
none), entries bulk-inserted with their real chain hashes at chosen times."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from leadguard.audit import log as audit
from leadguard.server.app import create_app
from leadguard.server.web_format import when
from leadguard.services import accounts, audit_pages
from leadguard.services.casework import service
from leadguard.services.context import Context
from leadguard.storage.tables import AuditEntry
from leadguard.storage.workspace import Workspace
from tests.server.conftest import PW, form_login

pytestmark = [pytest.mark.api]
START = datetime(2026, 6, 30, 20, 0, 0, 123456, tzinfo=UTC)  # 22:00 in Berlin (summer)
N = 130


def fill(ctx: Context, n: int) -> None:
    """``n`` chained entries an hour apart from START, alternating the north and south
    cases, by ex1 (north) and ex_s (south)."""
    with ctx.session() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
        seq, prev = last.seq, last.hash
        rows = []
        for i in range(n):
            seq += 1
            at = (START + timedelta(hours=i)).isoformat()
            number, actor = (("P-N", "ex1"), ("P-S", "ex_s"))[i % 2]
            action = ("case.view", "request.create", "refused")[i % 3]
            details = {"reason": f"entry {i}", "records": [{"table": "cases", "id": 1}]}
            obj = f"case:{number}"
            h = audit.content_hash(prev, seq, at, actor, action, obj, details)
            rows.append(dict(seq=seq, at=at, actor=actor, action=action, object=obj))
            rows[-1].update(details=details, prev_hash=prev, hash=h)
            prev = h
        s.execute(insert(AuditEntry), rows)


@pytest.fixture(scope="module")
def app_ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Context]]:
    root: Path = tmp_path_factory.mktemp("auditpage") / "ws"
    ws = Workspace.init(root, workers=1)
    (root / "leadguard.toml").open("a").write('time_zone = "Europe/Berlin"\n')
    ws.close()
    ctx = Context.open(root)
    accounts.add_user(ctx, None, "admin", PW, "admin")
    admin = accounts.login(ctx, "admin", PW).actor
    for name, role, unit in (
        ("sup", "supervisor", "north"),
        ("sup_s", "supervisor", "south"),
        ("ex1", "examiner", "north"),
        ("ex_s", "examiner", "south"),
        ("aud", "auditor", ""),
    ):
        accounts.add_user(ctx, admin, name, PW, role, unit)
    for number, sup in (("P-N", "sup"), ("P-S", "sup_s")):
        who = accounts.login(ctx, sup, PW).actor
        service.open_case(ctx, who, number, "robbery", date(2026, 3, 1), "d", {}, "o", "w")
    fill(ctx, N)
    yield create_app(ctx, preload=False, login_limit=1000), ctx
    ctx.close()


def seqs(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<td data-label="Entry">(\d+)</td>', html)]


def link(html: str, rel: str) -> str | None:
    m = re.search(rf'<a href="([^"]+)" rel="{rel}">', html)
    return m.group(1).replace("&amp;", "&") if m else None


def test_pages_newest_first_without_gaps_or_overlap(app_ctx: tuple[Any, Context]) -> None:
    app, ctx = app_ctx
    aud = form_login(app, "aud")
    with ctx.session() as s:
        head = s.scalar(select(AuditEntry.seq).order_by(AuditEntry.seq.desc()).limit(1))
    first = aud.get("/audit")
    assert first.status_code == 200
    page1 = seqs(first.text)
    assert page1 == list(range(head, head - 50, -1))  # the newest 50, newest first
    assert link(first.text, "prev") is None
    older = link(first.text, "next")
    assert older == f"/audit?before={head - 49}"
    second = aud.get(older)
    page2 = seqs(second.text)
    assert page2 == list(range(head - 50, head - 100, -1))
    back = link(second.text, "prev")
    assert back is not None and seqs(aud.get(back).text) == page1  # the newer page again
    # to the oldest: every entry once, then no older link
    seen, url = page1 + page2, link(second.text, "next")
    while url:
        r = aud.get(url)
        seen += seqs(r.text)
        url = link(r.text, "next")
    assert sorted(seen, reverse=True) == seen and len(seen) == len(set(seen)) == head


def test_filters_labels_and_time_zone(app_ctx: tuple[Any, Context]) -> None:
    app, _ = app_ctx
    aud = form_login(app, "aud")
    r = aud.get("/audit", params={"case": "P-S", "action": "refused", "actor": "ex_s"})
    assert r.status_code == 200
    rows = re.findall(r'<tr class="refused">', r.text)
    assert len(rows) == len(seqs(r.text)) > 0  # only refusals
    assert "case:P-N" not in r.text and ">ex1<" not in r.text
    assert "&#34;reason&#34;" not in r.text and '{"reason"' not in r.text  # no raw JSON
    assert "<dt>Reason</dt>" in r.text and "<dt>Records (content hashed)</dt>" in r.text
    # the family: "request" selects request.create; "req" selects nothing
    fam = aud.get("/audit", params={"action": "request", "case": "P-N"}).text
    assert seqs(fam) and "request.create" in fam and "case.view</span>" not in fam
    assert seqs(aud.get("/audit", params={"action": "req"}).text) == []
    # times in Europe/Berlin, to the second: the first entry (20:00:00.123456 UTC) is
    # 22:00:00 CEST on 30 June, so the day 2026-06-30 in Berlin holds entries 0 and 1 only
    day = aud.get("/audit", params={"since": "2026-06-30", "until": "2026-06-30"}).text
    assert len(seqs(day)) == 2
    shown = re.findall(r">([^<>]*)</time>", day)  # the text shown (the attribute: ISO 8601)
    assert shown == ["2026-06-30 23:00:00 CEST", "2026-06-30 22:00:00 CEST"]
    assert "times in Europe/Berlin" in day
    bad = aud.get("/audit", params={"since": "2026-07-02", "until": "2026-07-01"})
    assert bad.status_code == 400 and "after the last" in bad.text


def test_supervisors_read_their_units_entries_only(app_ctx: tuple[Any, Context]) -> None:
    app, _ = app_ctx
    for sup, mine, other in (("sup", "case:P-N", "case:P-S"), ("sup_s", "case:P-S", "case:P-N")):
        client = form_login(app, sup)
        html = client.get("/audit").text
        assert len(seqs(html)) == 50 and mine in html and other not in html
        assert client.get("/audit", params={"case": other[5:]}).status_code == 403
    assert form_login(app, "ex1").get("/audit").status_code == 403  # examiners: never the log


def test_reading_a_page_is_audited(app_ctx: tuple[Any, Context]) -> None:
    _, ctx = app_ctx
    aud = accounts.login(ctx, "aud", PW).actor
    got = audit_pages.page(ctx, aud, audit_pages.AuditQuery(case="P-N", size=5))
    assert len(got.entries) == 5 and got.older is not None and got.newer is None
    with ctx.session() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert (last.action, last.object, last.actor) == ("audit.export", "case:P-N", "aud")
    assert last.details["entries"] == 5 and last.details["page"]["case"] == "P-N"
    with ctx.session() as s:
        assert audit.verify(s).broken_at is None  # the bulk entries continue the chain


def test_when_drops_microseconds_and_names_the_zone() -> None:
    assert when("2026-12-02T13:37:56.999999+00:00") == "2026-12-02 13:37:56 UTC"
    assert when(datetime(2026, 1, 15, 12, 0, 1, 5), "America/Chicago") == "2026-01-15 06:00:01 CST"
    assert when(date(2026, 1, 15)) == "2026-01-15" and when(None) == ""
