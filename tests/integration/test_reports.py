"""Reports on a real small case (the real dlib model, real faces, real SQLite): the lead
report read back as a person would (pdftotext), reproducible byte for byte, audited with
its SHA-256; the disclosure packet checked by a script that does not import LeadGuard;
the transparency report's numbers."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from leadguard.core.errors import LeadGuardError
from leadguard.gallery.enroll import enroll
from leadguard.quality.provenance import Edit
from leadguard.services import accounts, reports
from leadguard.services.audit import trail
from leadguard.services.authz import NotAllowed
from leadguard.services.casework import leads, review
from leadguard.services.casework import service as cw
from leadguard.services.casework.blind import letters_of
from leadguard.services.casework.corroboration import corroborate
from leadguard.services.context import Context
from leadguard.services.disclosure import disclose
from leadguard.storage.workspace import Workspace
from tests.casework_helpers import checklist, evidence
from tests.conftest import FIXTURES
from tests.integration.conftest import write_manifest

pytestmark = pytest.mark.integration
PW = "correct horse battery staple"
SOUGHT = {"apparent_age": "25-35", "sex": "M", "glasses": "no"}


def pdf_text(path: Path) -> str:
    """The PDF's text as a reader sees it (poppler's pdftotext)."""
    exe = shutil.which("pdftotext")
    if exe is None:  # the Makefile's set-up installs poppler-utils; pypdf is not a dependency
        pytest.fail("pdftotext (poppler-utils) is missing: run `make setup`")
    return subprocess.run(
        [exe, "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def decide(ctx: Context, who: Any, packet: review.Packet, lead: str | None) -> dict[str, Any]:
    """A review by the letters of the examiner's packet."""
    seen = letters_of(ctx, packet.request, who.id).get(lead or "")
    return {
        c.letter: {
            "decision": "possible_lead" if c.letter == seen else "exclusion",
            "confidence": 4 if c.letter == seen else 2,
            "features": {"nose": "similar bridge", "ears": "lobe shape agrees"},
            "exculpatory": checklist(SOUGHT),
        }
        for c in packet.candidates
    }


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory, johns_split) -> dict[str, Any]:
    """Case R-1: a request with a recorded edit whose lead is released on two blind reviews,
    corroborated and later refuted; a request for a person not enrolled (no candidate);
    a request whose probe holds no usable face (a refused search)."""
    enrolled, probes = johns_split
    root = tmp_path_factory.mktemp("reports")
    ws = Workspace.init(root / "ws", workers=1)
    enroll(ws, write_manifest(root / "m.csv", enrolled))
    ctx = Context(ws)
    accounts.add_user(ctx, None, "admin", PW, "admin")
    admin = accounts.login(ctx, "admin", PW).actor
    u = {}
    for name, role, unit in (
        ("sup", "supervisor", "north"),
        ("ex1", "examiner", "north"),
        ("ex2", "examiner", "north"),
        ("rev", "reviewer", "north"),
        ("aud", "auditor", ""),
        ("outsider", "examiner", "south"),
    ):
        accounts.add_user(ctx, admin, name, PW, role, unit)
        u[name] = accounts.login(ctx, name, PW).actor
    cw.open_case(
        ctx,
        u["sup"],
        "R-1",
        "Robbery",
        date(2026, 3, 1),
        "armed robbery",
        SOUGHT,
        "Det. Rivera",
        "warrant 26-117",
    )
    for name in ("ex1", "ex2", "rev"):
        cw.assign(ctx, u["sup"], "R-1", name)
    probe, subject = probes[0]
    req = cw.request_search(
        ctx,
        u["ex1"],
        "R-1",
        probe,
        "surveillance_still",
        "find the robber",
        edits=(Edit("brightness", (1.1,)),),
    )
    cw.approve(ctx, u["sup"], req.id)
    run = cw.run_search(ctx, u["ex1"], req.id)
    for name in ("rev", "ex2"):
        review.submit_review(
            ctx,
            u[name],
            req.id,
            decide(ctx, u[name], review.blind_packet(ctx, u[name], req.id), subject),
        )
    lead = leads.release(ctx, u["sup"], req.id, subject)
    corroborate(
        ctx, u["ex2"], lead.id, evidence(date(2026, 3, 9), description="phone at the scene")
    )
    leads.record_outcome(ctx, u["sup"], lead.id, "refuted", "alibi confirmed")

    stranger = FIXTURES / "face_recognition_examples" / "obama" / "obama.jpg"
    other = cw.request_search(ctx, u["ex1"], "R-1", stranger, "phone_photo", "second witness")
    cw.approve(ctx, u["sup"], other.id)
    none = cw.run_search(ctx, u["ex1"], other.id)

    tiny = root / "tiny.png"  # a thumbnail too small to hold a usable face
    Image.open(probe).convert("RGB").resize((24, 24)).save(tiny)
    bad = cw.request_search(ctx, u["ex1"], "R-1", tiny, "video_frame", "third camera")
    cw.approve(ctx, u["sup"], bad.id)
    with pytest.raises(LeadGuardError):
        cw.run_search(ctx, u["ex1"], bad.id)
    return {
        "ctx": ctx,
        "u": u,
        "root": root,
        "lead": lead.id,
        "subject": subject,
        "search": run.search_id,
        "none": none,
        "bad_request": bad.id,
    }


