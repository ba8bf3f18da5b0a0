"""The documents through the web pages (docs/server.md): a supervisor downloads the lead
report PDF and the disclosure packet of a released lead, and both hold every listed
candidate's gallery photo (read back with poppler's `pdfimages -list` and the packet's
manifest); the bytes served are the ones the audit entry names. A role that may not gets a
refusal page, audited as the CLI's refusal is; the transparency report is served to an
auditor and refused to an examiner."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from leadguard.storage.tables import AuditEntry, SearchLog, SearchRequest
from tests.server.conftest import Served, decisions, open_case, web_client

pytestmark = [pytest.mark.integration, pytest.mark.api]
CASE = "DOC-1"


def image_list(pdf: Path) -> list[dict[str, str]]:
    """The images drawn in a PDF, as poppler's `pdfimages -list` reports them."""
    exe = shutil.which("pdfimages")
    if exe is None:  # the Makefile's set-up installs poppler-utils
        pytest.fail("pdfimages (poppler-utils) is missing: run `make setup`")
    out = subprocess.run([exe, "-list", str(pdf)], check=True, capture_output=True, text=True)
    lines = out.stdout.splitlines()
    head = lines[0].split()
    rows = [dict(zip(head, line.split(), strict=False)) for line in lines[2:] if line.strip()]
    return [r for r in rows if r.get("type") == "image"]


def audited(s: Served, after: int, action: str) -> list[AuditEntry]:
    with s.ctx.session() as db:
        rows = list(
            db.scalars(
                select(AuditEntry)
                .where(AuditEntry.seq > after, AuditEntry.action == action)
                .order_by(AuditEntry.seq)
            )
        )
        for r in rows:
            db.expunge(r)
        return rows


def head(s: Served) -> int:
    with s.ctx.session() as db:
        return int(db.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq.desc())).first() or 0)


@pytest.fixture(scope="module")
def released(served: Served) -> dict[str, Any]:
    """A request searched, reviewed blind by two concurring examiners, its lead released."""
    s = served
    rid = open_case(s, CASE)
    assert s.post("sup", f"/api/requests/{rid}/approve").status_code == 200
    assert s.post("ex1", f"/api/requests/{rid}/run").status_code == 200
    subject = s.probes[0][1]
    for name in ("ex2", "rev"):
        packet = s.get(name, f"/api/requests/{rid}/packet").json()
        body = {"decisions": decisions(s, name, packet, subject)}
        assert s.post(name, f"/api/requests/{rid}/reviews", json=body).status_code == 201
    r = s.post("sup", f"/api/requests/{rid}/release", json={"subject": subject})
    assert r.status_code == 201, r.text
    with s.ctx.session() as db:
        req = db.get(SearchRequest, rid)
        assert req is not None
        row = db.get(SearchLog, req.search_id)
        assert row is not None
        cands = list(row.result["candidates"])
        search_id = row.id
    assert len(cands) >= 1
    return {"request": rid, "lead": r.json()["id"], "cands": cands, "search": search_id}


