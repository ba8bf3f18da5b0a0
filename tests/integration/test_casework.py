"""The casework workflow on the real model: approval, blind review, release, corroboration,
outcomes, audit, through the service layer (the CLI and a later API only call it)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadguard import audit
from leadguard.casework import leads
from leadguard.casework import service as cw
from leadguard.casework.authz import NotAllowed
from leadguard.casework.policy import PolicyRefused
from leadguard.cli.main import app
from leadguard.enroll import enroll
from leadguard.storage.models import AuditEntry, Case
from leadguard.workspace import Workspace
from tests.integration.conftest import write_manifest

pytestmark = pytest.mark.integration
PW = "correct horse battery staple"
INCIDENT = {"apparent_age": "25-35", "sex": "M", "glasses": "no"}


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, johns_split) -> dict[str, Any]:
    enrolled, probes = johns_split
    root = tmp_path_factory.mktemp("casework")
    ws = Workspace.init(root / "ws", workers=1)
    enroll(ws, write_manifest(root / "m.csv", enrolled))
    admin = cw.add_user(ws, None, "admin", PW, "admin")
    users = {"admin": admin}
    for name, role, unit in (
        ("sup", "supervisor", "north"),
        ("ex1", "examiner", "north"),
        ("ex2", "examiner", "north"),
        ("rev", "reviewer", "north"),
        ("aud", "auditor", ""),
        ("stranger", "examiner", "south"),
    ):
        users[name] = cw.add_user(ws, admin, name, PW, role, unit)
    return {"ws": ws, "u": users, "probe": probes[0]}


def open_case(desk: dict[str, Any], number: str) -> int:
    ws, u = desk["ws"], desk["u"]
    cw.open_case(
        ws,
        u["sup"],
        number,
        "Robbery",
        date(2026, 3, 1),
        "armed robbery",
        INCIDENT,
        "Det. Rivera",
        "warrant 26-117",
    )
    for name in ("ex1", "ex2", "rev"):
        cw.assign(ws, u["sup"], number, name)
    return cw.request_search(
        ws, u["ex1"], number, desk["probe"][0], "surveillance_still", "identify the robber"
    )


def decide(packet: dict[str, Any], lead_subject: str | None) -> dict[str, Any]:
    return {
        c["subject"]: {
            "decision": "possible_lead" if c["subject"] == lead_subject else "exclusion",
            "confidence": 3,
            "features": {"nose": "similar bridge", "ears": "lobes differ"},
            "exculpatory": [{"attribute": "glasses", "consistent": True, "note": ""}],
        }
        for c in packet["candidates"]
    }


def test_accounts_logins_and_refused_offences(desk) -> None:
    ws, u = desk["ws"], desk["u"]
    assert cw.login(ws, "ex1", PW).role == "examiner"
    with pytest.raises(NotAllowed, match="login as 'ex1' failed"):
        cw.login(ws, "ex1", "wrong password here")
    with pytest.raises(NotAllowed, match=r"may not user\.create"):
        cw.add_user(ws, u["sup"], "x", PW, "examiner")
    with pytest.raises(PolicyRefused, match="eligible_offences"):
        cw.open_case(ws, u["sup"], "C-0", "shoplifting", date(2026, 1, 1), "d", {}, "o", "a")


def test_the_whole_way_from_request_to_outcome(desk) -> None:
    ws, u = desk["ws"], desk["u"]
    rid = open_case(desk, "C-1")
    with pytest.raises(PolicyRefused, match="supervisor_approval_required"):
        cw.run_search(ws, u["ex1"], rid)
    with pytest.raises(NotAllowed):  # an examiner cannot approve
        cw.approve(ws, u["ex1"], rid)
    cw.approve(ws, u["sup"], rid)
    with pytest.raises(NotAllowed, match="not assigned"):
        cw.run_search(ws, u["stranger"], rid)
    with pytest.raises(NotAllowed):
        cw.run_search(ws, u["aud"], rid)
    result = cw.run_search(ws, u["ex1"], rid)
    assert result.candidates, "the enrolled John should clear the open-set threshold"
    subject = desk["probe"][1]

    with pytest.raises(PolicyRefused, match="searcher_may_review"):
        cw.blind_packet(ws, u["ex1"], rid)
    p_rev, p_ex2 = cw.blind_packet(ws, u["rev"], rid), cw.blind_packet(ws, u["ex2"], rid)
    for packet in (p_rev, p_ex2):  # nothing that could anchor the examiner
        assert all(set(c) == {"subject", "image"} for c in packet["candidates"])
        text = json.dumps(packet)
        assert "score" not in text and "rank" not in text and "evidence" not in text
        assert packet["person_sought"] == INCIDENT
    with pytest.raises(PolicyRefused, match="examiners_required"):
        cw.reveal(ws, u["sup"], rid)

    cw.submit_review(ws, u["rev"], rid, decide(p_rev, subject))
    with pytest.raises(PolicyRefused, match="examiners_required"):  # still blind for ex2
        cw.reveal(ws, u["ex2"], rid)
    with pytest.raises(PolicyRefused, match="examiners_required"):
        leads.release(ws, u["sup"], rid, subject)
    with pytest.raises(Exception, match="already submitted"):
        cw.submit_review(ws, u["rev"], rid, decide(p_rev, subject))
    cw.submit_review(ws, u["ex2"], rid, decide(p_ex2, subject))
    shown = cw.reveal(ws, u["aud"], rid)
    assert len(shown["reviews"]) == 2 and "score" in shown["candidates"][0]

    lead = leads.release(ws, u["sup"], rid, subject)
    with pytest.raises(Exception, match="already been released"):
        leads.release(ws, u["sup"], rid, subject)
    with pytest.raises(NotAllowed):
        leads.release(ws, u["ex2"], rid, subject)
    with pytest.raises(PolicyRefused, match="corroboration_before_lineup"):
        leads.record_lineup(ws, u["ex2"], lead.id)
    with pytest.raises(PolicyRefused, match="corroboration_before_suspect"):
        leads.suspect_identified(ws, u["sup"], "C-1", lead.id)
    leads.corroborate(
        ws, u["ex2"], lead.id, "phone location at the scene", "Det. Rivera", date(2026, 3, 9)
    )
    leads.record_lineup(ws, u["ex2"], lead.id)
    leads.suspect_identified(ws, u["sup"], "C-1", lead.id)
    leads.record_outcome(ws, u["sup"], lead.id, "corroborated", "charged after interview")
    stats = leads.outcome_stats(ws, u["aud"])
    assert sum(g["corroborated"] for g in stats.values()) == 1
    with ws.session() as s:
        assert s.scalars(select(Case).where(Case.number == "C-1")).one().status == (
            "suspect_identified"
        )
        assert audit.verify(s).intact
        actions = [e.action for e in s.scalars(select(AuditEntry))]
    for a in (
        "request.approve",
        "search.run",
        "review.packet",
        "review.submit",
        "review.reveal",
        "lead.release",
        "lead.corroborate",
        "lead.lineup",
        "case.suspect",
        "lead.outcome",
        "login.failed",
        "search",
    ):
        assert a in actions, a


def test_disagreement_needs_adjudication_and_stays_on_record(desk) -> None:
    ws, u = desk["ws"], desk["u"]
    rid = open_case(desk, "C-2")
    cw.approve(ws, u["sup"], rid)
    cw.run_search(ws, u["ex1"], rid)
    subject = desk["probe"][1]
    cw.submit_review(ws, u["rev"], rid, decide(cw.blind_packet(ws, u["rev"], rid), subject))
    cw.submit_review(ws, u["ex2"], rid, decide(cw.blind_packet(ws, u["ex2"], rid), None))
    with pytest.raises(PolicyRefused, match="two_concurring_examiners"):
        leads.release(ws, u["sup"], rid, subject)
    assert leads.adjudicate(ws, u["sup"], rid, subject, False, "ears differ; not enough") is None
    shown = cw.reveal(ws, u["sup"], rid)
    assert shown["adjudications"][0]["decisions"] == ["possible_lead", "exclusion"]
    assert shown["adjudications"][0]["release"] is False


def test_cli_acts_as_a_logged_in_user(desk, tmp_path: Path) -> None:
    ws = str(desk["ws"].root)
    env = {"LEADGUARD_PASSWORD": PW, "LEADGUARD_USER": "sup"}
    runner = CliRunner()

    def case_open(number: str, offence: str) -> Any:
        args = ["case", "open", number, "--offence", offence, "--incident-date", "2026-02-02"]
        args += ["--description", "d", "--officer", "o", "--authority", "warrant", "-w", ws]
        return runner.invoke(app, args, env=env)

    res = case_open("C-3", "homicide")
    assert res.exit_code == 0, res.output
    res = case_open("C-4", "littering")
    assert res.exit_code == 2 and "eligible_offences" in res.output
    res = runner.invoke(app, ["lead", "stats", "-w", ws], env={**env, "LEADGUARD_USER": "rev"})
    assert res.exit_code == 2 and "may not lead.stats" in res.output
    out = tmp_path / "c1.jsonl"
    res = runner.invoke(app, ["audit", "export", "C-1", "--out", str(out), "-w", ws])
    assert res.exit_code == 2 and "needs a login" in res.output
    aud = {**env, "LEADGUARD_USER": "aud"}
    res = runner.invoke(app, ["audit", "export", "C-1", "--out", str(out), "-w", ws], env=aud)
    assert res.exit_code == 0, res.output
    actions = {json.loads(ln)["action"] for ln in out.read_text().splitlines()}
    # the case's own entries and those of the search and probe its request ran
    assert {"case.open", "lead.release", "search", "probe_received"} <= actions
    res = runner.invoke(app, ["audit", "verify", "-w", ws], env=aud)
    assert res.exit_code == 0 and "intact" in res.output
    res = runner.invoke(app, ["audit", "verify", "-w", ws], env={**env, "LEADGUARD_USER": "rev"})
    assert res.exit_code == 2 and "may not audit.read" in res.output
    res = runner.invoke(app, ["gallery", "expunge", "x", "--order", "CO-1", "-w", ws], env=env)
    assert res.exit_code == 2 and "may not gallery.expunge" in res.output
    admin = {**env, "LEADGUARD_USER": "admin"}
    res = runner.invoke(app, ["user", "deactivate", "stranger", "-w", ws], env=admin)
    assert res.exit_code == 0
    with pytest.raises(NotAllowed, match="failed"):
        cw.login(desk["ws"], "stranger", PW)


def test_settings_and_policy_changes_are_audited(desk) -> None:
    ws = desk["ws"]
    cw.policy(ws)  # the configuration in force has been observed
    settings = ws.root / "leadguard.toml"
    settings.write_text(settings.read_text() + "\ntop_k = 7\n")
    cw.policy(ws)  # the next casework action notices the change
    with ws.session() as s:
        change = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "config.changed")
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert change is not None and change.details["changed"] == ["settings"]
        assert audit.verify(s).intact