def test_lead_report_reads_as_required_and_is_reproducible(case) -> None:
    ctx, u, root = case["ctx"], case["u"], case["root"]
    first = reports.lead_report(ctx, u["aud"], case["lead"], root / "lead-a")
    second = reports.lead_report(ctx, u["sup"], case["lead"], root / "lead-b")
    for a, b in zip(first.files, second.files, strict=True):  # same records, same bytes
        assert a.path.read_bytes() == b.path.read_bytes()
        assert a.sha256 == hashlib.sha256(a.path.read_bytes()).hexdigest()
    pdf = next(f.path for f in first.files if f.path.suffix == ".pdf")
    html = next(f.path for f in first.files if f.path.suffix == ".html").read_text()
    text = pdf_text(pdf)
    assert text.lstrip().startswith("Investigative lead only — not probable cause")
    for section in (
        "Case, request and release",
        "Probe as received and after each recorded edit",
        "Probe quality",
        "The candidate list as returned",
        "Blind reviews",
        "Corroboration and outcome",
        "Face model, evidence model and measured accuracy",
        "The group whose false match rate may be highest at this threshold",
    ):
        assert section in text, section
    # one worst group per list, the same in the evidence section as in the list's statements
    named = set(
        re.findall(
            r"may be highest at this threshold \(the highest 95 % upper bound\): ([^,<]+),", html
        )
    )
    listed = set(re.findall(r"may be highest on this list \(([^,<]+), from", html))
    assert len(named) == 1, named
    assert listed <= named, (listed, named)
    for value in (
        "R-1",
        "robbery",
        "warrant 26-117",
        "find the robber",
        "sup",
        "ex1",
        "brightness(1.1)",
        "phone at the scene",
        "refuted",
        "alibi confirmed",
    ):
        assert value in text, value
    with ctx.session() as s:
        from leadguard.services.report_data import lead_record

        rec = lead_record(s, case["lead"])
    cands = rec["search"]["result"]["candidates"]
    assert cands and len(rec["probes"]) == 2 and len(rec["reviews"]) == 2
    flat = " ".join(text.split())
    # a page break's running footer and the next page's banner can fall inside a table cell
    footer = (
        r" ?Lead report — case \S+, lead \d+ — page \d+/\d+ "
        r"Investigative lead only — not probable cause"
    )
    flat = re.sub(footer, "", flat)
    for c in cands:  # every candidate as returned, with its score and statements
        assert c["subject"] in text and f"{c['score']:.4f}" in text
        for line in c["evidence"]["statements"]:
            assert " ".join(line.split()) in flat, line
    stood = next(c for c in cands if c["subject"] == case["subject"])
    assert f"stood at rank {stood['rank']} of {len(cands)}" in flat
    for p in rec["probes"]:
        assert p["sha256"] in flat
    assert "<script" not in html and "Investigative lead only" in html
    # the probes, the face examined in the searched one, and every listed candidate's
    # gallery photo (its date in the caption) and the face examined in it
    photos = rec["candidate_photos"]
    assert [p["rank"] for p in photos] == [c["rank"] for c in cands]
    assert all(p["data"] is not None and p["face"] is not None for p in photos), photos
    assert rec["probe_face"]["data"] is not None
    assert rec["probe_face"]["sha256"] == rec["search"]["result"]["probe"]["sha256"]
    assert html.count("<img ") == 2 + 1 + 2 * len(cands)
    for p in photos:
        when = f"dated {p['date']}" if p["date"] else "its date not recorded"
        assert f"Gallery photo of {p['subject']}, rank {p['rank']}, {when};" in flat
        assert p["sha256"] in flat
    entries = [e for e in trail(ctx, u["aud"], "R-1") if e["action"] == "report.lead"]
    assert [e["details"]["files"] for e in entries] == [
        {f.path.name: f.sha256 for f in first.files},
        {f.path.name: f.sha256 for f in second.files},
    ]