def test_a_supervisor_downloads_the_lead_report_with_every_candidate_photo(
    served: Served, released: dict[str, Any], tmp_path: Path
) -> None:
    s, lead, cands = served, released["lead"], released["cands"]
    web = web_client(s, "sup")
    home = web.get("/")
    assert 'href="/documents"' in home.text
    listing = web.get("/documents")
    assert listing.status_code == 200
    assert f'href="/leads/{lead}/report.pdf"' in listing.text
    assert f'href="/cases/{CASE}/disclosure.zip"' in listing.text
    assert 'action="/documents/transparency"' in listing.text

    before = head(s)
    r = web.get(f"/leads/{lead}/report.pdf")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.headers["content-disposition"] == f'attachment; filename="lead-{lead}.pdf"'
    assert r.headers["cache-control"] == "no-store"
    pdf = tmp_path / "lead.pdf"
    pdf.write_bytes(r.content)
    digest = hashlib.sha256(r.content).hexdigest()
    assert r.headers["x-leadguard-sha256"] == digest
    # the same audit entry as `leadguard report lead`: both forms, by their SHA-256
    [entry] = audited(s, before, "report.lead")
    assert entry.actor == "sup" and entry.object == f"case:{CASE}/lead:{lead}"
    assert entry.details["files"][f"lead-{lead}.pdf"] == digest
    assert set(entry.details["files"]) == {f"lead-{lead}.pdf", f"lead-{lead}.html"}

    # the probe as received, the face examined in it, and per candidate the gallery photo
    # and the face examined in it
    images = image_list(pdf)
    assert len(images) == 1 + 1 + 2 * len(cands), images
    sizes = [(int(i["width"]), int(i["height"])) for i in images]
    for c in cands:
        with Image.open(c["image"]) as photo:
            assert photo.size in sizes, (c["subject"], photo.size, sizes)
    with Image.open(s.probes[0][0]) as probe:
        assert probe.size in sizes

    # the HTML form, read in the browser inside a sandbox, says the same
    view = web.get(f"/leads/{lead}/report.html")
    assert view.status_code == 200 and view.headers["content-type"].startswith("text/html")
    assert view.headers["content-security-policy"].startswith("sandbox")
    assert view.headers["content-disposition"].startswith("inline")
    assert view.text.count("<img ") == len(images)
    for c in cands:
        when = f"dated {c['encounter_date']}" if c["encounter_date"] else "its date not recorded"
        assert f"Gallery photo of {c['subject']}, rank {c['rank']}, {when};" in view.text
        assert c["image_sha256"] in view.text

    # the packet: every listed candidate's photo as enrolled, in its manifest, and the
    # same lead report byte for byte
    before = head(s)
    z = web.get(f"/cases/{CASE}/disclosure.zip")
    assert z.status_code == 200 and z.headers["content-type"] == "application/zip"
    [export] = audited(s, before, "case.disclose")
    assert export.details["sha256"] == hashlib.sha256(z.content).hexdigest()
    with zipfile.ZipFile(io.BytesIO(z.content)) as packet:
        manifest = dict(
            reversed(line.split("  ", 1))  # type: ignore[misc]
            for line in packet.read("MANIFEST.sha256").decode().splitlines()
        )
        sid = released["search"]
        for c in cands:
            stem = f"gallery/search-{sid}-rank-{c['rank']}"
            assert manifest[f"{stem}.jpg"] == c["image_sha256"]
            assert packet.read(f"{stem}.jpg") == Path(c["image"]).read_bytes()
            info = json.loads(packet.read(f"{stem}.json"))
            assert info["subject"] == c["subject"] and info["photo_date"] == c["encounter_date"]
            assert f"{stem}-face.png" in manifest
        assert f"probes/search-{sid}-face.png" in manifest
        assert packet.read(f"reports/lead-{lead}.pdf") == r.content
        em = [n for n in manifest if n.startswith("system/evidence-model-")]
        assert any(n.endswith(".npz") for n in em), em


def test_roles_that_may_not_are_refused_and_the_refusal_is_audited(
    served: Served, released: dict[str, Any]
) -> None:
    s, lead = served, released["lead"]
    for user, url, action in (
        ("rev", f"/leads/{lead}/report.pdf", "report.lead"),  # a reviewer reviews only
        ("stranger", f"/leads/{lead}/report.html", "report.lead"),  # not assigned
        ("ex1", f"/cases/{CASE}/disclosure.zip", "case.disclose"),  # examiners do not disclose
        ("admin", f"/cases/{CASE}/disclosure.zip", "case.disclose"),  # never casework
        ("ex1", "/documents/transparency?from=2026-01-01&to=2026-12-31", "report.transparency"),
    ):
        web = web_client(s, user)
        before = head(s)
        r = web.get(url)
        assert r.status_code == 403, (user, url, r.status_code)
        assert r.headers["content-type"].startswith("text/html")
        assert not r.content.startswith(b"%PDF") and "may not" in r.text, r.text
        refused = audited(s, before, "refused")
        assert [e.actor for e in refused] == [user], (user, url)
        assert refused[0].details["refused"] == action
        assert not audited(s, before, action)  # nothing was produced
    # the reviewer's documents page offers nothing; the examiner's no packet
    assert "/report.pdf" not in web_client(s, "rev").get("/documents").text
    page = web_client(s, "ex1").get("/documents").text
    assert f'href="/leads/{lead}/report.pdf"' in page and "disclosure.zip" not in page
    assert "/documents/transparency" not in page


