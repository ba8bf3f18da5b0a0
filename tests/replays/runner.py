"""Drive one scenario, in one variant, through the casework services, step by step, and
judge each step against what a safeguarded system should do.

A refused step that the principles want refused *stops* the chain there. Where a step
stops it (an offence off the list, a probe below the quality floor, a search that names
nobody, a review that the rules refuse), the runner continues with the strongest honest
way past it, marked *forced* (a listed offence; a milder stand-in probe, then the clean
photo, then the enrolled photo itself; the inconsistencies explained), so that every later
step is exercised in every scenario."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from leadguard.core.errors import LeadGuardError
from leadguard.quality.gate import SOURCE_TYPES, workspace_policy
from leadguard.quality.provenance import Edit
from leadguard.services.context import Actor, Context
from tests.replays import adapter
from tests.replays.scenarios import (
    ALLOW,
    EITHER,
    REFUSE,
    Scenario,
    Step,
    corroboration_claim,
    expected,
)
from tests.replays.standins import (
    Cast,
    degradations,
    degrade,
    face_crop,
    incident,
    write_probe,
)

log = logging.getLogger(__name__)

# rules that rest on the same fact are one safeguard: a chain stopped by two of them has
# been stopped once (e.g. no lineup and no "suspect identified" both without corroboration)
GROUPS = {
    "eligible_offences": "offence",
    "QualityRefused": "probe quality",
    "NoFace": "probe quality",
    "FaceTooSmall": "probe quality",
    "no_candidate": "open-set search",
    "inconsistency_explained": "exculpatory facts",
    "inconsistencies_explained": "exculpatory facts",
    "exculpatory_checklist_complete": "exculpatory facts",
    "two_concurring_examiners": "exculpatory facts",
    "inconsistencies_answered": "exculpatory facts",
    "witness_saw_only_recording": "witness type",
}
CORROBORATION_RULES = re.compile(r"corroborat|independent|face_comparison|shown_candidate|wording")
LADDER = ("as described", "milder stand-in", "clean photo", "the enrolled photo itself")
# (each cropped to the face: LFW's press photos often hold bystanders at the edges)
BLIND_ADMIN = "blindadmin"


@dataclass
class StepResult:
    index: int
    action: str
    expected: str
    outcome: str  # allowed | refused | no candidate | not attempted
    rule: str = ""
    forced: str = ""  # how the runner got past this step, if it had to
    detail: str = ""

    @property
    def stops(self) -> bool:
        return self.outcome in ("refused", "no candidate") and self.expected in (REFUSE, EITHER)

    @property
    def verdict(self) -> str:
        if self.outcome == "allowed" and self.expected == REFUSE:
            return "wrongly allowed"
        if self.outcome == "refused" and self.expected == ALLOW:
            return "wrongly refused"
        return "ok"

    @property
    def group(self) -> str:
        if self.rule in GROUPS:
            return GROUPS[self.rule]
        if CORROBORATION_RULES.search(self.rule) or self.rule == "array_by_description":
            return "independent corroboration"
        return self.rule


@dataclass
class Replay:
    scenario: str
    variant: str
    steps: list[StepResult] = field(default_factory=list)

    @property
    def first_stop(self) -> StepResult | None:
        return next((s for s in self.steps if s.stops), None)

    @property
    def stop_groups(self) -> list[str]:
        return list(dict.fromkeys(s.group for s in self.steps if s.stops))

    @property
    def wrong(self) -> list[StepResult]:
        return [s for s in self.steps if s.verdict != "ok"]


def rule_of(exc: BaseException) -> str:
    return str(getattr(exc, "rule", "") or type(exc).__name__)


class Chain:
    """One variant of one scenario: the case, its current request, lead and stand-in."""

    def __init__(
        self, ctx: Context, u: dict[str, Actor], sc: Scenario, cast: Cast, tmp: Path
    ) -> None:
        self.ctx, self.u, self.sc, self.cast, self.tmp = ctx, u, sc, cast, tmp
        self.number = f"{sc.id}-{cast.variant}"
        self.result = Replay(sc.id, cast.variant)
        self.incident = incident(sc)
        self.attributes = {k: str(v) for k, v in (sc.facts.get("attributes") or {}).items()}
        self.case_open = False
        self.level = 0
        self.request: int | None = None
        self.candidates = 0
        self.target: str | None = None
        self.lead: int | None = None
        self.deferred: list[Step] = []
        self.source_type = "other"
        self.edits: tuple[Edit, ...] = ()

    # --- helpers ------------------------------------------------------------------------

    def attempt(self, step: Step, call: Any, *args: Any) -> StepResult:
        exp = expected(step, self.sc)
        try:
            call(*args)
        except LeadGuardError as exc:
            return StepResult(step.index, step.action, exp, "refused", rule_of(exc), "", str(exc))
        return StepResult(step.index, step.action, exp, "allowed")

    def add(self, r: StepResult) -> StepResult:
        self.result.steps.append(r)
        return r

    def probe(self) -> Path:
        """The stand-in probe at the current rung of the ladder."""
        kinds = degradations(self.sc)
        name = self.tmp / f"{self.number}-probe-{self.level}.png"
        if self.level == 0:
            return write_probe(degrade(self.cast.culprit.photos[0], kinds, 1.0), name)
        if self.level == 1:
            return write_probe(degrade(self.cast.culprit.photos[0], kinds, 0.4), name)
        if self.level == 2:
            return write_probe(face_crop(self.cast.culprit.photos[0]), name)
        return write_probe(face_crop(self.cast.innocent_photo), name)

    def new_request(self) -> int:
        rid = adapter.request(
            self.ctx, self.u["ex1"], self.number, self.probe(), self.source_type, self.edits
        )
        self.request = rid
        return rid

    def climb(self, approve: bool = True) -> bool:
        """A stronger stand-in: a new request on it (approved, once approval has happened)."""
        if self.level + 1 >= len(LADDER):
            return False
        self.level += 1
        rid = self.new_request()
        if approve:
            adapter.approve(self.ctx, self.u["sup"], rid)
        return True

    # --- steps --------------------------------------------------------------------------

    def step(self, st: Step) -> None:
        handler = getattr(self, "do_" + re.sub(r"\W+", "_", st.action.split(" /")[0]), None)
        if handler is None:
            self.add(StepResult(st.index, st.action, expected(st, self.sc), "not attempted"))
            return
        handler(st)

    def do_external_private_face_search(self, st: Step) -> None:
        if not self.case_open:
            self.deferred.append(st)  # recorded under the case once it is open
            return
        system = str(self.sc.facts.get("gallery", "a face search outside LeadGuard"))
        on = self.incident + timedelta(days=7)
        r = self.attempt(
            st,
            adapter.record_external,
            self.ctx,
            self.u["ex1"],
            self.number,
            system,
            on,
            self.cast.innocent,
        )
        r.detail = r.detail or "recorded as a face search run outside LeadGuard (never a lead)"
        self.add(r)

    def do_open_case(self, st: Step) -> None:
        typed = str(st.raw.get("offence", ""))
        offences = adapter.eligible_offences(self.ctx)
        # the investigator picks the listed offence the case names, else types its own word
        offence = next((o for o in offences if o in typed.lower()), typed.split(" (")[0])
        r = self.attempt(
            st,
            adapter.open_case,
            self.ctx,
            self.u["sup"],
            self.number,
            offence,
            self.incident,
            typed,
            self.attributes,
        )
        r.detail = f"offence {offence!r}" + (f": {r.detail}" if r.detail else "")
        if r.outcome == "refused":
            adapter.open_case(
                self.ctx,
                self.u["sup"],
                self.number,
                offences[0],
                self.incident,
                typed,
                self.attributes,
            )
            r.forced = f"opened as {offences[0]!r} to exercise the later steps"
        self.add(r)
        self.case_open = True
        for name in ("ex1", "ex2", "rev"):
            adapter.assign(self.ctx, self.u["sup"], self.number, name)
        for later in self.deferred:
            self.step(later)
        self.deferred.clear()

    def do_submit_probe(self, st: Step) -> None:
        declared = str(st.raw.get("source_type", "other"))
        self.source_type = next((t for t in SOURCE_TYPES if declared.startswith(t)), "other")
        self.edits = tuple(
            Edit.parse("brightness:1.3") for e in st.raw.get("edits") or () if "bright" in str(e)
        )
        r = self.attempt(st, self.new_request)
        r.detail = f"declared {self.source_type}, edits {[e.op for e in self.edits]}; " + ", ".join(
            degradations(self.sc)
        )
        self.add(r)

    def do_assess_quality(self, st: Step) -> None:
        """The quality gate on the stand-in probe (what ``leadguard quality`` shows and the
        search applies); below the floor, the chain climbs the ladder (forced)."""
        from leadguard.pipeline.compose import FacePipeline, FaceSelection
        from leadguard.quality.gate import assess

        ws, exp = self.ctx.ws, expected(st, self.sc)
        pipe = FacePipeline(
            self.ctx.face_model(), ws.settings.min_face_size, ws.settings.max_image_pixels
        )
        first: StepResult | None = None
        while True:
            try:
                m = pipe.measure(self.probe().read_bytes(), "probe", FaceSelection("reject", None))
                verdict = assess(m.quality, workspace_policy(ws))
                ok, rule = verdict.decision != "refuse", "QualityRefused"
                why = f"{verdict.decision}: " + (
                    "; ".join(f.text() for f in verdict.findings) or "no finding"
                )
            except LeadGuardError as exc:  # no usable face at all
                ok, rule, why = False, rule_of(exc), str(exc)
            if ok:
                break
            if first is None:
                first = self.add(StepResult(st.index, st.action, exp, "refused", rule, "", why))
            if not self.climb(approve=False):
                return
        if first is None:
            self.add(StepResult(st.index, st.action, exp, "allowed", "", "", why))
        else:
            first.forced = f"{LADDER[self.level]} ({why})"

    def do_approve_search(self, st: Step) -> None:
        assert self.request is not None
        try:  # the requester cannot approve their own request; an unapproved one cannot run
            adapter.approve(self.ctx, self.u["ex1"], self.request)
            own = "the requester approved their own request"
        except LeadGuardError as exc:
            own = f"requester's own approval refused ({rule_of(exc)})"
        r = self.attempt(st, adapter.approve, self.ctx, self.u["sup"], self.request)
        r.detail = own + (f"; {r.detail}" if r.detail else "")
        self.add(r)

    def do_search_gallery(self, st: Step) -> None:
        exp = expected(st, self.sc)
        first: StepResult | None = None
        while True:
            assert self.request is not None
            try:
                self.candidates = adapter.run(self.ctx, self.u["ex1"], self.request)
                outcome, rule, why = "allowed", "", f"{self.candidates} candidate(s)"
                if self.candidates == 0:
                    outcome, rule, why = (
                        "no candidate",
                        "no_candidate",
                        "no one above the threshold",
                    )
            except LeadGuardError as exc:
                outcome, rule, why = "refused", rule_of(exc), str(exc)
            subjects = (
                adapter.packet_subjects(self.ctx, self.u["ex2"], self.request)
                if outcome == "allowed"
                else []
            )
            # the chain goes after the innocent if listed, else after whoever is listed
            self.target = (
                self.cast.innocent if self.cast.innocent in subjects else (subjects or [None])[0]
            )
            res = StepResult(st.index, st.action, exp, outcome, rule, "", why)
            if first is None:
                first = self.add(res)
            if self.target is not None:
                if res is not first:
                    first.forced = f"{LADDER[self.level]}: {why}"
                return
            if not self.climb():
                return

    def review_facts(self) -> dict[str, str]:
        """The case's exculpatory facts as checks: on the described attribute they concern,
        on the gallery photo's age, or on a check of their own."""
        out: dict[str, str] = {}
        synonyms = {
            "build": r"\blb\b|lighter|heavier|weight|thinner",
            "height": r"tall|short|\bft\b",
        }
        for fact in self.sc.exculpatory:
            low = fact.lower()
            name = None
            if re.search(r"photo.*(old|expired)|years old|expired", low):
                name = adapter.PHOTO_AGE
            for key, value in self.attributes.items():
                words = [
                    w
                    for w in re.findall(r"[a-z]{4,}", value.lower())
                    if w not in ("none", "visible", "visibly")
                ]
                if (
                    key[:5] in low
                    or any(w in low for w in words)
                    or (key in synonyms and re.search(synonyms[key], low))
                ):
                    name = name or key
            name = name or "_".join(re.findall(r"[a-z]+", low)[:4])
            out[name] = fact if name not in out else f"{out[name]}; {fact}"
        return out

    def do_examiner_review(self, st: Step) -> None:
        exp = expected(st, self.sc)
        if self.request is None or self.target is None:
            self.add(StepResult(st.index, st.action, exp, "not attempted"))
            return
        try:
            adapter.packet_subjects(self.ctx, self.u["ex1"], self.request)
            searcher = "the searcher could review"
        except LeadGuardError as exc:
            searcher = f"the searcher may not review ({rule_of(exc)})"
        facts = self.review_facts()
        first: StepResult | None = None
        for name in ("ex2", "rev"):
            args = (self.ctx, self.u[name], self.request, self.target, self.attributes, facts)
            r = self.attempt(st, adapter.submit_review, *args, None)
            if r.outcome == "refused":
                first = first or r
                adapter.submit_review(*args, "not decisive alone; for the investigator to check")
        r = first or StepResult(st.index, st.action, exp, "allowed")
        r.detail = f"{searcher}; not consistent: {sorted(facts)}" + (
            f"; {r.detail}" if r.detail else ""
        )
        if first is not None:
            r.forced = "each inconsistency explained by the examiner"
        self.add(r)

    def do_release_lead(self, st: Step) -> None:
        assert self.request is not None and self.target is not None
        exp = expected(st, self.sc)
        try:
            self.lead = adapter.release(self.ctx, self.u["sup2"], self.request, self.target)
            self.add(StepResult(st.index, st.action, exp, "allowed", detail="lead only"))
            return
        except LeadGuardError as exc:
            r = self.add(
                StepResult(st.index, st.action, exp, "refused", rule_of(exc), "", str(exc))
            )
        answer = "weighed: not decisive alone; for the investigator to check"
        args = (self.ctx, self.u["sup2"], self.request, self.target, answer)
        try:  # the legitimate way past: a supervisor's ruling answering each in writing
            self.lead = adapter.adjudicate_release(*args)
            r.forced = "released by a supervisor's ruling answering each inconsistency in writing"
        except LeadGuardError as exc:  # that way must stay open: refusing it is wrong
            self.add(StepResult(st.index, st.action, ALLOW, "refused", rule_of(exc), "", str(exc)))

    def need_lead(self, st: Step) -> bool:
        if self.lead is None:
            self.add(StepResult(st.index, st.action, expected(st, self.sc), "not attempted"))
            return False
        return True

    def do_build_photo_array_around_candidate(self, st: Step) -> None:
        if self.need_lead(st):
            out = self.tmp / f"{self.number}-array"
            self.add(
                self.attempt(
                    st, adapter.build_array, self.ctx, self.u["ex2"], self.lead, self.sc.sex, out
                )
            )

    def do_show_array_to_witness(self, st: Step) -> None:
        if not self.need_lead(st):
            return
        who = str(st.raw.get("witness", "")).lower()
        if re.search(r"only (watched|saw|seen)|same (video|recording|footage)", who):
            kind = "same_recording_only"
        elif re.search(r"\bknows?\b|\bknew\b|acquaint|family|friend|colleague", who):
            kind = "knows_person"
        elif re.search(r"in person|present|spent time|saw (him|her)", who):
            kind = "in_person"
        else:
            kind = "other"
        r = self.attempt(
            st, adapter.show_array, self.ctx, self.u["ex2"], self.lead, BLIND_ADMIN, kind, who
        )
        r.detail = f"witness type {kind}"
        self.add(r)

    def do_record_corroboration(self, st: Step) -> None:
        if not self.need_lead(st):
            return
        claim = corroboration_claim(st, self.sc)
        if claim.nothing:
            self.add(
                StepResult(st.index, st.action, EITHER, "not attempted", detail="nothing offered")
            )
            return
        on = date.today()
        args = (self.ctx, self.u["ex2"], self.lead, claim.text)
        r = self.attempt(
            st,
            adapter.corroborate,
            *args,
            claim.face_comparison,
            claim.shown_search_array,
            claim.presence_only,
            on,
        )
        r.detail = f"claimed {claim.text!r}"
        if r.outcome == "refused" and adapter.STRUCTURED:
            try:  # the same words with every independence question answered "no"
                adapter.corroborate(*args, False, False, False, on)
                r.detail += "; answered 'no' to every question: accepted"
            except LeadGuardError as exc:
                r.detail += f"; answered 'no' to every question: refused too ({rule_of(exc)})"
        self.add(r)

    def do_mark_suspect_identified(self, st: Step) -> None:
        if self.need_lead(st):
            self.add(
                self.attempt(st, adapter.suspect, self.ctx, self.u["sup"], self.number, self.lead)
            )

    def do_record_outcome(self, st: Step) -> None:
        if not self.need_lead(st):
            return
        ending = str(st.raw.get("ending", "refuted"))
        r = self.attempt(st, adapter.outcome, self.ctx, self.u["sup"], self.lead, "refuted", ending)
        try:
            adapter.suspect(self.ctx, self.u["sup"], self.number, self.lead)
            r.detail = "refuted; 'suspect identified' still allowed afterwards"
        except LeadGuardError as exc:
            r.detail = f"refuted; final ({rule_of(exc)} afterwards)"
        self.add(r)


def replay(ctx: Context, users: dict[str, Actor], sc: Scenario, cast: Cast, tmp: Path) -> Replay:
    chain = Chain(ctx, users, sc, cast, tmp)
    for st in sc.steps:
        chain.step(st)
    return chain.result