def test_lead_report_is_refused_outside_the_case_and_the_refusal_is_audited(case) -> None:
    ctx, u, root = case["ctx"], case["u"], case["root"]
    with pytest.raises(NotAllowed, match="not assigned"):
        reports.lead_report(ctx, u["outsider"], case["lead"], root / "x")
    with pytest.raises(NotAllowed, match=r"may not report\.lead"):
        reports.lead_report(ctx, u["rev"], case["lead"], root / "x")
    assert not (root / "x").exists()
    refused = [e for e in trail(ctx, u["aud"], "R-1") if e["action"] == "refused"]
    assert {e["details"]["refused"] for e in refused} >= {"report.lead"}


def _verify(packet: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The packet's own script, run with no site-packages (-S) and isolated (-I): LeadGuard
    cannot be imported, so the check stands without it."""
    with zipfile.ZipFile(packet) as z:
        (cwd / "verify_disclosure.py").write_bytes(z.read("verify_disclosure.py"))
    return subprocess.run(
        [sys.executable, "-I", "-S", "verify_disclosure.py", str(packet)],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def _rezip(src: Path, dst: Path, change: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for n in zin.namelist():
            zout.writestr(n, change.get(n, zin.read(n)))
    return dst


def _agreed(src: Path, dst: Path, change: dict[str, bytes]) -> Path:
    """The packet with files changed or added and its manifest made to agree."""
    with zipfile.ZipFile(src) as z:
        files = {n: z.read(n) for n in z.namelist()}
    files.update(change)
    files["MANIFEST.sha256"] = "".join(
        f"{hashlib.sha256(v).hexdigest()}  {k}\n"
        for k, v in sorted(files.items())
        if k != "MANIFEST.sha256"
    ).encode()
    with zipfile.ZipFile(dst, "w") as z:
        for k, v in files.items():
            z.writestr(k, v)
    return dst


def _with_trail(src: Path, dst: Path, entries: list[dict[str, Any]], **more: bytes) -> Path:
    body = "".join(json.dumps(e) + "\n" for e in entries).encode()
    return _agreed(src, dst, {"audit/trail.jsonl": body, **more})


def _rehash(e: dict[str, Any]) -> dict[str, Any]:
    from leadguard.reports.verify_disclosure import entry_hash

    return {**e, "hash": entry_hash(e)}


def _forgeries_fail(packet: Path, root: Path, trail_: list[dict[str, Any]]) -> None:
    """Each way a helper made the verifier pass a changed packet (the manifest always made
    to agree), now a FAILED line; malformed packets a FAILED line, never a traceback."""
    with zipfile.ZipFile(packet) as z:
        case_json = z.read("case.json")
    changed = {"case.json": case_json.replace(b"R-1", b"R-7")}
    packet_entry, rest = trail_[-1], trail_[:-1]
    assert packet_entry["action"] == "case.packet"
    sealed = {**packet_entry, "sealed": True, "details": {"sealed": "x"}}
    first = rest[0]
    appended = _rehash({**packet_entry, "seq": packet_entry["seq"] + 7, "prev_hash": "0" * 64})
    middle = next(i for i, e in enumerate(rest) if 0 < i < len(rest) - 1)
    rewritten = [dict(e) for e in rest]
    rewritten[middle] = _rehash({**rewritten[middle], "actor": "someone else"})
    forgeries = {
        "entry removed": (rest, "does not end with the packet's own case.packet entry"),
        "entry sealed": ([*rest, sealed], "marked sealed, not as LeadGuard seals"),
        "content flagged sealed": (
            [{**first, "details": {"x": 1}, "sealed": "no"}, *rest[1:], packet_entry],
            f"audit entry {first['seq']}: marked sealed, not as LeadGuard seals",
        ),
        "an entry after a made-up gap": (
            [*trail_, appended],
            "audit/chain.json: the head (entry",
        ),
        "an entry removed from the middle": (
            [*rest[:middle], *rest[middle + 1 :], packet_entry],
            "are not the ones audit entry",
        ),
        "an entry rewritten, its hash recomputed": (
            [*rewritten, packet_entry],
            "are not the ones audit entry",
        ),
    }
    for what, (entries_, expected) in forgeries.items():
        bad = _verify(_with_trail(packet, root / "f.zip", entries_, **changed), root)
        assert bad.returncode == 1 and expected in bad.stdout, (what, bad.stdout)
        assert "Traceback" not in bad.stderr, (what, bad.stderr)
    # two copies of one name: the verifier reads one, a person may unzip the other
    with zipfile.ZipFile(packet) as zin, zipfile.ZipFile(root / "dup.zip", "w") as zout:
        zout.writestr("case.json", changed["case.json"])
        for n in zin.namelist():
            zout.writestr(n, zin.read(n))
    bad = _verify(root / "dup.zip", root)
    assert bad.returncode == 1 and "case.json: twice in the zip" in bad.stdout
    for what, lines in {
        "a line that is not JSON": b"{not json\n",
        "not UTF-8": b"\xff\xfe\n",
        "an entry without prev_hash": json.dumps(
            {k: v for k, v in first.items() if k != "prev_hash"}
        ).encode(),
        "a list": b"[1, 2]\n",
    }.items():
        bad = _verify(_agreed(packet, root / "m.zip", {"audit/trail.jsonl": lines}), root)
        assert bad.returncode == 1 and "FAILED:" in bad.stdout, (what, bad.stdout)
        assert "Traceback" not in bad.stderr, (what, bad.stderr)
    not_zip = root / "not.zip"
    not_zip.write_bytes(b"plain text")
    bad = subprocess.run(  # the script _verify copied out of the packet above
        [sys.executable, "-I", "-S", "verify_disclosure.py", str(not_zip)],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "not a readable zip" in bad.stdout and not bad.stderr


def test_disclosure_packet_holds_every_search_and_verifies_without_leadguard(case) -> None:
    ctx, u, root = case["ctx"], case["u"], case["root"]
    with pytest.raises(NotAllowed):  # an examiner does not disclose
        disclose(ctx, u["ex1"], "R-1", root / "no.zip")
    written = disclose(ctx, u["aud"], "R-1", root / "R-1.zip")
    packet = written.files[0].path
    with zipfile.ZipFile(packet) as z:
        names = set(z.namelist())
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        searches = [json.loads(z.read(n)) for n in sorted(names) if n.startswith("searches/")]
        trail_ = [json.loads(x) for x in z.read("audit/trail.jsonl").splitlines()]
        lead = json.loads(z.read(f"leads/lead-{case['lead']}.json"))
        lead_pdf = z.read(f"reports/lead-{case['lead']}.pdf")
        readme = z.read("README.txt").decode()
    outcomes = sorted(x["outcome"] for x in searches)
    assert "candidates" in outcomes and "no_candidate" in outcomes, outcomes
    assert len(searches) == 3 and any(x["mode"] == "refused" for x in searches)
    assert any(x["groups_at_threshold"] for x in searches)
    probes = [n for n in names if n.startswith("probes/probe-") and not n.endswith(".json")]
    assert len(probes) == 4  # three as received, one edited by LeadGuard
    # the face examined in each search that found one (the refused search found none)
    faces = sorted(n for n in names if n.startswith("probes/search-"))
    ran = [x for x in searches if x["mode"] != "refused"]
    assert faces == sorted(f"probes/search-{x['id']}-face.png" for x in ran)
    # every listed candidate's gallery photo as enrolled, its examined face and its record
    listed = 0
    with zipfile.ZipFile(packet) as z:
        for x in ran:
            for c in x["result"].get("candidates", []):
                listed += 1
                stem = f"gallery/search-{x['id']}-rank-{c['rank']}"
                photo = z.read(f"{stem}.jpg")
                assert hashlib.sha256(photo).hexdigest() == c["image_sha256"]
                assert z.read(f"{stem}-face.png").startswith(b"\x89PNG")
                info = json.loads(z.read(f"{stem}.json"))
                assert info["subject"] == c["subject"] and info["missing"] is None
                assert info["photo_date"] == c["encounter_date"]
    assert listed >= 1
    assert any(n.startswith("system/evidence-model-") for n in names)
    assert {"case.json", "system/versions.json", "audit/chain.json", "MANIFEST.sha256"} <= names
    assert lead["outcomes"][0]["outcome"] == "refuted" and lead["corroboration"]
    assert "refused" in {e["action"] for e in trail_} and "sha256sum -c" in readme
    standalone = reports.lead_report(ctx, u["sup"], case["lead"], root / "lead-c")
    assert next(f for f in standalone.files if f.path.suffix == ".pdf").path.read_bytes() == (
        lead_pdf
    )

    ok = _verify(packet, root)
    assert ok.returncode == 0 and "packet verified" in ok.stdout, ok.stdout + ok.stderr
    assert f"{len(trail_)} audit entries checked" in ok.stdout

    changed = _rezip(packet, root / "changed.zip", {"case.json": b'{"number": "R-2"}'})
    bad = _verify(changed, root)
    assert bad.returncode == 1 and "case.json: SHA-256 differs" in bad.stdout
    edited = [dict(e) for e in trail_]
    edited[0]["actor"] = "someone else"
    body = "".join(json.dumps(e) + "\n" for e in edited).encode()
    with zipfile.ZipFile(packet) as z:  # the manifest made to agree: the chain still fails
        lines = z.read("MANIFEST.sha256").decode().splitlines()
    lines = [
        f"{hashlib.sha256(body).hexdigest()}  audit/trail.jsonl"
        if line.endswith("  audit/trail.jsonl")
        else line
        for line in lines
    ]
    forged = _rezip(
        packet,
        root / "forged.zip",
        {"audit/trail.jsonl": body, "MANIFEST.sha256": ("\n".join(lines) + "\n").encode()},
    )
    bad = _verify(forged, root)
    assert bad.returncode == 1
    assert f"audit entry {trail_[0]['seq']}: its hash does not match" in bad.stdout

    # files edited with the manifest made to agree: the packet's own audit entry, inside the
    # hash-chained trail, still names each file's SHA-256
    lead_html = f"reports/lead-{case['lead']}.html"
    search_json = sorted(n for n in names if n.startswith("searches/"))[0]
    with zipfile.ZipFile(packet) as z:
        forged_files = {
            lead_html: z.read(lead_html).replace(b"R-1", b"R-9"),
            search_json: z.read(search_json).replace(b'"score": 0.', b'"score": 0.9'),
            "extra.txt": b"planted",
        }
    assert forged_files[search_json] != b"" and forged_files[lead_html] != b""
    bad = _verify(_agreed(packet, root / "agreed.zip", forged_files), root)
    assert bad.returncode == 1, bad.stdout
    entry = next(e for e in trail_ if e["action"] == "case.packet")
    assert f"{lead_html}: SHA-256 differs from audit entry {entry['seq']}" in bad.stdout
    assert f"{search_json}: SHA-256 differs from audit entry {entry['seq']}" in bad.stdout
    assert f"extra.txt: not named by audit entry {entry['seq']}" in bad.stdout
    assert "differs from the manifest" not in bad.stdout  # the manifest was made to agree
    assert f"named by the packet's audit entry {entry['seq']}" in ok.stdout
    assert (
        entry["details"]["files"]["case.json"]
        == hashlib.sha256(zipfile.ZipFile(packet).read("case.json")).hexdigest()
    )

    _forgeries_fail(packet, root, trail_)

    exports = [e for e in trail(ctx, u["aud"], "R-1") if e["action"] == "case.disclose"]
    assert exports[-1]["details"]["sha256"] == hashlib.sha256(packet.read_bytes()).hexdigest()
    assert exports[-1]["details"]["searches"] == 3


def test_the_verifier_imports_nothing_of_leadguard() -> None:
    import ast

    from tests.conftest import ROOT

    src = ROOT / "src" / "leadguard" / "reports" / "verify_disclosure.py"
    mods = {
        (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(ast.parse(src.read_text()))
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert mods and all(
        m.split(".")[0] in sys.stdlib_module_names or m == "__future__" for m in mods
    ), mods


def test_transparency_report_counts_the_period(case) -> None:
    from leadguard.reports.html import render_html
    from leadguard.reports.pdf import render_pdf
    from leadguard.reports.transparency import transparency_document
    from leadguard.services.transparency import period_data, transparency_report

    ctx, u, root = case["ctx"], case["u"], case["root"]
    today = date.today()
    with pytest.raises(NotAllowed):
        transparency_report(ctx, u["ex1"], today, today, root / "t-no")
    written = transparency_report(ctx, u["aud"], date(today.year, 1, 1), today, root / "t")
    pdf = next(f.path for f in written.files if f.path.suffix == ".pdf")
    text = " ".join(pdf_text(pdf).split())
    with ctx.session() as s:
        data = period_data(s, date(today.year, 1, 1), today)
    rows = {(r["offence"], r["outcome"]): r["count"] for r in data["searches"]}
    assert rows[("robbery", "candidates")] == 1 and rows[("robbery", "no_candidate")] == 1
    refused = [k for k in rows if k[1].startswith("refused")]
    assert len(refused) == 1 and rows[refused[0]] == 1, rows
    expected_refusals = sum(
        1 for e in trail(ctx, u["aud"], None) if e["action"] == "refused"
    )  # every refusal of this workspace happened today
    assert sum(data["policy_refusals"].values()) == expected_refusals > 0
    for label, value in (
        ("Searches", 3),
        ("Searches with candidates", 1),
        ("Searches with no candidate", 1),
        ("Searches refused or failed", 1),
        ("Leads released", 1),
        ("Leads corroborated", 1),
        ("Leads refuted", 1),
    ):
        assert f"{label} {value}" in text, label
    assert "Searches by offence and outcome" in text and "Hash chain intact" in text
    assert "sex not recorded / race not recorded 1 1 1" in text
    html = next(f.path for f in written.files if f.path.suffix == ".html").read_text()
    assert html.count("<img ") == 2  # both plots
    doc = transparency_document(data)  # the same data, the same bytes (plots included)
    assert render_pdf(doc) == render_pdf(transparency_document(data))
    assert render_html(doc) == render_html(transparency_document(data))
    past = date(2000, 1, 1)  # a period that has ended: the file itself is reproducible
    a = transparency_report(ctx, u["sup"], past, past, root / "p1").files
    b = transparency_report(ctx, u["sup"], past, past, root / "p2").files
    assert [f.sha256 for f in a] == [f.sha256 for f in b]
    assert "No search in this period" in pdf_text(a[0].path)


def test_the_three_commands(case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from leadguard.cli.main import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    ws = str(case["ctx"].root)
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
        res = runner.invoke(app, [*args, "-w", ws], input=stdin)
        return res.exit_code, res.output

    code, out = run("report", "lead", str(case["lead"]), "--out", str(tmp_path / "r"))
    assert code == 2 and "needs a login" in out
    assert run("login", "aud", "--password-stdin", stdin=PW)[0] == 0
    code, out = run("report", "lead", str(case["lead"]), "--out", str(tmp_path / "r"))
    assert code == 0 and f"lead-{case['lead']}.pdf  sha256" in out, out
    code, out = run("report", "lead", "999", "--out", str(tmp_path / "r"))
    assert code == 2 and "lead 999: no such lead" in out
    code, out = run("disclose", "R-1", "--out", str(tmp_path / "R-1.zip"))
    assert code == 0 and "R-1.zip  sha256" in out, out
    code, out = run("disclose", "NOPE", "--out", str(tmp_path / "n.zip"))
    assert code == 2 and "NOPE" in out
    code, out = run(
        "report",
        "transparency",
        "--from",
        "2026-01-01",
        "--to",
        "2025-01-01",
        "--out",
        str(tmp_path / "t"),
    )
    assert code == 2 and "before --from" in out
    code, out = run(
        "report",
        "transparency",
        "--from",
        "2026-01-01",
        "--to",
        date.today().isoformat(),
        "--out",
        str(tmp_path / "t"),
    )
    assert code == 0 and ".pdf  sha256" in out and ".html  sha256" in out, out