def test_an_auditor_produces_the_transparency_report(
    served: Served, released: dict[str, Any]
) -> None:
    s = served
    web = web_client(s, "aud")
    before = head(s)
    r = web.get("/documents/transparency", params={"from": "2000-01-01", "to": "2000-01-31"})
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert r.headers["content-disposition"] == (
        'attachment; filename="transparency-2000-01-01-2000-01-31.pdf"'
    )
    [entry] = audited(s, before, "report.transparency")
    assert entry.actor == "aud" and entry.object == "transparency:2000-01-01..2000-01-31"
    name = "transparency-2000-01-01-2000-01-31.pdf"
    assert entry.details["files"][name] == hashlib.sha256(r.content).hexdigest()
    html = web.get(
        "/documents/transparency",
        params={"from": "2000-01-01", "to": "2000-01-31", "format": "html"},
    )
    assert html.status_code == 200 and html.headers["content-security-policy"].startswith("sandbox")
    bad = web.get("/documents/transparency", params={"from": "2000-02-01", "to": "2000-01-01"})
    assert bad.status_code == 400 and "before" in bad.text


def test_blind_review_stays_blind_in_the_documents_served(
    served: Served, released: dict[str, Any]
) -> None:
    """A third examiner who may still review sees no lead report; a search under blind
    review is sealed in the packet the web serves (no candidate photo, name or hash)."""
    from leadguard.services import accounts
    from tests.server.conftest import PW

    s, lead = served, released["lead"]
    admin = accounts.login(s.ctx, "admin", PW).actor
    accounts.add_user(s.ctx, admin, "ex3", PW, "examiner", "north")
    assert s.post("sup", f"/api/cases/{CASE}/assign", json={"username": "ex3"}).status_code == 200
    web = web_client(s, "ex3")
    assert f"/leads/{lead}/report" not in web.get("/documents").text
    before = head(s)
    r = web.get(f"/leads/{lead}/report.pdf")
    assert r.status_code == 409 and "blind_review" in r.text
    [refused] = audited(s, before, "refused")
    assert refused.actor == "ex3" and refused.details["rule"] == "blind_review"
    assert not audited(s, before, "report.lead")

    # a second request of the case, searched, one of two reviews in
    with s.probes[1][0].open("rb") as fh:  # another man's photo
        r = s.post(
            "ex1",
            f"/api/cases/{CASE}/requests",
            files={"probe": ("second.jpg", fh, "image/jpeg")},
            data={"source_type": "surveillance_still", "purpose": "second look"},
        )
    rid = int(r.json()["id"])
    assert s.post("sup", f"/api/requests/{rid}/approve").status_code == 200
    assert s.post("ex1", f"/api/requests/{rid}/run").status_code == 200
    packet = s.get("ex2", f"/api/requests/{rid}/packet").json()
    body = {"decisions": decisions(s, "ex2", packet, None)}
    assert s.post("ex2", f"/api/requests/{rid}/reviews", json=body).status_code == 201
    with s.ctx.session() as db:
        req = db.get(SearchRequest, rid)
        assert req is not None and req.search_id is not None
        sealed_id = req.search_id
        row = db.get(SearchLog, sealed_id)
        assert row is not None
        cands = list(row.result["candidates"])
    assert cands
    z = web_client(s, "sup").get(f"/cases/{CASE}/disclosure.zip")
    assert z.status_code == 200
    with zipfile.ZipFile(io.BytesIO(z.content)) as p:
        names = p.namelist()
        assert not [n for n in names if n.startswith(f"gallery/search-{sealed_id}-")]
        assert f"gallery/search-{released['search']}-rank-1.jpg" in names  # the open one
        assert "sealed" in json.loads(p.read(f"searches/search-{sealed_id}.json"))["result"]
        manifest = p.read("MANIFEST.sha256").decode()
        sealed_json = p.read(f"searches/search-{sealed_id}.json").decode()
    open_photos = {c["image_sha256"] for c in released["cands"]}
    hidden = [c for c in cands if c["image_sha256"] not in open_photos]
    assert hidden  # the other man's photos are listed by the sealed search only
    for c in cands:
        assert c["subject"] not in sealed_json
    for c in hidden:
        assert c["image_sha256"] not in manifest
