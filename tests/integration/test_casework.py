"""The casework workflow on the real model, through the services: approval of the probe's
exact bytes, blind review, release, corroboration, outcomes, refusals in the audit trail."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.gallery.enroll import enroll
from leadguard.quality.provenance import ProbeRefused
from leadguard.services import accounts, reports
from leadguard.services.audit import trail
from leadguard.services.authz import NotAllowed
from leadguard.services.casework import leads, lineup, review
from leadguard.services.casework import service as cw
from leadguard.services.casework.blind import letters_of
from leadguard.services.casework.corroboration import corroborate as leads_corroborate
from leadguard.services.casework.policy import PolicyRefused
from leadguard.services.casework.views import show_case
from leadguard.services.context import Context
from leadguard.services.files import candidate_image
from leadguard.storage.tables import Case, SearchLog
from leadguard.storage.workspace import Workspace
from tests.casework_helpers import checklist, evidence
from tests.conftest import new_database_url
from tests.integration.conftest import write_manifest

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("database")]  # SQLite, PG
PW = "correct horse battery staple"
INCIDENT = {"apparent_age": "25-35", "sex": "M", "glasses": "no"}


@pytest.fixture(scope="module")
def desk(
    tmp_path_factory: pytest.TempPathFactory, johns_split, backend: str, request
) -> dict[str, Any]:
    return make_desk(tmp_path_factory, johns_split, backend, request)


def make_desk(
    tmp_path_factory: pytest.TempPathFactory, johns_split: Any, backend: str, request: Any
) -> dict[str, Any]:
    """A workspace with the Johns enrolled and one account of each casework role."""
    enrolled, probes = johns_split
    root = tmp_path_factory.mktemp("casework")
    ws = Workspace.init(root / "ws", workers=1, database_url=new_database_url(request, backend))
    enroll(ws, write_manifest(root / "m.csv", enrolled))
    assert ws.engine.dialect.name == {"sqlite": "sqlite", "postgres": "postgresql"}[backend]
    ctx = Context(ws)
    accounts.add_user(ctx, None, "admin", PW, "admin")
    admin = accounts.login(ctx, "admin", PW).actor
    users = {"admin": admin}
    for name, role, unit in (
        ("sup", "supervisor", "north"),
        ("sup2", "supervisor", "north"),
        ("ex1", "examiner", "north"),
        ("ex2", "examiner", "north"),
        ("ex3", "examiner", "north"),
        ("rev", "reviewer", "north"),
        ("aud", "auditor", ""),
        ("stranger", "examiner", "south"),
    ):
        accounts.add_user(ctx, admin, name, PW, role, unit)
        users[name] = accounts.login(ctx, name, PW).actor
    return {"ctx": ctx, "u": users, "probe": probes[0], "probes": probes, "root": root}


def open_case(desk: dict[str, Any], number: str, probe: Path | None = None) -> int:
    ctx, u = desk["ctx"], desk["u"]
    cw.open_case(
        ctx,
        u["sup"],
        number,
        "Robbery",
        date(2026, 3, 1),
        "armed robbery",
        INCIDENT,
        "Det. Rivera",
        "warrant 26-117",
    )
    for name in ("ex1", "ex2", "ex3", "rev"):
        cw.assign(ctx, u["sup"], number, name)
    req = cw.request_search(
        ctx, u["ex1"], number, probe or desk["probe"][0], "surveillance_still", "find the robber"
    )
    return req.id


def decide(
    ctx: Context, who: Any, packet: review.Packet, lead_subject: str | None
) -> dict[str, Any]:
    """A review by the letters of the examiner's packet (the scripted examiner "sees" which
    letter is the lead subject)."""
    seen = letters_of(ctx, packet.request, who.id).get(lead_subject or "")
    return {
        c.letter: {
            "decision": "possible_lead" if c.letter == seen else "exclusion",
            "confidence": 3,
            "features": {"nose": "similar bridge", "ears": "lobes differ"},
            "exculpatory": checklist(INCIDENT),
        }
        for c in packet.candidates
    }


def export(desk: dict[str, Any], number: str) -> list[dict[str, Any]]:
    return trail(desk["ctx"], desk["u"]["aud"], number)


def test_refused_offences_are_audited_with_the_case(desk) -> None:
    ctx, u = desk["ctx"], desk["u"]
    with pytest.raises(NotAllowed, match=r"may not user\.create"):
        accounts.add_user(ctx, u["sup"], "x", PW, "examiner")
    with pytest.raises(PolicyRefused, match="eligible_offences"):
        cw.open_case(ctx, u["sup"], "C-0", "shoplifting", date(2026, 1, 1), "d", {}, "o", "a")
    with pytest.raises(NotAllowed):  # an admin cannot act in casework
        cw.open_case(ctx, u["admin"], "C-0", "robbery", date(2026, 1, 1), "d", {}, "o", "a")
    refusals = [e for e in export(desk, "C-0") if e["action"] == "refused"]
    assert [e["details"]["refused"] for e in refusals] == ["case.open", "case.open"]


def test_the_whole_way_from_request_to_outcome(desk) -> None:
    ctx, u = desk["ctx"], desk["u"]
    rid = open_case(desk, "C-1")
    with pytest.raises(PolicyRefused, match="supervisor_approval_required"):
        cw.run_search(ctx, u["ex1"], rid)
    with pytest.raises(NotAllowed):  # an examiner cannot approve
        cw.approve(ctx, u["ex1"], rid)
    approved = cw.approve(ctx, u["sup"], rid)
    assert approved.probe_sha256 and approved.approved_by == "sup"
    with pytest.raises(NotAllowed, match="not assigned"):
        cw.run_search(ctx, u["stranger"], rid)
    with pytest.raises(NotAllowed):
        cw.run_search(ctx, u["aud"], rid)
    run = cw.run_search(ctx, u["ex1"], rid)
    assert run.candidates, "the enrolled John should clear the open-set threshold"
    subject = desk["probe"][1]

    with pytest.raises(PolicyRefused, match="searcher_may_review"):
        review.blind_packet(ctx, u["ex1"], rid)
    p_rev, p_ex2 = review.blind_packet(ctx, u["rev"], rid), review.blind_packet(ctx, u["ex2"], rid)
    assert [q.request for q in review.queue(ctx, u["rev"])] == [rid]
    for packet in (p_rev, p_ex2):  # nothing that could anchor the examiner
        text = json.dumps([c.__dict__ for c in packet.candidates])
        assert "score" not in text and "rank" not in text and "evidence" not in text
        assert packet.person_sought == INCIDENT and packet.probe_sha256 == approved.probe_sha256
    with pytest.raises(PolicyRefused, match="examiners_required"):
        review.reveal(ctx, u["sup"], rid)

    bare = decide(ctx, u["rev"], p_rev, subject)
    seen = letters_of(ctx, rid, u["rev"].id)[subject]
    bare[seen] = {**bare[seen], "features": {}, "exculpatory": []}
    with pytest.raises(InputError, match="FISWG feature notes"):
        review.submit_review(ctx, u["rev"], rid, bare)
    review.submit_review(ctx, u["rev"], rid, decide(ctx, u["rev"], p_rev, subject))
    assert review.queue(ctx, u["rev"]) == []
    with pytest.raises(PolicyRefused, match="examiners_required"):  # still blind for ex2
        review.reveal(ctx, u["ex2"], rid)
    with pytest.raises(PolicyRefused, match="examiners_required"):
        leads.release(ctx, u["sup2"], rid, subject)
    with pytest.raises(InputError, match="already submitted"):
        review.submit_review(ctx, u["rev"], rid, decide(ctx, u["rev"], p_rev, subject))
    review.submit_review(ctx, u["ex2"], rid, decide(ctx, u["ex2"], p_ex2, subject))
    shown = review.reveal(ctx, u["aud"], rid)
    assert len(shown.reviews) == 2 and "score" in shown.candidates[0]

    with pytest.raises(NotAllowed):  # an examiner cannot release
        leads.release(ctx, u["ex2"], rid, subject)
    lead = leads.release(ctx, u["sup"], rid, subject)
    with pytest.raises(InputError, match="already been released"):
        leads.release(ctx, u["sup"], rid, subject)
    with pytest.raises(PolicyRefused, match="corroboration_before_lineup"):
        lineup.build_array(ctx, u["ex2"], lead.id, {"sex": "M"}, ctx.root / "array")
    with pytest.raises(PolicyRefused, match="corroboration_before_suspect"):
        leads.suspect_identified(ctx, u["sup"], "C-1", lead.id)
    for ev, match in (
        (evidence(date(2026, 3, 9), kind="resemblance"), "not one of"),
        (
            evidence(date(2026, 3, 9), description="she looks like the person in the video"),
            "face_search_wording",
        ),
        (evidence(date.today() + timedelta(days=30)), "future"),
        (evidence(date(2026, 2, 1)), "before the incident"),
    ):
        with pytest.raises((InputError, PolicyRefused), match=match):
            leads_corroborate(ctx, u["ex2"], lead.id, ev)
    leads_corroborate(ctx, u["ex2"], lead.id, evidence(date(2026, 3, 9)))
    leads.suspect_identified(ctx, u["sup"], "C-1", lead.id)
    leads.record_outcome(ctx, u["sup"], lead.id, "corroborated", "charged after interview")
    leads.record_outcome(ctx, u["sup"], lead.id, "refuted", "alibi confirmed later")
    with pytest.raises(PolicyRefused, match=r"lead_final.*refuted"):
        lineup.build_array(ctx, u["ex2"], lead.id, {"sex": "M"}, ctx.root / "array")
    with pytest.raises(PolicyRefused, match=r"lead_final.*refuted"):
        leads.suspect_identified(ctx, u["sup"], "C-1", lead.id)
    (listed,) = [x for x in leads_of(desk, "C-1") if x.id == lead.id]
    assert [o["outcome"] for o in listed.outcomes] == ["corroborated", "refuted"]
    stats = leads.outcome_stats(ctx, u["aud"])
    assert sum(g["refuted"] for g in stats.values()) == 1
    # ex3 is on the case but has not reviewed it: blind to what the reviews led to
    with pytest.raises(PolicyRefused, match="blind_review"):
        reports.lead_report(ctx, u["ex3"], lead.id, desk["root"] / "ex3-report")
    assert lead.id not in {x.id for x in show_case(ctx, u["ex3"], "C-1").leads}
    with pytest.raises(PolicyRefused, match="blind_review"):
        leads_corroborate(ctx, u["ex3"], lead.id, evidence(date(2026, 3, 9)))
    with pytest.raises(PolicyRefused, match="blind_review"):
        lineup.build_array(ctx, u["ex3"], lead.id, {"sex": "M"}, ctx.root / "array3")
    assert lead.id in {x.id for x in show_case(ctx, u["ex2"], "C-1").leads}
    with ctx.session() as s:
        assert s.scalars(select(Case).where(Case.number == "C-1")).one().status == (
            "suspect_identified"
        )
        assert audit.verify(s).intact
    trail_ = export(desk, "C-1")
    actions = [e["action"] for e in trail_]
    for a in (
        "request.create",
        "probe_received",
        "request.approve",
        "search",
        "search.run",
        "review.packet",
        "review.submit",
        "review.reveal",
        "lead.release",
        "lead.corroborate",
        "case.suspect",
        "lead.outcome",
        "refused",
    ):
        assert a in actions, a
    refused = {e["details"]["refused"] for e in trail_ if e["action"] == "refused"}
    assert {
        "search.run",
        "request.approve",
        "lead.lineup",
        "case.suspect",
        "lead.corroborate",
        "review.submit",
        "lead.release",
    } <= refused
    submits = [e for e in trail_ if e["action"] == "review.submit"]
    assert all(e["details"]["records"][0]["table"] == "reviews" for e in submits)


def leads_of(desk: dict[str, Any], number: str) -> tuple[Any, ...]:
    from leadguard.services.casework.views import show_case

    return show_case(desk["ctx"], desk["u"]["sup"], number).leads


def test_an_exclusion_by_adjudication_is_final_even_after_a_third_review(desk) -> None:
    ctx, u = desk["ctx"], desk["u"]
    rid = open_case(desk, "C-2")
    cw.approve(ctx, u["sup"], rid)
    cw.run_search(ctx, u["ex1"], rid)
    subject = desk["probe"][1]
    review.submit_review(
        ctx, u["rev"], rid, decide(ctx, u["rev"], review.blind_packet(ctx, u["rev"], rid), subject)
    )
    review.submit_review(
        ctx, u["ex2"], rid, decide(ctx, u["ex2"], review.blind_packet(ctx, u["ex2"], rid), None)
    )
    with pytest.raises(PolicyRefused, match="two_concurring_examiners"):
        leads.release(ctx, u["sup"], rid, subject)
    with pytest.raises(PolicyRefused, match="adjudicator_reads_reviews"):
        leads.adjudicate(ctx, u["sup"], rid, subject, False, "ears differ; not enough")
    brief = leads.adjudication_brief(ctx, u["sup"], rid, subject)
    assert {e.examiner for e in brief.examiners} == {"rev", "ex2"}
    assert all(e.features and e.checks for e in brief.examiners)  # notes and checks shown
    assert leads.adjudicate(ctx, u["sup"], rid, subject, False, "ears differ; not enough") is None
    with pytest.raises(PolicyRefused, match="exclusion_final"):
        leads.adjudicate(ctx, u["sup"], rid, subject, True, "changed my mind")
    # the third reviewer is blind like the first two until their review is in
    with pytest.raises(PolicyRefused, match="blind_review"):
        review.reveal(ctx, u["ex3"], rid)
    with pytest.raises(NotAllowed, match="by the letter"):
        candidate_image(ctx, u["ex3"], rid, subject=subject)
    assert candidate_image(ctx, u["ex3"], rid, letter="A").data
    assert review.reveal(ctx, u["ex2"], rid).reviews  # those who reviewed see it
    review.submit_review(
        ctx, u["ex3"], rid, decide(ctx, u["ex3"], review.blind_packet(ctx, u["ex3"], rid), subject)
    )
    leads.adjudication_brief(ctx, u["sup"], rid, subject)  # the third review read too
    with pytest.raises(PolicyRefused, match="exclusion_final"):
        leads.adjudicate(ctx, u["sup"], rid, subject, True, "third review: ear detail fits")
    shown = review.reveal(ctx, u["sup"], rid)
    assert [a["release"] for a in shown.adjudications] == [False]


def test_a_release_ruling_reversed_on_a_third_review_closes_the_lead(desk) -> None:
    ctx, u = desk["ctx"], desk["u"]
    rid = open_case(desk, "C-2b")
    cw.approve(ctx, u["sup"], rid)
    cw.run_search(ctx, u["ex1"], rid)
    subject = desk["probe"][1]
    review.submit_review(
        ctx, u["rev"], rid, decide(ctx, u["rev"], review.blind_packet(ctx, u["rev"], rid), subject)
    )
    review.submit_review(
        ctx, u["ex2"], rid, decide(ctx, u["ex2"], review.blind_packet(ctx, u["ex2"], rid), None)
    )
    leads.adjudication_brief(ctx, u["sup"], rid, subject)
    lead = leads.adjudicate(ctx, u["sup"], rid, subject, True, "ear detail fits")
    assert lead is not None and lead.basis == "adjudicated" and lead.final is None
    with pytest.raises(PolicyRefused, match="adjudication_final"):
        leads.adjudicate(ctx, u["sup"], rid, subject, False, "changed my mind")
    review.submit_review(
        ctx, u["ex3"], rid, decide(ctx, u["ex3"], review.blind_packet(ctx, u["ex3"], rid), None)
    )
    with pytest.raises(PolicyRefused, match="adjudicator_reads_reviews"):  # not read ex3's
        leads.adjudicate(ctx, u["sup"], rid, subject, False, "third review: ears differ")
    brief = leads.adjudication_brief(ctx, u["sup"], rid, subject)
    assert [e.examiner for e in brief.examiners] == ["rev", "ex2", "ex3"]
    leads.adjudicate(ctx, u["sup"], rid, subject, False, "third review: ears differ")
    shown = review.reveal(ctx, u["sup"], rid)
    assert [a["release"] for a in shown.adjudications] == [True, False]
    assert shown.adjudications[1]["third_review"]["examiner"] == "ex3"
    (now,) = [x for x in leads_of(desk, "C-2b") if x.id == lead.id]
    assert now.final and "excluded by adjudication" in now.final
    with pytest.raises(PolicyRefused, match="lead_final"):
        leads_corroborate(ctx, u["ex2"], lead.id, evidence(date(2026, 3, 9)))
    with pytest.raises(PolicyRefused, match="lead_final"):
        leads.record_outcome(ctx, u["sup"], lead.id, "no_further_action", "")


def test_the_approved_bytes_are_searched_not_the_file_now_at_the_path(desk, tmp_path) -> None:
    ctx, u = desk["ctx"], desk["u"]
    probe = tmp_path / "probe.jpg"
    probe.write_bytes(desk["probes"][0][0].read_bytes())
    rid = open_case(desk, "C-3", probe)
    approved = cw.approve(ctx, u["sup"], rid)
    probe.write_bytes(desk["probes"][2][0].read_bytes())  # swapped after approval
    run = cw.run_search(ctx, u["ex1"], rid)
    with ctx.session() as s:
        row = s.get(SearchLog, run.search_id)
        assert row is not None and row.probe_sha256 == approved.probe_sha256
        assert row.result["candidates"][0]["subject"] == desk["probes"][0][1]


def test_the_search_groups_its_probe_as_the_case_describes_the_person_sought(desk) -> None:
    ctx, u = desk["ctx"], desk["u"]
    rid = open_case(desk, "C-3b")  # INCIDENT describes a man, race not described
    cw.approve(ctx, u["sup"], rid)
    run = cw.run_search(ctx, u["ex1"], rid)
    with ctx.session() as s:
        row = s.get(SearchLog, run.search_id)
        assert row is not None and row.result["candidates"]
        for c in row.result["candidates"]:
            probe = [g for g in c["evidence"]["recorded_groups"] if g["role"] == "probe"]
            assert [g["group"] for g in probe] == ["sex M"]
            # sex alone is not a group an LR is validated within: none shown, and why
            assert c["evidence"]["log10_likelihood_ratio"] is None
            assert "race" in c["evidence"]["likelihood_ratio_withheld_because"]


def test_missing_files_and_prohibited_kinds_are_refused_at_the_request(desk, tmp_path) -> None:
    ctx, u = desk["ctx"], desk["u"]
    open_case(desk, "C-4")
    with pytest.raises(InputError, match="not found"):
        cw.request_search(ctx, u["ex1"], "C-4", tmp_path / "gone.jpg", "other", "p")
    with pytest.raises(ProbeRefused, match="prohibited"):
        cw.request_search(ctx, u["ex1"], "C-4", desk["probe"][0], "sketch", "p")
    refused = [e for e in export(desk, "C-4") if e["action"] == "refused"]
    assert [e["details"]["kind"] for e in refused] == ["UnreadableImage", "ProbeRefused"]


def test_a_probe_without_a_face_leaves_a_search_log_row(desk, tmp_path) -> None:
    from PIL import Image

    ctx, u = desk["ctx"], desk["u"]
    blank = tmp_path / "blank.jpg"
    Image.new("RGB", (300, 300), (120, 130, 140)).save(blank)
    rid = open_case(desk, "C-5", blank)
    cw.approve(ctx, u["sup"], rid)
    with pytest.raises(InputError):
        cw.run_search(ctx, u["ex1"], rid)
    trail_ = export(desk, "C-5")
    assert any(e["action"] == "search_refused" for e in trail_)
    assert any(e["action"] == "refused" and e["details"]["refused"] == "search.run" for e in trail_)


# written out from the issue, independently of authz.ALLOWED: which roles get past each
# service's authorisation (a later input error still counts as "allowed")
SERVICE_MATRIX: dict[str, set[str]] = {
    "gallery.stats": {"supervisor", "auditor", "admin"},
    "gallery.searches": {"supervisor", "auditor", "admin"},
    "gallery.remove": {"admin"},
    "gallery.expunge": {"admin"},
    "index.rebuild": {"admin"},
    "user.list": {"auditor", "admin"},
    "settings.set": {"admin"},
    "case.list": {"examiner", "reviewer", "supervisor", "auditor"},
    "request.list": {"examiner", "reviewer", "supervisor", "auditor"},
    "lead.list": {"examiner", "supervisor", "auditor"},
    "review.queue": {"examiner", "reviewer"},
    "lead.stats": {"supervisor", "auditor"},
    "audit.verify": {"supervisor", "auditor"},
    "audit.export": {"supervisor", "auditor"},
    "search.override": {"supervisor"},
    "case.open": {"examiner", "supervisor"},
}


def test_role_by_service_matrix(desk) -> None:
    from leadguard.core.errors import LeadGuardError
    from leadguard.services import audit as audit_svc
    from leadguard.services import gallery, settings
    from leadguard.services.casework import views
    from leadguard.services.search import Override, SearchRequest, search

    ctx, u = desk["ctx"], desk["u"]
    top_k = str(ctx.settings.top_k)
    calls = {
        "gallery.stats": lambda a: gallery.gallery_stats(ctx, a),
        "gallery.searches": lambda a: gallery.search_log(ctx, a, 1),
        "gallery.remove": lambda a: gallery.remove_subject(ctx, a, "nobody-enrolled"),
        "gallery.expunge": lambda a: gallery.expunge_subject(ctx, a, "nobody-enrolled", ""),
        "index.rebuild": lambda a: gallery.rebuild_index(ctx, a),
        "user.list": lambda a: accounts.list_users(ctx, a),
        "settings.set": lambda a: settings.set_setting(ctx, a, "top_k", top_k),
        "case.list": lambda a: views.list_cases(ctx, a),
        "request.list": lambda a: views.list_requests(ctx, a),
        "lead.list": lambda a: views.list_leads(ctx, a),
        "review.queue": lambda a: review.queue(ctx, a),
        "lead.stats": lambda a: leads.outcome_stats(ctx, a),
        "audit.verify": lambda a: audit_svc.verify(ctx, a),
        "audit.export": lambda a: audit_svc.trail(ctx, a, None, "case:none"),
        "search.override": lambda a: search(
            ctx, a, SearchRequest(desk["probe"][0], "other"), Override("C-M", "urgent: test")
        ),
        "case.open": lambda a: cw.open_case(
            ctx, a, f"C-M-{a.username}", "robbery", date(2026, 1, 1), "d", {}, "o", "w"
        ),
    }
    cw.open_case(ctx, u["sup"], "C-M", "robbery", date(2026, 1, 1), "d", {}, "o", "w")
    by_role = {
        "examiner": "ex1",
        "reviewer": "rev",
        "supervisor": "sup",
        "auditor": "aud",
        "admin": "admin",
    }
    got: dict[str, set[str]] = {k: set() for k in calls}
    for role, name in by_role.items():
        for service, call in calls.items():
            try:
                call(u[name])
            except NotAllowed:
                continue
            except LeadGuardError:
                pass
            got[service].add(role)
    assert got == SERVICE_MATRIX
    for service, call in calls.items():  # nobody logged in: refused everywhere
        if service in ("case.open", "search.override"):
            continue
        with pytest.raises(NotAllowed):
            call(None)
