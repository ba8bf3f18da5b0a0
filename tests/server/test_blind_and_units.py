"""Blind review stays blind through every entry point, and nobody reads another unit's case.

A north case is left under blind review (searched, one of two reviews in; a third examiner
assigned). Every route of the application (taken from its route table, so that a new one
is not missed), API and web page alike, is called as every user, with every candidate's name
put where a route could take one; no response may hold a candidate's name, image, image
hash or score. The CLI's packet, reveal and export are checked the same way. Then a role x
unit x endpoint matrix over the audit trail, the exports, the disclosure packet, the case
pages and the lists, through the API, the web pages and the CLI: no cross-unit read."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from leadguard.cli.main import app as cli_app
from leadguard.services import accounts
from leadguard.storage.tables import SearchLog, SearchRequest
from tests.server.conftest import PW, Served, all_routes, csrf_of, decisions, web_client

pytestmark = [pytest.mark.integration, pytest.mark.api]
NORTH, SOUTH = "BLIND-N", "BLIND-S"
EXTRA = (("sup_south", "supervisor", "south"), ("ex3", "examiner", "north"))
USERS = ("admin", "sup", "sup_south", "ex1", "ex2", "rev", "ex3", "aud", "stranger")
UNIT = {"sup": "north", "ex1": "north", "ex2": "north", "rev": "north", "ex3": "north"}
UNIT |= {"sup_south": "south", "stranger": "south", "aud": "", "admin": ""}
ROLE = {"sup": "supervisor", "sup_south": "supervisor", "aud": "auditor", "admin": "admin"}
ROLE |= {"ex1": "examiner", "ex2": "examiner", "ex3": "examiner", "rev": "reviewer"}
ROLE |= {"stranger": "examiner"}
runner = CliRunner()


def file_case(s: Served, number: str, sup: str, team: tuple[str, ...], probe: Path) -> int:
    """A case opened by ``sup``, ``team`` assigned, a request by team[0] (a neutral file
    name: the uploaded name is on record), approved and run."""
    body = {
        "number": number,
        "offence": "robbery",
        "incident_date": "2026-03-01",
        "description": "street robbery",
        "attributes": {"sex": "M"},
        "officer": "Det. Rivera",
        "authority": "warrant 26-117",
    }
    assert s.post(sup, "/api/cases", json=body).status_code == 201
    for name in team:
        r = s.post(sup, f"/api/cases/{number}/assign", json={"username": name})
        assert r.status_code == 200, r.text
    with probe.open("rb") as fh:
        r = s.post(
            team[0],
            f"/api/cases/{number}/requests",
            files={"probe": ("probe.jpg", fh, "image/jpeg")},
            data={"source_type": "surveillance_still", "purpose": "find the robber"},
        )
    assert r.status_code == 201, r.text
    rid = int(r.json()["id"])
    assert s.post(sup, f"/api/requests/{rid}/approve").status_code == 200
    assert s.post(team[0], f"/api/requests/{rid}/run").status_code == 200
    return rid


@pytest.fixture(scope="module")
def world(served: Served) -> dict[str, Any]:
    s = served
    admin = accounts.login(s.ctx, "admin", PW).actor
    for name, role, unit in EXTRA:
        accounts.add_user(s.ctx, admin, name, PW, role, unit)
        r = s.client.post("/api/login", json={"username": name, "password": PW})
        s.tokens[name] = r.json()["token"]
    north = file_case(s, NORTH, "sup", ("ex1", "ex2", "rev", "ex3"), s.probes[0][0])
    south = file_case(s, SOUTH, "sup_south", ("stranger",), s.probes[1][0])
    packet = s.get("ex2", f"/api/requests/{north}/packet").json()
    body = {"decisions": decisions(s, "ex2", packet, s.probes[0][1])}
    assert s.post("ex2", f"/api/requests/{north}/reviews", json=body).status_code == 201
    with s.ctx.session() as db:
        req = db.get(SearchRequest, north)
        assert req is not None and req.search_id is not None
        row = db.get(SearchLog, req.search_id)
        assert row is not None
        cands = list(row.result["candidates"])
        south_req = db.get(SearchRequest, south)
        assert south_req is not None
        south_marks = [f"search:{south_req.search_id}", f"probe:{south_req.probe_id}"]
        search_ids = {NORTH: req.search_id, SOUTH: south_req.search_id}
    assert cands, "the enrolled John should clear the open-set threshold"
    return {
        "north": north,
        "south": south,
        "cands": cands,
        "south_marks": south_marks,
        "search_ids": search_ids,
    }


def leaks(text: str, cands: list[dict[str, Any]], hashes: bool = True) -> list[str]:
    """Every candidate name, image file, image hash or score found in ``text``. (The
    gallery's own enrollment entries list every enrolled image's hash, written before any
    search and telling nothing of who a search listed: ``hashes=False`` for whole audit
    logs, where names, files and scores are still looked for.)"""
    found = []
    for c in cands:
        marks = [c["subject"], Path(c["image"]).name]
        marks += [c.get("image_sha256") or "-" * 64] if hashes else []
        found += [m for m in marks if m in text]
        score = float(c["score"])
        if str(score)[:7] in text or re.search(rf"(?<!\d){re.escape(f'{score:.4f}')}", text):
            found.append(f"score {score}")
    return found


def concrete(path: str, number: str, rid: int) -> str:
    path = re.sub(r"\{(request_id|lead_id|record_id)\}", str(rid), path)
    return path.replace("{number}", number)


def routes(s: Served) -> list[tuple[str, str]]:
    out = []
    for r in all_routes(s.app):
        for m in sorted(getattr(r, "methods", ()) or ()):
            if m in ("GET", "POST") and not r.path.startswith("/static"):
                out.append((m, r.path))
    return out


def shown(r: Any) -> str:
    """The response's text, less the caller's own input that a refused body echoes (a 422
    from request validation names the fields sent, a name among them when it is a key of
    ``decisions``; no service ran)."""
    if r.status_code == 422 and r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()
        assert set(body) == {"error", "message"} and body["error"] == "InvalidRequest", body
        return json.dumps({"error": body["error"]})
    return r.content.decode("utf-8", "replace")


SKIP = {"/api/logout", "/logout", "/api/login", "/login"}  # keep the sessions


def sweep(s: Served, users: tuple[str, ...], rid: int, cands: list[dict[str, Any]]) -> int:
    """Every route as every user, each candidate's name offered; returns the calls made."""
    names = [c["subject"] for c in cands]
    dec = {"decision": "exclusion", "confidence": 3}
    calls, found = 0, []
    for user in users:
        web = web_client(s, user)
        token = csrf_of(web.get("/").text)
        for method, path in routes(s):
            if path in SKIP:
                continue
            url = concrete(path, NORTH, rid)
            api = path.startswith("/api/")
            for name in names:
                if method == "GET":
                    params = {"case": NORTH, "candidate": "A", "subject": name}
                    tries = [params, {"prefix": "", "subject": name}]
                    rs = [
                        s.get(user, url, params=p) if api else web.get(url, params=p) for p in tries
                    ]
                elif api:
                    body = {"subject": name, "release": False, "note": "n"}
                    body["decisions"] = {name: dec}
                    rs = [s.post(user, url, json=body)]
                else:
                    form = {"csrf": token, "subject": name, "release": "no", "note": "n"}
                    form |= {"s.0": name, "d.0": "exclusion", "c.0": "3"}
                    rs = [web.post(url, data=form, follow_redirects=False)]
                for r in rs:
                    calls += 1
                    assert r.status_code < 500, (user, method, path, r.status_code, r.text)
                    body_text = shown(r) + json.dumps(dict(r.headers))
                    whole_log = "audit" in path or "export" in path
                    if bad := leaks(body_text, cands, hashes=not whole_log):
                        found.append((user, method, path, r.status_code, bad))
    assert not found, found
    return calls


