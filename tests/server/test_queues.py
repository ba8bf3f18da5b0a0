"""Work queues, notifications, the assignment select and the case timeline, on the web.

A north case walked from assignment to a released lead (a third examiner assigned who
stays blind), beside a south case: at each step every role's queue lists exactly what
awaits that user and nothing of the other unit, the navigation's counts match, the
notifications of an assignment, a filed request, an approval, a search to review, the
reviews all in and a released lead reach the right users and are gone once read, and the
timeline lists the case's entries in order with labels and times, sealed under blind
review."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leadguard.server.web_format import when
from leadguard.services import accounts
from leadguard.storage.tables import AuditEntry, SearchLog, SearchRequest
from tests.server.conftest import PERSON, PW, Served, csrf_of, decisions, web_client
from tests.server.test_blind_and_units import leaks

pytestmark = [pytest.mark.integration, pytest.mark.api]
NORTH, SOUTH = "Q-N", "Q-S"
EXTRA = (("ex3", "examiner", "north"), ("sup_south", "supervisor", "south"))
WORKERS = ("sup", "ex1", "ex2", "rev", "ex3", "sup_south", "stranger")


def case_body(number: str) -> dict[str, Any]:
    return {
        "number": number,
        "offence": "robbery",
        "incident_date": "2026-03-01",
        "description": "street robbery",
        "attributes": PERSON,
        "officer": "Det. Rivera",
        "authority": "warrant 26-117",
    }


class Web:
    """One logged-in browser-like client per user."""

    def __init__(self, srv: Served) -> None:
        self.srv = srv
        self.clients: dict[str, TestClient] = {}

    def __call__(self, user: str) -> TestClient:
        if user not in self.clients:
            self.clients[user] = web_client(self.srv, user)
        return self.clients[user]

    def queue(self, user: str) -> dict[str, list[str]]:
        """The home page's queue: section kind -> the items' texts (with their case)."""
        html = self(user).get("/").text
        out: dict[str, list[str]] = {}
        for kind, body in re.findall(
            r'<section class="queue" aria-labelledby="queue-(\w+)">(.*?)</section>', html, re.S
        ):
            out[kind] = [
                re.sub(r"\s*\(since [^)]*\)$", "", re.sub(r"<[^>]+>", "", li)).strip()
                for li in re.findall(r"<li>(.*?)</li>", body)
            ]
        return out

    def counts(self, user: str, url: str = "/cases") -> tuple[int, int]:
        """The navigation's counts (queue, unread notifications) on any page."""
        html = self(user).get(url).text.split('<nav aria-label="Main">', 1)[-1]

        def count(href: str) -> int:
            m = re.search(rf'<a href="{href}">[^<]*(?:<span class="count">(\d+))?', html)
            assert m is not None, (user, href, "not in the navigation")
            return int(m.group(1) or 0)

        return count("/"), count("/notifications")

    def notes(self, user: str) -> list[str]:
        html = self(user).get("/notifications").text
        body = html.split('<ul class="notifications">', 1)
        if len(body) == 1:
            return []
        items = re.findall(r"<li>(.*?)</li>", body[1].split("</ul>", 1)[0])
        for li in items:  # each with its time, to the second with the zone
            assert re.match(
                r'<time datetime="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</time>: ', li
            )
        return [re.sub(r"<[^>]+>", "", li.split("</time>: ", 1)[1]) for li in items]

    def read_all(self, user: str) -> None:
        html = self(user).get("/notifications").text
        through = re.search(r'name="through" value="(\d+)"', html)
        assert through is not None, html
        r = self(user).post(
            "/notifications/read",
            data={"csrf": csrf_of(html), "through": through.group(1)},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text

    def options(self, user: str, number: str) -> list[str]:
        html = self(user).get(f"/cases/{number}").text
        select = re.search(r'<select id="assign-user" name="username"[^>]*>(.*?)</select>', html)
        return re.findall(r'<option value="([^"]+)"', select.group(1)) if select else []

    def assign(self, user: str, number: str, name: str) -> None:
        html = self(user).get(f"/cases/{number}").text
        assert name in self.options(user, number)
        r = self(user).post(
            f"/cases/{number}/assign",
            data={"csrf": csrf_of(html), "username": name},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text


def total(q: dict[str, list[str]]) -> int:
    return sum(len(v) for v in q.values())


def file_request(s: Served, user: str, number: str, i: int) -> int:
    path = s.probes[i][0]
    with path.open("rb") as fh:
        r = s.post(
            user,
            f"/api/cases/{number}/requests",
            files={"probe": ("probe.jpg", fh, "image/jpeg")},
            data={"source_type": "surveillance_still", "purpose": f"find the robber {number}"},
        )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@pytest.fixture(scope="module")
def web(served: Served) -> Web:
    admin = accounts.login(served.ctx, "admin", PW).actor
    for name, role, unit in EXTRA:
        accounts.add_user(served.ctx, admin, name, PW, role, unit)
        r = served.client.post("/api/login", json={"username": name, "password": PW})
        served.tokens[name] = r.json()["token"]
    return Web(served)


def timeline(html: str) -> list[str]:
    body = html.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    return [re.sub(r"<[^>]+>", "", li) for li in re.findall(r"<li>(.*?)</li>", body)]


def test_queues_notifications_assignment_and_timeline(served: Served, web: Web) -> None:
    s = served
    assert s.post("sup", "/api/cases", json=case_body(NORTH)).status_code == 201
    assert s.post("sup_south", "/api/cases", json=case_body(SOUTH)).status_code == 201
    for user in WORKERS:  # nothing awaits anyone yet
        assert total(web.queue(user)) == 0, user
        assert web.counts(user)[0] == 0

    # the select offers the north examiners and reviewers, no one else; assigning works
    assert web.options("sup", NORTH) == ["ex1", "ex2", "ex3", "rev"]
    assert web.options("sup_south", SOUTH) == ["stranger"]
    assert web.options("ex1", NORTH) == []  # no assignment form for an examiner
    for name in ("ex1", "ex2", "rev", "ex3"):
        web.assign("sup", NORTH, name)
    assert web.options("sup", NORTH) == []
    assert "is assigned already" in web("sup").get(f"/cases/{NORTH}").text
    web.assign("sup_south", SOUTH, "stranger")
    case = s.get("sup", f"/api/cases/{NORTH}").json()
    assert set(case["case"]["assigned"]) >= {"ex1", "ex2", "rev", "ex3"}

    # an assignment notifies the one assigned, and is gone once read
    assert web.notes("ex1") == [f"sup assigned you to case {NORTH}"]
    assert web.counts("ex1") == (0, 1)
    assert web.notes("stranger") == [f"sup_south assigned you to case {SOUTH}"]
    assert web.notes("sup") == [] and web.notes("aud") == []
    web.read_all("ex1")
    assert web.notes("ex1") == [] and web.counts("ex1") == (0, 0)
    with s.ctx.session() as db:
        marks = db.query(AuditEntry).filter(AuditEntry.action == "notification.read").all()
        assert [m.actor for m in marks] == ["ex1"]

    # requests to approve: the supervisor of each unit sees their own unit's only
    north = file_request(s, "ex1", NORTH, 0)
    south = file_request(s, "stranger", SOUTH, 1)
    assert web.queue("sup")["approve"] == [f"Case {NORTH}: request {north}: find the robber Q-N"]
    assert web.queue("sup_south")["approve"] == [
        f"Case {SOUTH}: request {south}: find the robber Q-S"
    ]
    assert web.counts("sup")[0] == 1 and web.counts("sup_south")[0] == 1
    for user in ("ex1", "ex2", "rev", "ex3", "stranger"):
        assert total(web.queue(user)) == 0, user
    assert web.notes("sup") == [
        f"ex1 filed search request {north} on case {NORTH}: it awaits approval"
    ]
    assert all(NORTH not in n for n in web.notes("sup_south"))

    # approval: the requester is told; the assigned examiners may run it
    assert s.post("sup", f"/api/requests/{north}/approve").status_code == 200
    assert total(web.queue("sup")) == 0
    assert f"sup approved your search request {north} on case {NORTH}: it can be run" in (
        web.notes("ex1")
    )
    assert web.notes("ex2") == [f"sup assigned you to case {NORTH}"]  # not their request
    for user in ("ex1", "ex2", "ex3"):
        assert web.queue(user) == {
            "run": [f"Case {NORTH}: request {north}: approved, not run yet"],
            "review": [],
            "corroborate": [],
            "outcome": [],
        }, user
    assert web.queue("rev") == {"review": []}
    assert web.queue("stranger")["run"] == []

    # the search: its reviewers are told and see it in their queue; nothing of it is shown
    assert s.post("ex1", f"/api/requests/{north}/run").status_code == 200
    with s.ctx.session() as db:
        req = db.get(SearchRequest, north)
        assert req is not None and req.search_id is not None
        row = db.get(SearchLog, req.search_id)
        assert row is not None
        cands = list(row.result["candidates"])
    assert cands, "the enrolled John should clear the open-set threshold"
    item = f"Case {NORTH}: request {north}: 0 of 2 reviews in"
    for user in ("ex2", "rev", "ex3"):
        assert web.queue(user)["review"] == [item], user
        assert web.counts(user)[0] == 1
        assert (
            f"search request {north} on case {NORTH} was run: a blind review is assigned to you"
            in (web.notes(user))
        )
    assert total(web.queue("ex1")) == 0  # the searcher may not review it
    assert all("was run" not in n for n in web.notes("ex1") + web.notes("sup"))
    for user in (*WORKERS, "aud"):
        for url in ("/", "/notifications", f"/cases/{NORTH}"):
            got = web(user).get(url)
            assert not leaks(got.text, cands), (user, url)

    # the timeline: the case's entries in order, labelled, to the second in the zone
    html = web("sup").get(f"/cases/{NORTH}").text
    lines = timeline(html)
    labels = [
        "case opened",
        "user assigned to the case",
        "search request filed",
        "search request approved",
        "search run from a request",
    ]
    positions = [
        next(i for i, x in enumerate(lines) if x.split(": ", 1)[1].startswith(lab))
        for lab in labels
    ]
    assert positions == sorted(positions), lines
    run_line = next(x for x in lines if "search run from a request" in x)
    assert "[sealed: blind review]" in run_line and f"request {north}" in run_line
    with s.ctx.session() as db:
        opened = (
            db.query(AuditEntry)
            .filter(AuditEntry.action == "case.open", AuditEntry.object == f"case:{NORTH}")
            .one()
        )
        at = opened.at
    assert lines[0] == f"{when(at, 'UTC')}: case opened (the case) by sup"
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: ", lines[0])
    assert f'<time datetime="{at}">' in html
    assert all(SOUTH not in x for x in lines)
    assert s.get("stranger", f"/api/cases/{NORTH}").status_code == 403
    assert web("stranger").get(f"/cases/{NORTH}").status_code == 403

    # two reviews: the supervisor is told it is theirs to decide; the third stays blind
    for user in ("ex2", "rev"):
        packet = s.get(user, f"/api/requests/{north}/packet").json()
        body = {"decisions": decisions(s, user, packet, s.probes[0][1])}
        assert s.post(user, f"/api/requests/{north}/reviews", json=body).status_code == 201
    assert web.queue("sup")["decide"] == [
        f"Case {NORTH}: request {north}: 1 concurring possible lead(s) to release"
    ]
    assert (
        f"every blind review of search request {north} on case {NORTH} is in: release or adjudicate"
        in (web.notes("sup"))
    )
    assert total(web.queue("ex3")) == 0 and total(web.queue("ex2")) == 0
    sup_lines = timeline(web("sup").get(f"/cases/{NORTH}").text)
    assert sum("blind review submitted" in x for x in sup_lines) == 2
    ex3_page = web("ex3").get(f"/cases/{NORTH}").text
    ex3_lines = timeline(ex3_page)
    assert not any("blind review submitted" in x for x in ex3_lines)
    assert any("[sealed until your own blind review is in]" in x for x in ex3_lines)
    assert not leaks(ex3_page, cands)

    # release: the examiners working the case are told and see the lead; the third is not
    r = s.post("sup", f"/api/requests/{north}/release", json={"subject": s.probes[0][1]})
    assert r.status_code == 201, r.text
    lead = int(r.json()["id"])
    assert total(web.queue("sup")) == 1 and web.queue("sup")["corroborate"] == [
        f"Case {NORTH}: lead {lead} (request {north}): no independent corroboration on record"
    ]
    for user in ("ex1", "ex2"):
        assert len(web.queue(user)["corroborate"]) == 1, user
        assert f"sup released lead {lead} from search request {north} on case {NORTH}" in (
            web.notes(user)
        )
    assert total(web.queue("ex3")) == 0
    assert all("lead" not in n for n in web.notes("ex3"))
    assert not leaks(web("ex3").get("/").text + web("ex3").get("/notifications").text, cands)
    for user in ("sup_south", "stranger"):
        q = web.queue(user)
        assert all(NORTH not in x for items in q.values() for x in items), user
        assert all(NORTH not in n for n in web.notes(user)), user
    assert web.counts("sup") == (1, len(web.notes("sup")))

    # the auditor and the admin have no queue and no counts
    for user in ("aud", "admin"):
        home = web(user).get("/").text
        assert "Your queue" not in home and 'class="count"' not in home
