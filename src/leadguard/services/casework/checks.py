"""Exculpatory checks that cannot contradict the decision they support.

Every "possible lead" decision carries one check per described attribute of the person
sought, per fact the case records about them, and of the gallery photo's age (a Detroit
arrest rested on an 8-year-old photo while a recent one existed). A check says whether the
candidate is consistent (``true``), not consistent (``false``) or cannot be checked from
the material (``null``, with a note saying why). A "possible lead" with a "not consistent"
check needs the reviewer's written ``explanation`` of it; a lead with any inconsistency
(explained or not) or a missing check is not released on reviews alone: a supervisor's
adjudication answers every inconsistency in writing, after reading every examiner's notes
and checks (``adjudication_brief``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.services.casework.policy import CaseworkPolicy, PolicyRefused
from leadguard.storage.tables import Case, Review, SearchRequest, User

PHOTO_AGE = "gallery_photo_age"
BRIEF_ACTION = "lead.adjudicate.brief"


def required_checks(case: Case) -> tuple[str, ...]:
    """The checks every "possible lead" must carry: each described attribute with a value,
    each fact the case records, and the age of the gallery photo."""
    attrs = [k for k, v in (case.attributes or {}).items() if str(v).strip()]
    facts = list((case.known_facts or {}).keys())
    return tuple(dict.fromkeys([*attrs, *facts, PHOTO_AGE]))


def check_checklist(subject: str, d: dict[str, Any], required: tuple[str, ...]) -> None:
    """Refuse a checklist that is malformed, or, for a possible lead, incomplete or with an
    inconsistency left unexplained."""
    checks = d.get("exculpatory", [])
    if not isinstance(checks, list) or not all(
        isinstance(c, dict)
        and isinstance(c.get("attribute"), str)
        and c["attribute"].strip()
        and (c.get("consistent") is None or isinstance(c.get("consistent"), bool))
        for c in checks
    ):
        raise InputError(
            f"{subject}: exculpatory must be a list of {{attribute, consistent (true, false or "
            "null for cannot be checked), note, explanation}} checks"
        )
    names = [c["attribute"] for c in checks]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{subject}: one check per attribute; repeated: {', '.join(dupes)}")
    for c in checks:
        if "consistent" not in c:
            raise InputError(
                f"{subject}: check {c['attribute']!r} has no 'consistent' (true, false, or null "
                "for cannot be checked)"
            )
        if c["consistent"] is None and not str(c.get("note") or "").strip():
            raise InputError(
                f"{subject}: check {c['attribute']!r} cannot be checked: say why in its note"
            )
    if d.get("decision") != "possible_lead":
        return
    missing = [r for r in required if r not in names]
    if missing:
        raise PolicyRefused(
            "exculpatory_checklist_complete",
            f"{subject}: a possible_lead needs a check of every described attribute and known "
            f"fact of the case, and of the gallery photo's age; missing: {', '.join(missing)}",
        )
    unexplained = [
        c["attribute"]
        for c in checks
        if c["consistent"] is False and not str(c.get("explanation") or "").strip()
    ]
    if unexplained:
        raise PolicyRefused(
            "inconsistency_explained",
            f"{subject}: a possible_lead with a 'not consistent' check needs the reviewer's "
            f"explanation of each; unexplained: {', '.join(unexplained)}",
        )


@dataclass(frozen=True)
class Inconsistency:
    check: str  # the attribute or fact checked
    examiner: str
    decision: str
    note: str
    explanation: str  # "" when the examiner gave none


@dataclass(frozen=True)
class ExaminerNotes:
    examiner: str
    decision: str
    confidence: int | None
    features: dict[str, str]
    checks: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class AdjudicationBrief:
    """What a supervisor reads before ruling on one candidate: every examiner's decision,
    feature notes and checks, and each inconsistency the ruling must answer."""

    request: int
    case: str
    subject: str
    examiners: tuple[ExaminerNotes, ...]
    inconsistencies: tuple[Inconsistency, ...]
    unchecked: tuple[str, ...]  # required checks some possible_lead review lacks
    to_answer: tuple[str, ...]  # the check names a ruling must answer in writing


def _name(s: Session, uid: int) -> str:
    user = s.get(User, uid)
    return user.username if user else "?"


def brief_of(
    s: Session, req: SearchRequest, case: Case, subject: str, reviews: list[Review]
) -> AdjudicationBrief:
    required = required_checks(case)
    notes, found, unchecked, unchecked_names = [], [], [], []
    for r in reviews:
        d = r.decisions.get(subject)
        if d is None:
            raise InputError(f"{subject!r} is not a candidate of request {req.id}")
        who = _name(s, r.examiner_id)
        checks = tuple(c for c in d.get("exculpatory") or () if isinstance(c, dict))
        notes.append(
            ExaminerNotes(
                who,
                d["decision"],
                d.get("confidence"),
                dict(d.get("features") or {}),
                checks,
            )
        )
        for c in checks:
            if c.get("consistent") is False:
                found.append(
                    Inconsistency(
                        str(c.get("attribute")),
                        who,
                        d["decision"],
                        str(c.get("note") or ""),
                        str(c.get("explanation") or ""),
                    )
                )
        if d["decision"] == "possible_lead":
            names = {c.get("attribute") for c in checks}
            lacking = [x for x in required if x not in names]
            unchecked += [f"{x} (not checked by {who})" for x in lacking]
            unchecked_names += lacking
    answer = dict.fromkeys([i.check for i in found] + unchecked_names)
    return AdjudicationBrief(
        req.id,
        case.number,
        subject,
        tuple(notes),
        tuple(found),
        tuple(unchecked),
        tuple(answer),
    )


def refuse_release(brief: AdjudicationBrief) -> None:
    """No release on reviews alone while any check says "not consistent" (explained or not)
    or a required check is missing: contrary facts are answered by a supervisor's ruling,
    not outvoted by two "possible lead" reviews."""
    open_items = [
        f"{i.check} ({i.examiner}: not consistent"
        + (", explained)" if i.explanation.strip() else ", unexplained)")
        for i in brief.inconsistencies
    ] + list(brief.unchecked)
    if open_items:
        raise PolicyRefused(
            "inconsistencies_answered",
            f"{brief.subject!r} has {'; '.join(open_items)}: a lead with an inconsistency or "
            "a missing check is not released on reviews; a supervisor may adjudicate, "
            "answering each in writing",
        )


def check_answers(brief: AdjudicationBrief, answers: dict[str, str]) -> None:
    unknown = sorted(set(answers) - set(brief.to_answer))
    if unknown:
        raise InputError(
            f"answers for {', '.join(unknown)}: not an inconsistency of {brief.subject!r} "
            f"(to answer: {', '.join(brief.to_answer) or 'none'})"
        )
    missing = [k for k in brief.to_answer if not str(answers.get(k) or "").strip()]
    if missing:
        raise PolicyRefused(
            "adjudication_answers_inconsistencies",
            f"the ruling on {brief.subject!r} must answer each inconsistency in writing; "
            f"unanswered: {', '.join(missing)}",
        )


def read_brief_first(s: Session, obj: str, username: str, brief: AdjudicationBrief) -> None:
    """The adjudicator must have read the examiners' notes and checks (``adjudication_brief``,
    an audit entry) since the latest review came in, before ruling."""
    from sqlalchemy import select

    from leadguard.storage.tables import AuditEntry

    q = select(AuditEntry).where(
        AuditEntry.object == obj, AuditEntry.action == BRIEF_ACTION, AuditEntry.actor == username
    )
    seen = [
        int((e.details or {}).get("reviews", 0))
        for e in s.scalars(q)
        if (e.details or {}).get("subject") == brief.subject
    ]
    if not seen or max(seen) < len(brief.examiners):
        raise PolicyRefused(
            "adjudicator_reads_reviews",
            f"read every examiner's feature notes and checks on {brief.subject!r} first, "
            "including any review submitted since you last did (lead brief / "
            "adjudication_brief)",
        )


def log_brief(s: Session, obj: str, username: str, brief: AdjudicationBrief) -> None:
    audit.append(
        s,
        BRIEF_ACTION,
        obj,
        {
            "subject": brief.subject,
            "reviews": len(brief.examiners),
            "to_answer": list(brief.to_answer),
        },
        actor=username,
    )


def reviews_needed(reviews: list[Review], pol: CaseworkPolicy) -> list[Review]:
    if len(reviews) < pol.examiners_required:
        raise PolicyRefused(
            "examiners_required",
            f"{len(reviews)} of {pol.examiners_required} independent reviews submitted",
        )
    return reviews
