"""The replay scenarios as data, and what a safeguarded system should do at each step.

The expectation of a step comes from the principles behind it (the Detroit settlement and
the policies in ../shared/docs/domain.md), keyed by the kind of action, not by scenario;
the scenario's own ``should`` text only decides the cases it states outright (an offence
the policy does not list: ``should: refuse: ...``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPLAYS = Path(__file__).resolve().parents[2].parent / "shared" / "replays"

ALLOW, REFUSE, EITHER = "allow", "refuse", "either"

# by action: what the principles ask of a safeguarded system when investigators do it
BY_ACTION = {
    # someone else's face search is recorded as one, so that the same rules apply to it
    "external_private_face_search": ALLOW,
    "submit_probe": ALLOW,  # stored as received; a prohibited kind is refused (below)
    "assess_quality": EITHER,  # refused below the floor, else searched with warnings
    "approve_search": ALLOW,  # by a supervisor who is not the requester
    "search_gallery": EITHER,  # open set: "no candidate" is a normal answer
    "release_lead": ALLOW,  # as an investigative lead only (but see expected())
    # no lineup from a face-search lead without independent evidence
    "build_photo_array_around_candidate": REFUSE,
    "show_array_to_witness": REFUSE,
    "mark_suspect_identified / request_arrest_warrant": REFUSE,
    "record_outcome": ALLOW,
}


@dataclass(frozen=True)
class Step:
    index: int
    action: str
    raw: dict[str, Any]

    @property
    def should(self) -> str:
        return str(self.raw.get("should", ""))


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    facts: dict[str, Any]
    steps: tuple[Step, ...]
    sources: tuple[str, ...] = field(default=())

    @property
    def sex(self) -> str | None:
        sex = (self.facts.get("attributes") or {}).get("sex")
        return str(sex) if sex in ("M", "F") else None

    @property
    def exculpatory(self) -> list[str]:
        return [str(x) for x in self.facts.get("exculpatory") or ()]


def load(path: Path) -> Scenario:
    data = yaml.safe_load(path.read_text())
    steps = tuple(Step(i, str(s["action"]), s) for i, s in enumerate(data.get("steps") or (), 1))
    return Scenario(
        str(data["id"]),
        str(data.get("title", data["id"])),
        dict(data.get("facts") or {}),
        steps,
        tuple(data.get("sources") or ()),
    )


def load_all(folder: Path = REPLAYS) -> list[Scenario]:
    return [load(p) for p in sorted(folder.glob("*.yaml"))]


def expected(step: Step, scenario: Scenario) -> str:
    """allow / refuse / either for this step of this scenario."""
    should = step.should.strip().lower()
    if step.action == "open_case":
        return REFUSE if should.startswith("refuse") else ALLOW
    if step.action == "examiner_review":
        # a "possible lead" while the case records facts the candidate does not fit: blocked
        # until each inconsistency is answered (the investigators answered none)
        return REFUSE if step.raw.get("exculpatory_facts") or scenario.exculpatory else ALLOW
    if step.action == "release_lead" and scenario.exculpatory:
        # contrary facts are answered by a supervisor in writing, not outvoted by two
        # "possible lead" reviews: no release on the reviews alone
        return REFUSE
    if step.action == "record_corroboration":
        return claim_expected(corroboration_claim(step, scenario))
    return BY_ACTION.get(step.action, EITHER)


@dataclass(frozen=True)
class Claim:
    """What the investigators offered as corroboration, with the answers to the questions
    that decide independence, read from the scenario's words (as a truthful investigator
    would answer them)."""

    text: str
    face_comparison: bool  # any face recognition or face comparison, by a system or a person
    shown_search_array: bool  # a witness shown the candidate or an array built from the search
    presence_only: bool  # places the person somewhere without linking them to the offence

    @property
    def nothing(self) -> bool:
        return not self.text


FACE = (
    r"\b(fr|frt|face|facial|comparison|compared|looks?|resembl\w*|match\w*|same person|clearview)\b"
)
ARRAY = r"\b(array|lineup|line-up|pick|show-up|photo spread)\b"
PRESENCE = r"\b(phone location|licen[cs]e plate|in the area|cell site)\b"


def corroboration_claim(step: Step, scenario: Scenario) -> Claim:
    """The claim as the investigators had it; where the scenario says only "none
    independent", what they then relied on for the warrant (less the face search itself)."""
    had = str(step.raw.get("what_investigators_had", "")).strip()
    text = had.split(":", 1)[1].strip() if had.lower().startswith("none independent:") else had
    if text.lower() in ("none", "none independent", ""):
        text = ""
        basis = next(
            (str(s.raw.get("basis_used", "")) for s in scenario.steps if "basis_used" in s.raw), ""
        )
        rest = re.sub(r"^face search\s*(\+|alone)?", "", basis.strip(), flags=re.I).strip(" ;+")
        if rest and "alone" not in basis.lower():
            text = rest
    low = text.lower()
    return Claim(
        text,
        re.search(FACE, low) is not None,
        re.search(ARRAY, low) is not None,
        re.search(PRESENCE, low) is not None,
    )


def claim_expected(claim: Claim) -> str:
    if claim.nothing:
        return EITHER  # nothing offered: nothing to accept or refuse
    bad = claim.face_comparison or claim.shown_search_array or claim.presence_only
    return REFUSE if bad else ALLOW
