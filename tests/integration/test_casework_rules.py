"""The rules that break the wrongful-arrest chain, through the services on the real model:
exculpatory checks that cannot contradict a lead, rulings that answer every inconsistency,
corroboration that is really independent, and leads that stay refuted."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from leadguard.core.errors import InputError
from leadguard.services.audit import trail
from leadguard.services.casework import leads, review
from leadguard.services.casework import service as cw
from leadguard.services.casework.blind import letters_of
from leadguard.services.casework.corroboration import corroborate
from leadguard.services.casework.policy import PolicyRefused
from leadguard.services.casework.views import show_case
from leadguard.storage.tables import Lead
from tests.casework_helpers import checklist, evidence
from tests.integration.test_casework import INCIDENT, make_desk

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("database")]


@pytest.fixture(scope="module")
def desk(
    tmp_path_factory: pytest.TempPathFactory, johns_split: Any, backend: str, request: Any
) -> dict[str, Any]:
    return make_desk(tmp_path_factory, johns_split, backend, request)


NO_BUMP = {"attribute": "pregnancy", "consistent": False, "note": "eight months pregnant"}


def searched(desk: dict[str, Any], number: str, facts: dict[str, str] | None = None) -> int:
    ctx, u = desk["ctx"], desk["u"]
    cw.open_case(
        ctx, u["sup"], number, "carjacking", date(2026, 3, 1), "carjacking at a gas station",
        INCIDENT, "Det. Rivera", "warrant 26-200", known_facts=facts,
    )  # fmt: skip
    for name in ("ex1", "ex2", "ex3", "rev"):
        cw.assign(ctx, u["sup"], number, name)
    req = cw.request_search(
        ctx, u["ex1"], number, desk["probe"][0], "surveillance_still", "find the driver"
    )
    cw.approve(ctx, u["sup"], req.id)
    cw.run_search(ctx, u["ex1"], req.id)
    return req.id


def decisions(
    desk: dict[str, Any], who: str, rid: int, lead: str | None, checks: list[dict[str, Any]]
) -> dict[str, Any]:
    packet = review.blind_packet(desk["ctx"], desk["u"][who], rid)
    # the packet names candidates by letter; the scripted examiner "sees" the lead's letter
    seen = letters_of(desk["ctx"], rid, desk["u"][who].id).get(lead or "")
    return {
        c.letter: {
            "decision": "possible_lead" if c.letter == seen else "exclusion",
            "confidence": 3,
            "features": {"nose": "similar bridge"},
            "exculpatory": checks if c.letter == seen else [],
        }
        for c in packet.candidates
    }


def released(desk: dict[str, Any], number: str) -> int:
    """A lead released on two concurring, consistent reviews."""
    ctx, u, subject = desk["ctx"], desk["u"], desk["probe"][1]
    rid = searched(desk, number)
    for who in ("rev", "ex2"):
        review.submit_review(
            ctx, u[who], rid, decisions(desk, who, rid, subject, checklist(INCIDENT))
        )
    return leads.release(ctx, u["sup"], rid, subject).id


def test_the_packet_names_every_check_and_an_incomplete_or_contradicted_lead_is_refused(
    desk,
) -> None:
    ctx, u, subject = desk["ctx"], desk["u"], desk["probe"][1]
    rid = searched(desk, "K-1", {"pregnancy": "the driver was not visibly pregnant"})
    packet = review.blind_packet(ctx, u["rev"], rid)
    assert set(packet.required_checks) == {*INCIDENT, "pregnancy", "gallery_photo_age"}
    assert packet.known_facts == {"pregnancy": "the driver was not visibly pregnant"}
    with pytest.raises(PolicyRefused, match=r"exculpatory_checklist_complete.*pregnancy"):
        review.submit_review(
            ctx, u["rev"], rid, decisions(desk, "rev", rid, subject, checklist(INCIDENT))
        )
    full = checklist([*INCIDENT, "pregnancy"], pregnancy=dict(NO_BUMP))
    with pytest.raises(PolicyRefused, match="inconsistency_explained"):
        review.submit_review(ctx, u["rev"], rid, decisions(desk, "rev", rid, subject, full))

    def refusal_rules() -> set[Any]:
        return {
            e["details"].get("rule")
            for e in trail(ctx, u["aud"], "K-1")
            if e["action"] == "refused"
        }

    # recorded, but sealed like the rest of the request's entries until the reviews are in
    assert refusal_rules() == {None}
    # the other examiner excludes on the contradiction; the first explains it
    review.submit_review(ctx, u["ex2"], rid, decisions(desk, "ex2", rid, None, []))
    explained = checklist(
        [*INCIDENT, "pregnancy"],
        pregnancy={**NO_BUMP, "explanation": "she may have given birth since the photo"},
    )
    review.submit_review(ctx, u["rev"], rid, decisions(desk, "rev", rid, subject, explained))
    assert "inconsistency_explained" in refusal_rules()  # unsealed: the reviews are in
    with pytest.raises(PolicyRefused, match="two_concurring_examiners"):
        leads.release(ctx, u["sup"], rid, subject)
    with pytest.raises(PolicyRefused, match="adjudicator_reads_reviews"):
        leads.adjudicate(ctx, u["sup"], rid, subject, True, "features fit")
    brief = leads.adjudication_brief(ctx, u["sup"], rid, subject)
    assert {e.examiner: e.decision for e in brief.examiners} == {
        "rev": "possible_lead",
        "ex2": "exclusion",
    }
    assert [(i.check, i.examiner) for i in brief.inconsistencies] == [("pregnancy", "rev")]
    assert brief.to_answer == ("pregnancy",)
    with pytest.raises(PolicyRefused, match="adjudication_answers_inconsistencies"):
        leads.adjudicate(ctx, u["sup"], rid, subject, True, "features fit")
    with pytest.raises(InputError, match="not an inconsistency"):
        leads.adjudicate(ctx, u["sup"], rid, subject, False, "n", {"pregnancy": "x", "age": "y"})
    answer = {"pregnancy": "eight months pregnant on the day: she is not the driver"}
    assert leads.adjudicate(ctx, u["sup"], rid, subject, False, "excluded", answer) is None
    (ruling,) = review.reveal(ctx, u["sup"], rid).adjudications
    assert ruling["answers"] == answer


def test_a_fact_recorded_after_the_reviews_blocks_release_until_a_ruling_answers_it(
    desk,
) -> None:
    ctx, u, subject = desk["ctx"], desk["u"], desk["probe"][1]
    rid = searched(desk, "K-2")
    for who in ("rev", "ex2"):
        review.submit_review(
            ctx, u[who], rid, decisions(desk, who, rid, subject, checklist(INCIDENT))
        )
    with pytest.raises(InputError, match="already a described attribute"):
        cw.record_fact(ctx, u["sup"], "K-2", "sex", "M")
    cw.record_fact(ctx, u["sup"], "K-2", "tattoo", "a snake tattoo on the left forearm")
    with pytest.raises(PolicyRefused, match=r"inconsistencies_answered.*tattoo"):
        leads.release(ctx, u["sup"], rid, subject)
    brief = leads.adjudication_brief(ctx, u["sup"], rid, subject)
    assert brief.to_answer == ("tattoo",) and len(brief.unchecked) == 2
    with pytest.raises(PolicyRefused, match="adjudication_answers_inconsistencies"):
        leads.adjudicate(ctx, u["sup"], rid, subject, True, "both examiners concur")
    lead = leads.adjudicate(
        ctx, u["sup"], rid, subject, True, "both concur",
        {"tattoo": "the booking record notes a snake tattoo on the left forearm"},
    )  # fmt: skip
    assert lead is not None and lead.basis == "adjudicated"


def test_two_examiners_explaining_an_inconsistency_away_leave_it_to_a_ruling(desk) -> None:
    ctx, u, subject = desk["ctx"], desk["u"], desk["probe"][1]
    rid = searched(desk, "K-7", {"pregnancy": "the driver was not visibly pregnant"})
    explained = checklist(
        [*INCIDENT, "pregnancy"], pregnancy={**NO_BUMP, "explanation": "an old photo"}
    )
    for who in ("rev", "ex2"):
        review.submit_review(ctx, u[who], rid, decisions(desk, who, rid, subject, explained))
    with pytest.raises(PolicyRefused, match=r"inconsistencies_answered.*pregnancy"):
        leads.release(ctx, u["sup"], rid, subject)
    brief = leads.adjudication_brief(ctx, u["sup"], rid, subject)
    assert brief.to_answer == ("pregnancy",) and len(brief.inconsistencies) == 2
    answer = {"pregnancy": "she was eight months pregnant on the day: not the driver"}
    assert leads.adjudicate(ctx, u["sup"], rid, subject, False, "excluded", answer) is None
    with pytest.raises(PolicyRefused, match="exclusion_final"):
        leads.adjudicate(ctx, u["sup"], rid, subject, True, "on reflection", answer)


def test_corroboration_must_be_independent_and_link_the_person_to_the_offence(desk) -> None:
    ctx, u = desk["ctx"], desk["u"]
    lead = released(desk, "K-3")
    on = date(2026, 3, 9)
    refused = (
        (evidence(on, face_comparison_involved=True), PolicyRefused, "not_face_comparison"),
        (evidence(on, witness_shown_candidate=True), PolicyRefused, "witness_not_shown_candidate"),
        (evidence(on, face_comparison_involved=None), InputError, "asked every time"),
        (evidence(on, links_to=None), InputError, "links_to"),
        (
            evidence(on, kind="other", description="Clearview AI face recognition hit on him"),
            PolicyRefused,
            "face_search_wording",
        ),
        (
            evidence(on, kind="other", how_obtained="the sergeant compared the photos"),
            PolicyRefused,
            "face_search_wording",
        ),
        (
            evidence(
                on, kind="eyewitness_identification_before_search",
                description="the victim picked him", how_obtained="interview",
                witness="the victim", identified_on=date.today(),
            ),
            PolicyRefused,
            "eyewitness_before_search",
        ),
        (
            evidence(
                on, kind="witness_knows_person", description="named him",
                how_obtained="interview", witness="a contractor",
                witness_relationship="knows him from the store video",
            ),
            PolicyRefused,
            "knows_person_not_from_recording",
        ),
        (evidence(on, kind="witness_knows_person"), InputError, "needs the witness"),
    )  # fmt: skip
    for ev, error, match in refused:
        with pytest.raises(error, match=match):
            corroborate(ctx, u["ex2"], lead, ev)
    presence = evidence(on, kind="documents_or_records", links_to="presence_only")
    assert corroborate(ctx, u["ex2"], lead, presence)["counts"] is False
    with pytest.raises(PolicyRefused, match="corroboration_before_suspect"):
        leads.suspect_identified(ctx, u["sup"], "K-3", lead)
    with pytest.raises(PolicyRefused, match="corroboration_before_suspect"):
        leads.record_outcome(ctx, u["sup"], lead, "corroborated", "")
    before = evidence(
        on, kind="eyewitness_identification_before_search",
        description="the attendant named the regular customer who drove off",
        how_obtained="statement on the day", witness="the attendant",
        identified_on=date(2026, 3, 1),
    )  # fmt: skip
    assert corroborate(ctx, u["ex2"], lead, before)["counts"] is True
    leads.suspect_identified(ctx, u["sup"], "K-3", lead)
    (info,) = [x for x in show_case(ctx, u["sup"], "K-3").leads if x.id == lead]
    assert info.independent and [c["counts"] for c in info.corroboration] == [False, True]


def test_old_free_text_corroboration_is_shown_as_legacy_and_never_counted(desk) -> None:
    ctx, u = desk["ctx"], desk["u"]
    lead = released(desk, "K-4")
    with ctx.session() as s:  # as a workspace from before the structured records holds it
        row = s.get(Lead, lead)
        assert row is not None
        row.corroboration = [
            {"category": "other_independent", "what": "victim's array pick",
             "obtained_by": "Det. X", "obtained_on": "2026-03-09", "recorded_by": "ex2"}
        ]  # fmt: skip
    (info,) = [x for x in show_case(ctx, u["sup"], "K-4").leads if x.id == lead]
    assert info.corroboration[0]["legacy"] and not info.corroboration[0]["counts"]
    assert not info.independent
    with pytest.raises(PolicyRefused, match="corroboration_before_suspect"):
        leads.suspect_identified(ctx, u["sup"], "K-4", lead)


def test_a_refuted_lead_stays_refuted(desk) -> None:
    ctx, u = desk["ctx"], desk["u"]
    lead = released(desk, "K-5")
    corroborate(ctx, u["ex2"], lead, evidence(date(2026, 3, 9)))
    leads.record_outcome(ctx, u["sup"], lead, "refuted", "she was eight months pregnant")
    for outcome in ("no_further_action", "corroborated", "refuted"):
        with pytest.raises(PolicyRefused, match="lead_final"):
            leads.record_outcome(ctx, u["sup"], lead, outcome, "")
    with pytest.raises(PolicyRefused, match="lead_final"):
        corroborate(ctx, u["ex2"], lead, evidence(date(2026, 3, 10)))
    with pytest.raises(PolicyRefused, match="lead_final"):
        leads.suspect_identified(ctx, u["sup"], "K-5", lead)
    (info,) = [x for x in show_case(ctx, u["sup"], "K-5").leads if x.id == lead]
    assert info.final and info.final.startswith("refuted")


def test_the_commands(desk, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from leadguard.cli.main import app
    from tests.integration.test_casework import PW

    ctx, u, subject = desk["ctx"], desk["u"], desk["probe"][1]
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    ws, runner = str(ctx.root), CliRunner()

    def as_user(name: str, *args: str) -> Any:
        login = runner.invoke(app, ["login", name, "--password-stdin", "-w", ws], input=PW)
        assert login.exit_code == 0, login.output
        return runner.invoke(app, [*args, "-w", ws])

    rid = searched(desk, "K-6")
    for who in ("rev", "ex2"):
        review.submit_review(
            ctx, u[who], rid, decisions(desk, who, rid, subject, checklist(INCIDENT))
        )
    res = as_user("sup", "case", "fact", "K-6", "tattoo", "snake on the left forearm")
    assert res.exit_code == 0, res.output
    res = as_user("sup", "lead", "release", str(rid), subject)
    assert res.exit_code == 2 and "inconsistencies_answered" in res.output, res.output
    res = as_user("sup", "lead", "brief", str(rid), subject)
    assert res.exit_code == 0 and "nose: similar bridge" in res.output, res.output
    assert "tattoo" in res.output and "--answers" in res.output
    answers = tmp_path / "answers.json"
    answers.write_text('{"tattoo": "the booking record shows the same tattoo"}')
    res = as_user(
        "sup", "lead", "adjudicate", str(rid), subject, "--note", "concur", "--release",
        "--answers", str(answers),
    )  # fmt: skip
    assert res.exit_code == 0 and "released" in res.output, res.output
    (lead,) = [x for x in show_case(ctx, u["sup"], "K-6").leads]
    common = [
        "lead", "corroborate", str(lead.id), "--what", "his fingerprint on the till",
        "--how", "latent print", "--obtained-by", "Det. Rivera", "--obtained-on", "2026-03-09",
        "--witness-shown-candidate", "no",
    ]  # fmt: skip
    res = as_user(
        "ex2", *common, "--kind", "other", "--face-comparison", "yes", "--links-to", "offence"
    )
    assert res.exit_code == 2 and "not_face_comparison" in res.output, res.output
    res = as_user(
        "ex2", *common, "--kind", "other", "--face-comparison", "maybe", "--links-to", "offence"
    )
    assert res.exit_code != 0 and "answer yes or no" in res.output, res.output
    res = as_user(
        "ex2", *common, "--kind", "documents_or_records", "--face-comparison", "no",
        "--links-to", "presence_only",
    )  # fmt: skip
    assert res.exit_code == 0 and "presence only" in res.output, res.output
    res = as_user("ex2", "lead", "list", "--json")
    assert res.exit_code == 0, res.output
    (listed,) = [x for x in json.loads(res.output) if x["id"] == lead.id]
    assert [c["counts"] for c in listed["corroboration"]] == [False] and not listed["independent"]
