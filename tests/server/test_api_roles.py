"""Every API endpoint against every role: who is refused (403, recorded in the audit log),
and that no endpoint answers without a login (401)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from tests.server.conftest import Served, all_routes, decisions, open_case

pytestmark = [pytest.mark.integration, pytest.mark.api]
ROLES = ("admin", "sup", "ex1", "ex2", "rev", "aud", "stranger")


@pytest.fixture(scope="module")
def lead(served: Served) -> dict[str, Any]:
    """A case with a searched request, two concurring reviews and a released lead."""
    s = served
    rid = open_case(s, "ROLE-1")
    assert s.post("sup", f"/api/requests/{rid}/approve").status_code == 200
    assert s.post("ex1", f"/api/requests/{rid}/run").status_code == 200
    subject = s.probes[0][1]
    for name in ("ex2", "rev"):
        packet = s.get(name, f"/api/requests/{rid}/packet").json()
        r = s.post(
            name,
            f"/api/requests/{rid}/reviews",
            json={"decisions": decisions(s, name, packet, subject)},
        )
        assert r.status_code == 201, r.text
    r = s.post("sup", f"/api/requests/{rid}/release", json={"subject": subject})
    assert r.status_code == 201, r.text
    return {"request": rid, "lead": r.json()["id"], "subject": subject}


def endpoints(x: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], set[str]]]:
    """(method, url, request keywords, roles refused with 403)."""
    rid, lid, subj = x["request"], x["lead"], x["subject"]
    case = {
        "number": "ROLE-NEW",
        "offence": "robbery",
        "incident_date": "2026-03-01",
        "description": "d",
        "officer": "o",
        "authority": "a",
    }
    corro = {
        "kind": "documents_or_records",
        "description": "his alibi was false: the shift log shows he left at noon",
        "how_obtained": "employer's shift log",
        "obtained_by": "Det",
        "obtained_on": date.today().isoformat(),
        "face_comparison_involved": False,
        "witness_shown_candidate": False,
        "links_to": "offence",
    }
    shown = {
        "administrator": "aud",
        "instruction": "The person may or may not be present.",
        "decisions": [],
        "witness": "W-1",
        "witness_type": "in_person",
    }
    png = x["probe"].read_bytes()
    upload = {
        "files": {"probe": ("p.jpg", png, "image/jpeg")},
        "data": {"source_type": "surveillance_still", "purpose": "p"},
    }
    urgent = {
        "files": {"probe": ("p.jpg", png, "image/jpeg")},
        "data": {"case": "ROLE-1", "reason": "r", "source_type": "other"},
    }
    mark = {"subject": subj, "image": "probe", "kind": "point", "feature": "nose"}
    mark |= {"points": [[10, 10]]}
    not_admin = {"admin"}
    readers = {"ex1", "ex2", "rev", "admin"}  # refused audit and gallery reads
    return [
        ("GET", "/api/cases", {}, not_admin),
        ("POST", "/api/cases", {"json": case}, {"rev", "aud", "admin"}),
        ("GET", "/api/cases/ROLE-1", {}, {"admin", "stranger"}),
        (
            "POST",
            "/api/cases/ROLE-1/assign",
            {"json": {"username": "ex2"}},
            {"ex1", "ex2", "rev", "aud", "admin", "stranger"},
        ),
        (
            "POST",
            "/api/cases/ROLE-1/suspect",
            {"json": {"lead": lid}},
            {"ex1", "ex2", "rev", "aud", "admin", "stranger"},
        ),
        ("GET", "/api/requests", {}, not_admin),
        ("POST", "/api/cases/ROLE-1/requests", upload, {"rev", "aud", "admin", "stranger"}),
        (
            "POST",
            f"/api/requests/{rid}/approve",
            {},
            {"ex1", "ex2", "rev", "aud", "admin", "stranger"},
        ),
        ("POST", f"/api/requests/{rid}/run", {}, {"sup", "rev", "aud", "admin", "stranger"}),
        ("GET", f"/api/requests/{rid}/probe", {}, {"admin", "stranger"}),
        (
            "GET",
            f"/api/requests/{rid}/candidate-image",
            {"params": {"subject": subj}},
            {"admin", "stranger"},
        ),
        (
            "GET",
            f"/api/requests/{rid}/comparison",
            {"params": {"subject": subj}},
            {"admin", "stranger"},
        ),
        (
            "GET",
            f"/api/requests/{rid}/annotations",
            {"params": {"subject": subj}},
            {"admin", "stranger"},
        ),
        (  # the examiners' marks closed with their reviews; after the reveal the supervisor's
            "POST",
            f"/api/requests/{rid}/annotations",
            {"json": mark},
            {"ex1", "ex2", "rev", "aud", "admin", "stranger"},
        ),
        (
            "POST",
            f"/api/requests/{rid}/annotations/999999/delete",
            {},
            {"admin", "stranger"},
        ),
        ("GET", "/api/reviews/queue", {}, {"sup", "aud", "admin"}),
        ("GET", f"/api/requests/{rid}/packet", {}, {"sup", "aud", "admin", "stranger"}),
        (
            "POST",
            f"/api/requests/{rid}/reviews",
            {"json": {"decisions": {}}},
            {"sup", "aud", "admin", "stranger"},
        ),
        ("GET", f"/api/requests/{rid}/reveal", {}, {"admin", "stranger"}),
        (
            "POST",
            f"/api/requests/{rid}/release",
            {"json": {"subject": subj}},
            {"ex1", "ex2", "rev", "aud", "admin", "stranger"},
        ),
        (
            "POST",
            f"/api/requests/{rid}/adjudicate",
            {"json": {"subject": subj, "release": False, "note": "n"}},
            {"ex1", "ex2", "rev", "aud", "admin", "stranger"},
        ),
        (
            "POST",
            "/api/cases/ROLE-1/external-searches",
            {
                "json": {
                    "run_by": "a",
                    "system": "b",
                    "run_on": "2026-03-03",
                    "candidate": "c",
                    "how_received": "d",
                }
            },
            {"rev", "aud", "admin", "stranger"},
        ),
        ("GET", "/api/cases/ROLE-1/external-searches", {}, {"admin", "stranger"}),
        ("GET", "/api/leads", {}, {"rev", "admin"}),
        ("GET", "/api/leads/stats", {}, {"ex1", "ex2", "rev", "admin", "stranger"}),
        (
            "POST",
            f"/api/leads/{lid}/corroborate",
            {"json": corro},
            {"rev", "aud", "admin", "stranger"},
        ),
        (
            "GET",
            f"/api/requests/{rid}/brief?subject={subj}",
            {},
            {"ex1", "ex2", "rev", "aud", "admin", "stranger"},
        ),
        (
            "POST",
            f"/api/leads/{lid}/administer",
            {"json": shown},
            {"rev", "aud", "admin", "stranger"},
        ),
        (
            "POST",
            "/api/cases/ROLE-1/facts",
            {"json": {"name": "tattoo", "text": "snake, left forearm"}},
            {"rev", "aud", "admin", "stranger"},
        ),
        (
            "POST",
            f"/api/leads/{lid}/array",
            {"json": {"sex": "M"}},
            {"rev", "aud", "admin", "stranger"},
        ),
        (
            "POST",
            f"/api/leads/{lid}/outcome",
            {"json": {"outcome": "no_further_action"}},
            {"rev", "aud", "admin", "stranger"},
        ),
        ("POST", "/api/search", urgent, {"ex1", "ex2", "rev", "aud", "admin", "stranger"}),
        ("GET", "/api/users", {}, set(ROLES) - {"admin", "aud"}),
        (
            "POST",
            "/api/users",
            {"json": {"username": "zz", "password": "p" * 12, "role": "examiner"}},
            set(ROLES) - {"admin"},
        ),
        ("GET", "/api/audit/verify", {}, readers | {"stranger"}),
        ("GET", "/api/audit/entries", {"params": {"case": "ROLE-1"}}, readers | {"stranger"}),
        ("GET", "/api/audit/page", {"params": {"case": "ROLE-1"}}, readers | {"stranger"}),
        ("GET", "/api/cases/ROLE-1/export", {}, readers | {"stranger"}),
        ("GET", "/api/gallery/stats", {}, {"ex1", "ex2", "rev", "stranger"}),
        ("GET", "/api/gallery/duplicates", {}, {"ex1", "ex2", "rev", "stranger"}),
        (
            "POST",
            "/api/gallery/duplicates/resolve",
            {"json": {"subject_a": "a", "subject_b": "b", "verdict": "same person", "note": "n"}},
            set(ROLES) - {"admin"},
        ),
        ("GET", "/api/searches", {}, {"ex1", "ex2", "rev", "stranger"}),
        ("GET", "/api/records", {}, {"ex1", "ex2", "rev", "stranger"}),
    ]


def test_every_endpoint_refuses_the_wrong_roles(served: Served, lead: dict[str, Any]) -> None:
    s = served
    table = endpoints({**lead, "probe": s.probes[0][0]})
    routes = {
        (m, r.path)
        for r in all_routes(s.app)
        if getattr(r, "path", "").startswith("/api/")
        for m in getattr(r, "methods", ())
        if m in ("GET", "POST")
    }
    covered = {(m, u) for m, u, _, _ in table} | {
        ("POST", "/api/login"),
        ("POST", "/api/logout"),
        ("GET", "/api/me"),
        ("GET", "/api/openapi.json"),
        ("GET", "/api/docs"),
    }

    def template(u: str) -> str:
        u = u.split("?")[0]
        u = re.sub(r"/requests/\d+", "/requests/{request_id}", u.replace("ROLE-1", "{number}"))
        u = re.sub(r"/annotations/\d+", "/annotations/{annotation_id}", u)
        return re.sub(r"/leads/\d+", "/leads/{lead_id}", u)

    assert routes <= {(m, template(u)) for m, u in covered}, "an endpoint without a role test"
    before = len(s.get("aud", "/api/audit/entries", params={"action": "refused"}).json())
    refusals = 0
    for method, url, kw, refused in table:
        for role in ROLES:
            if role not in refused:
                continue
            r = s.client.request(method, url, headers=s.auth(role), **kw)
            assert r.status_code == 403, (method, url, role, r.status_code, r.text)
            assert r.json()["error"] == "NotAllowed" and r.json()["message"]
            refusals += 1
    after = len(s.get("aud", "/api/audit/entries", params={"action": "refused"}).json())
    assert after - before >= refusals * 0.9  # each refusal is an audit entry (a few are reads)


def test_no_endpoint_answers_without_a_login(served: Served, lead: dict[str, Any]) -> None:
    s = served
    for method, url, kw, _ in endpoints({**lead, "probe": s.probes[0][0]}):
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            r = s.client.request(method, url, headers=headers, **kw)
            assert r.status_code == 401, (method, url, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"
    assert s.client.get("/api/me").status_code == 401
    assert s.client.post("/api/logout").status_code == 401


def test_the_roles_allowed_see_what_they_should(served: Served, lead: dict[str, Any]) -> None:
    s = served
    assert s.get("sup", "/api/me").json() == {
        "username": "sup",
        "role": "supervisor",
        "unit": "north",
    }
    assert {c["number"] for c in s.get("stranger", "/api/cases").json()}.isdisjoint({"ROLE-1"})
    assert "ROLE-1" in {c["number"] for c in s.get("aud", "/api/cases").json()}
    assert s.get("admin", "/api/gallery/stats").json()["subjects"] == 5
    dups = s.get("aud", "/api/gallery/duplicates").json()
    assert dups["pairs"] == [] and dups["statement"].startswith("Gallery figures")
    r = s.post(
        "admin",
        "/api/gallery/duplicates/resolve",
        json={"subject_a": "x", "subject_b": "x", "verdict": "same person", "note": "n"},
    )
    assert r.status_code == 400 and "two different subject ids" in r.json()["message"]
    assert s.get("aud", "/api/searches", params={"last": 5}).status_code == 200
    assert s.get("aud", "/api/records").json() == []
    users = {u["username"] for u in s.get("admin", "/api/users").json()}
    assert {"sup", "ex1", "rev", "aud"} <= users
    r = s.post(
        "admin", "/api/users", json={"username": "ex9", "password": "short", "role": "examiner"}
    )
    assert r.status_code == 400 and "12 characters" in r.json()["message"]
    leads = s.get("ex1", "/api/leads").json()
    assert lead["lead"] in {x["id"] for x in leads}
    assert s.get("sup", "/api/cases/NOPE").status_code == 404
    assert s.post("sup", "/api/requests/99999/approve").status_code == 404
    schema = s.client.get("/api/openapi.json").json()
    assert "bearer" in str(schema["components"]["securitySchemes"]).lower()


def test_an_external_search_is_recorded_and_listed(served: Served, lead: dict[str, Any]) -> None:
    s = served
    body = {
        "run_by": "loss prevention, Acme",
        "system": "Acme vendor FR",
        "run_on": "2026-03-04",
        "candidate": "J. Roe",
        "how_received": "email",
    }
    r = s.post("ex1", "/api/cases/ROLE-1/external-searches", json=body)
    assert r.status_code == 201, r.text
    assert "never corroboration" in r.json()["notice"]
    listed = s.get("aud", "/api/cases/ROLE-1/external-searches").json()
    assert "J. Roe" in {x["candidate"] for x in listed}
    r = s.post("ex1", "/api/cases/ROLE-1/external-searches", json={**body, "run_on": "2026-02-01"})
    assert r.status_code == 400 and "before the incident" in r.json()["message"]


def test_the_web_request_form_offers_the_rephotographed_source_types(
    served: Served, lead: dict[str, Any]
) -> None:
    from tests.server.conftest import web_client

    page = web_client(served, "ex1").get("/cases/ROLE-1/requests/new")
    assert page.status_code == 200
    # offered by value, labelled in words
    assert (
        '<option value="screen_photo/surveillance_still">screen photo of a surveillance still'
        "</option>" in page.text
    )
    assert '<option value="print_photo/booking_photo">print photo of a booking photo' in page.text


def test_an_external_search_is_recorded_through_the_web_form(
    served: Served, lead: dict[str, Any]
) -> None:
    from sqlalchemy import select

    from leadguard.storage.tables import ProbeRecord
    from tests.server.conftest import csrf_of, web_client

    s = served
    web = web_client(s, "ex1")
    page = web.get("/cases/ROLE-1")
    assert page.status_code == 200
    assert "Face searches run outside LeadGuard" in page.text
    assert "never corroboration and never a lead by itself" in page.text
    assert 'action="/cases/ROLE-1/external-searches"' in page.text
    form = {
        "csrf": csrf_of(page.text),
        "run_by": "Acme loss prevention <script>alert(1)</script>",
        "system": "Acme vendor FR",
        "run_on": "2026-03-05",
        "candidate": "R. Hostile <script>alert(2)</script>",
        "how_received": "by email to Det. Rivera",
        "source_type": "surveillance_still",
        "notes": "",
    }
    png = s.probes[1][0].read_bytes()
    r = web.post(
        "/cases/ROLE-1/external-searches",
        data=form,
        files={"probe": ("../../store.jpg", png, "image/jpeg")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/cases/ROLE-1", r.text
    page = web.get("/cases/ROLE-1")
    assert "never a lead, never corroboration" in page.text  # the flash line
    assert "R. Hostile &lt;script&gt;alert(2)&lt;/script&gt;" in page.text
    assert "<script>alert" not in page.text
    listed = s.get("aud", "/api/cases/ROLE-1/external-searches").json()
    rec = next(x for x in listed if x["candidate"].startswith("R. Hostile"))
    assert rec["recorded_by"] == "ex1" and rec["run_on"] == "2026-03-05"
    assert rec["probe_sha256"] and rec["probe_sha256"][:16] in page.text
    with s.ctx.session() as db:
        q = select(ProbeRecord.original_name).where(ProbeRecord.sha256 == rec["probe_sha256"])
        assert db.scalars(q).all() == ["store.jpg"]  # the upload's label, no server path

    # without a probe it is recorded too; a probe without its source type is refused
    token = csrf_of(page.text)
    bare = {**form, "csrf": token, "candidate": "J. Bare", "source_type": ""}
    r = web.post("/cases/ROLE-1/external-searches", data=bare)
    assert r.status_code == 200
    assert (
        '<td data-label="Person named">J. Bare</td><td data-label="How it reached the case">'
        'by email to Det. Rivera</td><td data-label="Probe SHA-256">no probe</td>' in r.text
    )
    r = web.post(
        "/cases/ROLE-1/external-searches",
        data=bare,
        files={"probe": ("p.jpg", png, "image/jpeg")},
    )
    assert r.status_code == 400 and "declared source type" in r.text
    r = web.post("/cases/ROLE-1/external-searches", data={**bare, "run_on": "2026-02-01"})
    assert r.status_code == 400 and "before the incident" in r.text


@pytest.mark.parametrize("user", ["rev", "aud"])
def test_a_role_that_may_not_record_an_external_search_has_no_form(
    served: Served, lead: dict[str, Any], user: str
) -> None:
    from tests.server.conftest import csrf_of, web_client

    s = served
    web = web_client(s, user)
    page = web.get("/cases/ROLE-1")
    assert page.status_code == 200
    assert "Face searches run outside LeadGuard" not in page.text
    assert "external-searches" not in page.text
    form = {
        "csrf": csrf_of(page.text),
        "run_by": "a",
        "system": "b",
        "run_on": "2026-03-03",
        "candidate": f"Not by {user}",
        "how_received": "d",
    }
    before = len(s.get("aud", "/api/audit/entries", params={"action": "refused"}).json())
    r = web.post("/cases/ROLE-1/external-searches", data=form)
    assert r.status_code == 403 and "may not external.record" in r.text
    after = s.get("aud", "/api/audit/entries", params={"action": "refused"}).json()
    assert len(after) == before + 1  # the refusal is in the audit log
    listed = s.get("sup", "/api/cases/ROLE-1/external-searches").json()
    assert f"Not by {user}" not in {x["candidate"] for x in listed}