def cli(s: Served, user: str, tmp: Path, *args: str) -> tuple[int, str]:
    env = {"XDG_CONFIG_HOME": str(tmp / f"config-{user}")}
    ws = str(s.root / "ws")
    res = runner.invoke(cli_app, ["login", user, "--password-stdin", "-w", ws], input=PW, env=env)
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli_app, [*args, "-w", ws], env=env)
    return res.exit_code, res.output


def test_nothing_of_a_blind_review_reaches_anyone(
    served: Served, world: dict[str, Any], tmp_path: Path
) -> None:
    s, rid, cands = served, world["north"], world["cands"]
    assert len(routes(s)) >= 55  # the route table is read, not a list kept here
    assert sweep(s, USERS, rid, cands) > 500

    # the audit entries of the search and of the reviews are sealed, hashes kept
    trail = s.get("aud", "/api/audit/entries", params={"case": NORTH}).json()
    sealed = {e["action"] for e in trail if e["sealed"]}
    assert {"search.run", "review.submit", "review.packet"} <= sealed
    search_entry = s.get("aud", "/api/audit/entries", params={"prefix": "search:"}).json()
    assert any(e["sealed"] and e["action"] == "search" for e in search_entry)
    assert all(len(e["hash"]) == 64 for e in trail)
    assert s.get("aud", "/api/audit/verify").json()["intact"]

    # the CLI: the packet by letter, the reveal refused, the export and packet sealed
    for user, args in (
        ("rev", ("review", "packet", str(rid), "--images", str(tmp_path / "imgs"))),
        ("rev", ("review", "packet", str(rid), "--json")),
        ("sup", ("review", "reveal", str(rid))),
        ("ex3", ("review", "reveal", str(rid))),
        ("aud", ("audit", "export", NORTH, "--out", str(tmp_path / "n.jsonl"))),
        ("aud", ("audit", "export", "--out", str(tmp_path / "all.jsonl"))),
        ("aud", ("disclose", NORTH, "--out", str(tmp_path / "n.zip"))),
    ):
        code, output = cli(s, user, tmp_path, *args)
        assert not leaks(output, cands), (user, args, output)
        assert (code != 0) == (args[1] == "reveal"), (user, args, output)
    assert sorted(p.name for p in (tmp_path / "imgs").iterdir())[0] == "candidate-A.jpg"
    for f in ("n.jsonl", "all.jsonl"):
        text = (tmp_path / f).read_text()
        assert '"sealed": true' in text and not leaks(text, cands, hashes=False), f
    with zipfile.ZipFile(tmp_path / "n.zip") as z:
        for name in z.namelist():
            assert not leaks(z.read(name).decode("utf-8", "replace"), cands), name
        (tmp_path / "verify.py").write_bytes(z.read("verify_disclosure.py"))
    checked = subprocess.run(
        [sys.executable, str(tmp_path / "verify.py"), str(tmp_path / "n.zip")],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0 and "sealed under blind review" in checked.stdout, checked
    code, output = cli(s, "aud", tmp_path, "audit", "verify")
    assert code == 0, output

    # the second review is in: the reveal names the candidates (the checks above can see
    # a leak) ...
    packet = s.get("rev", f"/api/requests/{rid}/packet").json()
    body = {"decisions": decisions(s, "rev", packet, None)}
    assert s.post("rev", f"/api/requests/{rid}/reviews", json=body).status_code == 201
    shown = s.get("sup", f"/api/requests/{rid}/reveal")
    assert shown.status_code == 200 and leaks(shown.text, cands)
    trail = s.get("aud", "/api/audit/entries", params={"case": NORTH}).json()
    assert not any(e["sealed"] for e in trail) and leaks(json.dumps(trail), cands)
    # ... but the third examiner, who may still review, stays blind until they have
    r = s.get("ex3", f"/api/requests/{rid}/reveal")
    assert r.status_code == 409 and r.json()["rule"] == "blind_review"
    sweep(s, ("ex3",), rid, cands)
    packet = s.get("ex3", f"/api/requests/{rid}/packet").json()
    body = {"decisions": decisions(s, "ex3", packet, None)}
    assert s.post("ex3", f"/api/requests/{rid}/reviews", json=body).status_code == 201
    assert s.get("ex3", f"/api/requests/{rid}/reveal").status_code == 200


def north_lead(s: Served, world: dict[str, Any]) -> dict[str, str]:
    """Every review of the north request in, and a lead released by adjudication (the
    examiners disagree); the south case has none, so its report is refused as unknown."""
    rid = world["north"]
    for name in ("ex2", "rev", "ex3"):
        packet = s.get(name, f"/api/requests/{rid}/packet").json()
        body = {"decisions": decisions(s, name, packet, None)}
        r = s.post(name, f"/api/requests/{rid}/reviews", json=body)
        assert r.status_code == 201 or "already submitted" in r.text, r.text
    leads = s.get("sup", "/api/leads").json()
    if not leads:
        subject = s.probes[0][1]
        r = s.get("sup", f"/api/requests/{rid}/brief", params={"subject": subject})
        assert r.status_code == 200, r.text  # a ruling needs the examiners' notes read first
        body = {"subject": subject, "release": True, "note": "scar above the eyebrow"}
        r = s.post("sup", f"/api/requests/{rid}/adjudicate", json=body)
        assert r.status_code == 200, r.text
        leads = s.get("sup", "/api/leads").json()
    return {NORTH: str(leads[0]["id"]), SOUTH: "999999"}


def allowed(user: str, case_unit: str, assigned: set[str], audit: bool) -> bool:
    """The rule as the issue states it: auditors every case; supervisors their unit's;
    examiners and reviewers their assigned cases (never the audit trail); admins none."""
    role = ROLE[user]
    if role == "auditor":
        return True
    if role == "supervisor":
        return UNIT[user] == case_unit
    if role == "admin" or audit:
        return False
    return user in assigned


def test_role_unit_endpoint_matrix(served: Served, world: dict[str, Any], tmp_path: Path) -> None:
    s = served
    cases = {
        NORTH: ("north", {"ex1", "ex2", "rev", "ex3"}, world["north"]),
        SOUTH: ("south", {"stranger"}, world["south"]),
    }
    lead = north_lead(s, world)
    rows, cross = 0, []
    for user in USERS:
        web = web_client(s, user)
        for number, (unit, team, rid) in cases.items():
            other = NORTH if number == SOUTH else SOUTH
            reads: list[tuple[str, bool, Any]] = [
                ("api audit entries", True, s.get(user, "/api/audit/entries?case=" + number)),
                ("api export", True, s.get(user, f"/api/cases/{number}/export")),
                ("web export", True, web.get(f"/cases/{number}/export")),
                ("web audit", True, web.get(f"/audit?case={number}")),
                ("api case", False, s.get(user, f"/api/cases/{number}")),
                ("web case", False, web.get(f"/cases/{number}")),
                ("api probe", False, s.get(user, f"/api/requests/{rid}/probe")),
                ("web probe", False, web.get(f"/images/requests/{rid}/probe")),
            ]
            out = tmp_path / f"{user}-{number}"
            for what, audit, args in (
                ("cli audit export", True, ("audit", "export", number, "--out", f"{out}.jsonl")),
                ("cli disclose", True, ("disclose", number, "--out", f"{out}.zip")),
                ("cli case show", False, ("case", "show", number)),
                ("cli report lead", False, ("report", "lead", lead[number], "--out", str(out))),
            ):
                code, _ = cli(s, user, tmp_path, *args)
                reads.append((what, audit, code))
            for what, audit, r in reads:
                rows += 1
                ok = (r == 0) if isinstance(r, int) else r.status_code == 200
                want = allowed(user, unit, team, audit)
                if what == "cli report lead":  # a reviewer reviews; reports are not theirs
                    want = want and ROLE[user] != "reviewer" and number == NORTH
                assert ok == want, (user, number, what, getattr(r, "status_code", r))
                if ok and ROLE[user] != "auditor" and UNIT[user] != unit:
                    cross.append((user, number, what))
            # whole-log and list reads hold nothing of another unit's case
            for what, r in (
                ("api audit log", s.get(user, "/api/audit/entries")),
                ("web audit log", web.get("/audit")),
                ("api cases", s.get(user, "/api/cases")),
                ("api requests", s.get(user, "/api/requests")),
                ("web cases", web.get("/cases")),
            ):
                rows += 1
                if r.status_code != 200 or ROLE[user] == "auditor":
                    continue
                marks = [other] + (world["south_marks"] if other == SOUTH else [])
                mine = UNIT[user] == cases[other][0] or user in cases[other][1]
                if not mine and any(m in r.text for m in marks):
                    cross.append((user, other, what))
        # the search log: a supervisor sees their unit's searches only
        r = s.get(user, "/api/searches", params={"last": 1000})
        if r.status_code == 200 and ROLE[user] == "supervisor":
            theirs = {e["id"] for e in r.json()}
            other = world["search_ids"][NORTH if UNIT[user] == "south" else SOUTH]
            if other in theirs:
                cross.append((user, "search log", other))
            assert world["search_ids"][SOUTH if UNIT[user] == "south" else NORTH] in theirs
    assert rows >= 9 * 2 * 16
    assert cross == []
