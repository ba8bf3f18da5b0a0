"""Face searches run outside LeadGuard: recorded under a case, audited, disclosed; never a
lead, never corroboration; the person named becomes a lead only through a LeadGuard search
under an approved request."""

from __future__ import annotations

import json
import zipfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from leadguard.core.errors import InputError
from leadguard.gallery.enroll import enroll
from leadguard.quality.provenance import ProbeRefused
from leadguard.services import accounts
from leadguard.services.audit import trail
from leadguard.services.authz import NotAllowed
from leadguard.services.casework import external, leads, review
from leadguard.services.casework import service as cw
from leadguard.services.casework.blind import letters_of
from leadguard.services.casework.corroboration import corroborate
from leadguard.services.casework.policy import PolicyRefused
from leadguard.services.context import Context
from leadguard.services.disclosure import disclose
from leadguard.storage.workspace import Workspace
from tests.casework_helpers import checklist, evidence
from tests.integration.conftest import write_manifest

pytestmark = pytest.mark.integration
PW = "correct horse battery staple"
face = {"face_comparison_involved": True, "kind": "other"}
INCIDENT = date(2026, 3, 1)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, johns_split) -> dict[str, Any]:
    enrolled, probes = johns_split
    root = tmp_path_factory.mktemp("external")
    ws = Workspace.init(root / "ws", workers=1)
    enroll(ws, write_manifest(root / "m.csv", enrolled))
    ctx = Context(ws)
    accounts.add_user(ctx, None, "admin", PW, "admin")
    admin = accounts.login(ctx, "admin", PW).actor
    u = {"admin": admin}
    for name, role, unit in (
        ("sup", "supervisor", "north"),
        ("sup2", "supervisor", "north"),
        ("ex1", "examiner", "north"),
        ("ex2", "examiner", "north"),
        ("rev", "reviewer", "north"),
        ("aud", "auditor", ""),
        ("stranger", "examiner", "south"),
    ):
        accounts.add_user(ctx, admin, name, PW, role, unit)
        u[name] = accounts.login(ctx, name, PW).actor
    cw.open_case(ctx, u["sup"], "X-1", "robbery", INCIDENT, "armed robbery", {"sex": "M"}, "o", "w")
    for name in ("ex1", "ex2", "rev"):
        cw.assign(ctx, u["sup"], "X-1", name)
    return {"ctx": ctx, "u": u, "probes": probes, "root": root}


def record(desk: dict[str, Any], **kw: Any) -> external.ExternalSearchInfo:
    args: dict[str, Any] = {
        "run_by": "loss prevention, Acme Stores",
        "system": "Acme's own face recognition vendor",
        "run_on": date(2026, 3, 3),
        "candidate": "John Doe",
        "how_received": "emailed to Det. Rivera",
    } | kw
    return external.record_external_search(desk["ctx"], desk["u"]["ex1"], "X-1", **args)


def test_an_external_search_is_recorded_audited_and_listed(desk) -> None:
    ctx, u = desk["ctx"], desk["u"]
    rec = record(desk, probe=desk["probes"][0][0], source_type="screen_photo/surveillance_still")
    assert rec.probe_sha256 and "never corroboration" in rec.notice
    listed = external.list_external_searches(ctx, u["aud"], "X-1")
    assert [(r.id, r.candidate, r.system) for r in listed] == [
        (rec.id, "John Doe", "Acme's own face recognition vendor")
    ]
    entries = [e for e in trail(ctx, u["aud"], "X-1") if e["action"] == "external.record"]
    assert entries and entries[-1]["details"]["candidate"] == "John Doe"
    assert entries[-1]["details"]["records"][0]["table"] == "external_searches"


def test_incomplete_or_impossible_records_are_refused_and_audited(desk) -> None:
    ctx, u = desk["ctx"], desk["u"]
    with pytest.raises(InputError, match="who ran it"):
        record(desk, run_by=" ")
    with pytest.raises(InputError, match="future"):
        record(desk, run_on=date.today() + timedelta(days=3))
    with pytest.raises(InputError, match="before the incident"):
        record(desk, run_on=INCIDENT - timedelta(days=1))
    with pytest.raises(InputError, match="source type"):
        record(desk, probe=desk["probes"][0][0])
    with pytest.raises(ProbeRefused):
        record(desk, probe=desk["probes"][0][0], source_type="composite")
    with pytest.raises(NotAllowed):
        external.record_external_search(
            ctx, u["stranger"], "X-1", "a", "b", date(2026, 3, 3), "c", "d"
        )
    with pytest.raises(NotAllowed):  # a reviewer only reviews
        external.record_external_search(ctx, u["rev"], "X-1", "a", "b", date(2026, 3, 3), "c", "d")
    refused = [
        e
        for e in trail(ctx, u["aud"], "X-1")
        if e["action"] == "refused" and e["details"]["refused"] == "external.record"
    ]
    assert len(refused) == 7


