"""The pure rules of corroboration and exculpatory checks: the face-search wording screen,
the checklist a possible lead must carry, and what a ruling must answer."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from leadguard.core.errors import InputError
from leadguard.services.casework.checks import (
    PHOTO_AGE,
    AdjudicationBrief,
    Inconsistency,
    check_answers,
    check_checklist,
    refuse_release,
    required_checks,
)
from leadguard.services.casework.corroboration import face_search_wording
from leadguard.services.casework.policy import PolicyRefused


@pytest.mark.parametrize(
    "text",
    [
        "Clearview AI face recognition hit on the same man",
        "FR hit from the state system",
        "the sergeant compared the photos: it is the same person",
        "another agency matched him",
        "the victim identified him from the array",
        "picked number 3 in the photo lineup",
        "she looks like the woman in the video",
        "a strong resemblance to the suspect",
        "facial comparison by the analyst",
        "a six-pack shown to the clerk",
    ],
)
def test_face_search_wording_is_caught(text: str) -> None:
    assert face_search_wording(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "his fingerprint matched the latent on the till drawer",
        "DNA match from the cap left at the scene",
        "receipt for the gloves bought an hour before",
        "carrier records for his phone",
        "he admitted the robbery in a recorded interview",
        "facial injuries from the fight, photographed at booking",
    ],
)
def test_independent_wording_passes(text: str) -> None:
    assert face_search_wording(text) is None


def case(attributes: dict[str, Any], facts: dict[str, str] | None = None) -> Any:
    return SimpleNamespace(attributes=attributes, known_facts=facts or {})


def test_required_checks_are_every_attribute_fact_and_the_photo_age() -> None:
    c = case({"sex": "F", "height": "5'4\"", "tattoo": ""}, {"pregnancy": "not visibly"})
    assert required_checks(c) == ("sex", "height", "pregnancy", PHOTO_AGE)


def decision(kind: str, *checks: dict[str, Any]) -> dict[str, Any]:
    return {"decision": kind, "confidence": 3, "features": {"nose": "x"}, "exculpatory": [*checks]}


def ok(name: str) -> dict[str, Any]:
    return {"attribute": name, "consistent": True, "note": ""}


REQUIRED = ("sex", "pregnancy", PHOTO_AGE)


def test_a_possible_lead_missing_a_check_is_refused_naming_it() -> None:
    with pytest.raises(PolicyRefused, match=r"exculpatory_checklist_complete.*pregnancy"):
        check_checklist("A", decision("possible_lead", ok("sex"), ok(PHOTO_AGE)), REQUIRED)


def test_an_inconsistency_needs_the_reviewers_explanation() -> None:
    bad = {"attribute": "pregnancy", "consistent": False, "note": "eight months pregnant"}
    d = decision("possible_lead", ok("sex"), bad, ok(PHOTO_AGE))
    with pytest.raises(PolicyRefused, match=r"inconsistency_explained.*pregnancy"):
        check_checklist("A", d, REQUIRED)
    bad["explanation"] = "the photo is from before the pregnancy; the incident was later"
    check_checklist("A", d, REQUIRED)  # explained: allowed


def test_an_exclusion_needs_no_checklist_and_cannot_be_checked_needs_a_note() -> None:
    check_checklist("A", decision("exclusion"), REQUIRED)
    vague = {"attribute": "sex", "consistent": None, "note": ""}
    with pytest.raises(InputError, match="say why"):
        check_checklist("A", decision("exclusion", vague), REQUIRED)
    with pytest.raises(InputError, match="repeated: sex"):
        check_checklist("A", decision("exclusion", ok("sex"), ok("sex")), REQUIRED)
    with pytest.raises(InputError, match="consistent"):
        check_checklist("A", decision("exclusion", {"attribute": "sex"}), REQUIRED)


def brief(*found: Inconsistency, unchecked: tuple[str, ...] = ()) -> AdjudicationBrief:
    names = [i.check for i in found] + [u.split(" ")[0] for u in unchecked]
    return AdjudicationBrief(1, "C", "A", (), found, unchecked, tuple(dict.fromkeys(names)))


def test_no_release_on_reviews_with_an_inconsistency_or_a_missing_check() -> None:
    refuse_release(brief())  # every check consistent and made: may be released
    explained = Inconsistency("height", "ex1", "possible_lead", "taller", "photo angle")
    with pytest.raises(PolicyRefused, match=r"inconsistencies_answered.*height.*explained"):
        refuse_release(brief(explained))  # explained, still a supervisor's to answer
    open_ = Inconsistency("pregnancy", "ex2", "exclusion", "eight months", "")
    with pytest.raises(PolicyRefused, match=r"pregnancy \(ex2: not consistent, unexplained"):
        refuse_release(brief(open_))
    with pytest.raises(PolicyRefused, match="tattoo"):
        refuse_release(brief(unchecked=("tattoo (not checked by ex1)",)))


def test_a_ruling_answers_each_inconsistency_in_writing() -> None:
    b = brief(Inconsistency("pregnancy", "ex2", "exclusion", "eight months", ""))
    with pytest.raises(PolicyRefused, match=r"adjudication_answers_inconsistencies.*pregnancy"):
        check_answers(b, {})
    with pytest.raises(PolicyRefused, match="pregnancy"):
        check_answers(b, {"pregnancy": "  "})
    with pytest.raises(InputError, match="not an inconsistency"):
        check_answers(b, {"pregnancy": "x", "tattoo": "y"})
    check_answers(b, {"pregnancy": "the candidate was eight months pregnant: excluded"})