def test_the_named_person_is_a_lead_only_through_leadguard_and_never_corroborated(desk) -> None:
    ctx, u = desk["ctx"], desk["u"]
    probe, subject = desk["probes"][0]
    named = record(desk, candidate=subject)  # the retailer's system named an enrolled person
    rid = cw.request_search(ctx, u["ex1"], "X-1", probe, "surveillance_still", "test the name").id
    with pytest.raises(PolicyRefused, match="supervisor_approval_required"):
        cw.run_search(ctx, u["ex1"], rid)  # no approval, no search, no lead
    with pytest.raises(PolicyRefused, match="examiners_required"):
        leads.release(ctx, u["sup"], rid, subject)
    cw.approve(ctx, u["sup"], rid)
    cw.run_search(ctx, u["ex1"], rid)
    for name in ("ex2", "rev"):
        packet = review.blind_packet(ctx, u[name], rid)
        assert named.candidate not in json.dumps(packet.person_sought)  # nothing to anchor on
        seen = letters_of(ctx, rid, u[name].id)[subject]  # the scripted examiner's pick
        review.submit_review(
            ctx,
            u[name],
            rid,
            {
                c.letter: {
                    "decision": "possible_lead" if c.letter == seen else "exclusion",
                    "confidence": 3,
                    "features": {"nose": "similar bridge"},
                    "exculpatory": checklist({"sex": "M"}),
                }
                for c in packet.candidates
            },
        )
    with pytest.raises(InputError, match="not a candidate"):  # not on LeadGuard's list
        leads.release(ctx, u["sup"], rid, "John Doe")
    lead = leads.release(ctx, u["sup"], rid, subject)
    for what in (
        f"the retailer's facial recognition named him too (external search {named.id})",
        "Acme's system put his name forward from the store video",
    ):
        with pytest.raises(PolicyRefused, match="not_face_comparison"):  # answered truthfully
            corroborate(ctx, u["ex2"], lead.id, evidence(INCIDENT, description=what, **face))
    with pytest.raises(PolicyRefused):  # the questions answered "no": the wording screen
        words = f"the retailer's facial recognition named him too (external search {named.id})"
        corroborate(ctx, u["ex2"], lead.id, evidence(INCIDENT, description=words))
    with pytest.raises(PolicyRefused, match="corroboration_before_suspect"):
        leads.suspect_identified(ctx, u["sup"], "X-1", lead.id)


def test_the_disclosure_packet_holds_every_external_search(desk, tmp_path: Path) -> None:
    ctx, u = desk["ctx"], desk["u"]
    recs = external.list_external_searches(ctx, u["sup"], "X-1")
    disclose(ctx, u["sup"], "X-1", tmp_path / "x1.zip")
    with zipfile.ZipFile(tmp_path / "x1.zip") as z:
        names = z.namelist()
        for r in recs:
            data = json.loads(z.read(f"external/external-{r.id}.json"))
            assert data["candidate_named"] == r.candidate and "never a lead" in data["what"]
        with_probe = [r for r in recs if r.probe_sha256]
        assert with_probe and any(n.startswith("probes/") for n in names)
        (report,) = [n for n in names if n.startswith("reports/lead-") and n.endswith(".html")]
        html = z.read(report).decode()
        assert "Face searches run outside LeadGuard on this case" in html
        assert "own face recognition vendor" in html and "John Doe" in html


def test_cli_records_an_external_search(desk, tmp_path: Path, monkeypatch) -> None:
    from leadguard.cli import session
    from leadguard.cli.main import app

    ctx, u = desk["ctx"], desk["u"]
    monkeypatch.setattr(session, "actor", lambda c: u["ex1"])
    monkeypatch.setattr(session, "require", lambda c, *a, **k: u["ex1"])
    args = ["case", "external-search", "X-1", "--run-by", "Agency B", "--system", "Agency B FRS"]
    args += ["--run-on", "2026-03-04", "--candidate", "Jane Roe", "--how-received", "phone"]
    res = CliRunner().invoke(app, [*args, "-w", str(ctx.root)])
    assert res.exit_code == 0, res.output
    assert "never corroboration" in " ".join(res.output.split())
    res = CliRunner().invoke(app, ["case", "external-searches", "X-1", "-w", str(ctx.root)])
    assert res.exit_code == 0 and "Jane Roe" in res.output


def test_an_external_search_counts_as_the_cases_first_face_search(desk) -> None:
    """An eyewitness identification made after a retailer's face search, though before any
    LeadGuard search, did not come "before any face search": the earliest of the two counts."""
    from sqlalchemy import select

    from leadguard.services.casework.corroboration import first_search_date
    from leadguard.storage.tables import Case

    ctx = desk["ctx"]
    with ctx.session() as s:
        case = s.scalars(select(Case).where(Case.number == "X-1")).one()
        before = first_search_date(s, case)
    earliest = INCIDENT + timedelta(days=1)
    assert before is None or before > earliest
    record(desk, run_on=earliest)
    with ctx.session() as s:
        case = s.scalars(select(Case).where(Case.number == "X-1")).one()
        assert first_search_date(s, case) == earliest
