"""Casework services: cases, search requests bound to the probe's bytes as received, and the
search that runs only from an approved request. Every function takes the explicit context
and the acting user, checks authorisation and policy, makes its change and writes its audit
entry in one transaction; a refusal is an audit entry of its own, tied to the case."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.core.textsafe import case_number_problem
from leadguard.core.types import CandidateList
from leadguard.quality.gate import workspace_policy
from leadguard.quality.provenance import Edit
from leadguard.services.authz import Account, authorize
from leadguard.services.casework.adoption import require_adopted
from leadguard.services.casework.case_fields import case_facts, case_unit
from leadguard.services.casework.config_watch import observe_config
from leadguard.services.casework.policy import CaseworkPolicy, PolicyRefused, load_casework_policy
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.db import by_id
from leadguard.storage.tables import Case, CaseAssignment, SearchLog, SearchRequest, User

OUTCOMES = ("corroborated", "refuted", "no_further_action")


@dataclass(frozen=True)
class CaseInfo:
    number: str
    offence: str
    incident_date: date
    description: str
    attributes: dict[str, Any]
    officer: str
    authority: str
    unit: str
    status: str
    created_at: datetime
    assigned: tuple[str, ...] = ()
    known_facts: dict[str, Any] | None = None


@dataclass(frozen=True)
class RequestInfo:
    id: int
    case: str
    status: str
    source_type: str
    probe_sha256: str | None
    purpose: str
    requested_by: str
    approved_by: str | None
    searched_by: str | None
    search_id: int | None
    face: int | None
    edits: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class SearchRun:
    """What the examiner who runs a request learns: that it ran, not the list (blind)."""

    request_id: int
    search_id: int
    outcome: str
    candidates: int


def policy(ctx: Context, observe: bool = True) -> CaseworkPolicy:
    """The casework policy in force; a change to it, to the quality policy or to the
    workspace settings since the last casework action is recorded in the audit log
    (``observe=False`` for reads, which write nothing)."""
    path = ctx.settings.casework_policy
    if path is not None and not path.is_absolute():
        path = ctx.root / path
    pol = load_casework_policy(path)
    with ctx.session() as s:  # a file nobody adopted is refused (casework/adoption.py)
        require_adopted(s, pol, str(ctx.root))
    if observe:
        observe_config(ctx, pol)
    return pol


def case_info(s: Session, case: Case) -> CaseInfo:
    q = (
        select(User.username)
        .join(CaseAssignment, CaseAssignment.user_id == User.id)
        .where(CaseAssignment.case_id == case.id)
        .order_by(User.username)
    )
    return CaseInfo(
        case.number,
        case.offence,
        case.incident_date,
        case.description,
        dict(case.attributes),
        case.requesting_officer,
        case.legal_authority,
        case.unit,
        case.status,
        case.created_at,
        tuple(s.scalars(q)),
        dict(case.known_facts or {}),
    )


def request_info(s: Session, req: SearchRequest, number: str) -> RequestInfo:
    def name(uid: int | None) -> str | None:
        user = s.get(User, uid) if uid is not None else None
        return user.username if user else None

    return RequestInfo(
        req.id,
        number,
        req.status,
        req.source_type,
        req.probe_sha256,
        req.purpose,
        name(req.requested_by) or "?",
        name(req.approved_by),
        name(req.searched_by),
        req.search_id,
        req.face,
        tuple(req.edits or ()),
    )


def case_by_number(s: Session, number: str) -> Case:
    case = s.scalars(select(Case).where(Case.number == number)).first()
    if case is None:
        raise InputError(f"case {number!r} does not exist")
    return case


def is_assigned(s: Session, user: Account | User, case: Case) -> bool:
    uid = getattr(user, "id", None)
    q = select(CaseAssignment).where(
        CaseAssignment.case_id == case.id, CaseAssignment.user_id == uid
    )
    return s.scalars(q).first() is not None


def check_case(s: Session, user: User, action: str, case: Case) -> None:
    authorize(user, action, case, is_assigned(s, user, case))


def request_object(s: Session | None, request_id: int, ctx: Context | None = None) -> str:
    """``case:N/request:R`` for a request (the audit object of refusals too)."""

    def find(sess: Session) -> str:
        req = by_id(sess, SearchRequest, request_id)
        case = sess.get(Case, req.case_id) if req else None
        return f"case:{case.number}/request:{request_id}" if case else f"request:{request_id}"

    if s is not None:
        return find(s)
    assert ctx is not None
    with ctx.session() as sess:
        return find(sess)


def open_case(
    ctx: Context,
    actor: Actor,
    number: str,
    offence: str,
    incident_date: date,
    description: str,
    attributes: dict[str, Any],
    officer: str,
    authority: str,
    unit: str | None = None,
    known_facts: dict[str, str] | None = None,
) -> CaseInfo:
    """``attributes``: the description of the person sought; ``known_facts``: other facts
    the case records about them (name -> text). Each needs a check in every possible lead."""
    with refusals(ctx, actor, "case.open", f"case:{number}"):
        pol = policy(ctx)
        with ctx.session() as s:
            user = current_user(s, actor)
            authorize(user, "case.open")
            if offence.lower() not in pol.eligible_offences:
                raise PolicyRefused(
                    "eligible_offences",
                    f"{offence!r} is not an offence for which face search may be used "
                    f"({', '.join(pol.eligible_offences)})",
                )
            if not authority.strip():
                raise InputError("a case needs the legal authority for the search")
            problem = case_number_problem(number)
            if problem:
                raise InputError(problem)
            if s.scalars(select(Case).where(Case.number == number)).first():
                raise InputError(f"case {number!r} already exists")
            unit = case_unit(user, unit)
            case = Case(
                number=number,
                offence=offence.lower(),
                incident_date=incident_date,
                description=description,
                attributes=attributes,
                requesting_officer=officer,
                legal_authority=authority,
                unit=unit,
                known_facts=case_facts(known_facts or {}, attributes),
            )
            s.add(case)
            s.flush()
            owner = CaseAssignment(case_id=case.id, user_id=user.id)
            s.add(owner)
            audit.append(
                s,
                "case.open",
                f"case:{number}",
                {"offence": case.offence, "incident_date": str(incident_date), "unit": case.unit},
                actor=actor.username,
                records=[case, owner],
            )
            return case_info(s, case)


def record_fact(ctx: Context, actor: Actor, number: str, name: str, text: str) -> CaseInfo:
    """Add a fact the case records about the person sought (a later check every possible
    lead needs: a release on reviews made before it is refused until it is answered)."""
    with refusals(ctx, actor, "case.fact", f"case:{number}"), ctx.session() as s:
        case = case_by_number(s, number)
        check_case(s, current_user(s, actor), "case.fact", case)
        facts = dict(case.known_facts or {})
        if name in facts:
            raise InputError(f"case {number}: known fact {name!r} is already recorded")
        facts.update(case_facts({name: text}, dict(case.attributes)))
        case.known_facts = facts
        audit.append(
            s,
            "case.fact",
            f"case:{number}",
            {"name": name, "text": facts[name]},
            actor=actor.username,
            records=[case],
        )
        return case_info(s, case)


# who may be assigned to a case: the case page offers the same (services/assignment.py)
ASSIGNABLE_ROLES = ("examiner", "reviewer")


def assign(ctx: Context, actor: Actor, number: str, username: str) -> None:
    with refusals(ctx, actor, "case.assign", f"case:{number}"), ctx.session() as s:
        case = case_by_number(s, number)
        check_case(s, current_user(s, actor), "case.assign", case)
        target = s.scalars(select(User).where(User.username == username)).first()
        if (
            target is None
            or not target.active
            or target.role not in ASSIGNABLE_ROLES
            or target.unit != case.unit
        ):  # one answer for every reason: it tells nobody which accounts exist, or their roles
            raise PolicyRefused(
                "assignee_eligible",
                f"{username!r} cannot be assigned to case {number}: only an active examiner "
                f"or reviewer of unit {case.unit} can be (supervisors act on their unit's "
                "cases without an assignment)",
            )
        rows = []
        if not is_assigned(s, target, case):
            row = CaseAssignment(case_id=case.id, user_id=target.id)
            s.add(row)
            rows.append(row)
        audit.append(
            s,
            "case.assign",
            f"case:{number}",
            {"user": username},
            actor=actor.username,
            records=rows,
        )


def request_search(
    ctx: Context,
    actor: Actor,
    number: str,
    probe: Path,
    source_type: str,
    purpose: str,
    face: int | None = None,
    edits: tuple[Edit, ...] = (),
    shown_as: str | None = None,
) -> RequestInfo:
    """The probe is stored as received (bytes, SHA-256, EXIF, source type) with the request;
    a missing file, a prohibited kind, bytes the search's header and decode checks refuse,
    or a chosen ``face`` the image does not hold are refused here, before anyone can
    approve it.
    ``shown_as``: the name recorded and shown for the probe (an upload's file name, where
    ``probe`` is the server's temporary copy)."""
    from leadguard.pipeline.compose import FaceSelection, choose_face
    from leadguard.pipeline.decode import decode_image, read_file
    from leadguard.quality.provenance import apply_edits, check_source_type, editor_flag, read_exif
    from leadguard.search.intake import store_probe

    with refusals(ctx, actor, "request.create", f"case:{number}"):
        if not purpose.strip():
            raise InputError("a search request needs its purpose")
        pol = policy(ctx)
        with ctx.session() as s:
            case = case_by_number(s, number)
            check_case(s, current_user(s, actor), "request.create", case)
        data = read_file(probe, ctx.settings.max_image_bytes)
        shown = shown_as or str(probe)  # an upload: the client's file name, not a server path
        # the search's own checks (header, then a full decode; the edits applied): a file
        # the search would refuse, a truncated JPEG say, is refused here with its message
        limit = ctx.settings.max_image_pixels
        image = decode_image(data, shown, limit)
        if edits:
            image = decode_image(apply_edits(data, list(edits), shown, limit), shown, limit)
        if face is not None:  # a face the search could not find is refused now, not then
            with ctx.borrowed_model() as model:
                choose_face(model.detect(image.pixels), image, FaceSelection("reject", face))
        check_source_type(source_type, workspace_policy(ctx.ws).prohibited_source_types)
        exif = read_exif(data)
        with ctx.session() as s:
            case = case_by_number(s, number)
            row = store_probe(s, data, shown, source_type, exif, editor_flag(exif), None, [])
            req = SearchRequest(
                case_id=case.id,
                probe_path=shown,
                probe_id=row.id,
                probe_sha256=row.sha256,
                face=face,
                edits=[e.to_dict() for e in edits],
                source_type=source_type,
                purpose=purpose,
                requested_by=actor.id,
                status="pending" if pol.supervisor_approval_required else "approved",
            )
            s.add(req)
            s.flush()
            audit.append(
                s,
                "request.create",
                f"case:{number}/request:{req.id}",
                {
                    "probe": shown,  # an upload: its file name, never the server's copy
                    "probe_id": row.id,
                    "probe_sha256": row.sha256,
                    "source_type": source_type,
                    "purpose": purpose,
                    "face": face,
                    "edits": req.edits,
                },
                actor=actor.username,
                records=[req],
            )
            return request_info(s, req, number)


def get_request(s: Session, request_id: int) -> tuple[SearchRequest, Case]:
    req = by_id(s, SearchRequest, request_id)
    if req is None:
        raise InputError(f"search request {request_id} does not exist")
    case = s.get(Case, req.case_id)
    assert case is not None
    return req, case


def approve(ctx: Context, actor: Actor, request_id: int) -> RequestInfo:
    """The approval names the SHA-256 of the stored probe: that is what will be searched."""
    obj = request_object(None, request_id, ctx)
    with refusals(ctx, actor, "request.approve", obj), ctx.session() as s:
        req, case = get_request(s, request_id)
        check_case(s, current_user(s, actor), "request.approve", case)
        if req.status != "pending":
            raise InputError(f"request {request_id} is {req.status}, not pending")
        if req.requested_by == actor.id:
            raise PolicyRefused(
                "separation_of_duties", "the requester of a search may not approve it"
            )
        req.status, req.approved_by = "approved", actor.id
        audit.append(
            s,
            "request.approve",
            obj,
            {"probe_sha256": req.probe_sha256},
            actor=actor.username,
            records=[req],
        )
        return request_info(s, req, case.number)


def run_search(ctx: Context, actor: Actor, request_id: int) -> SearchRun:
    """The casework search: an approved request on an eligible case, on the probe bytes
    stored with the request (never the file at its path now)."""
    from leadguard.search import request as search_request  # not the casework table's row
    from leadguard.search.run import search

    obj = request_object(None, request_id, ctx)
    with refusals(ctx, actor, "search.run", obj):
        pol = policy(ctx)
        with ctx.session() as s:
            req, case = get_request(s, request_id)
            check_case(s, current_user(s, actor), "search.run", case)
            if req.status != "approved":
                raise PolicyRefused(
                    "supervisor_approval_required",
                    f"request {request_id} is {req.status}: no search runs outside an approved "
                    "request",
                )
            if case.offence not in pol.eligible_offences:
                raise PolicyRefused("eligible_offences", f"{case.offence!r} is not eligible")
            if req.probe_id is None:
                raise InputError(
                    f"request {request_id} has no stored probe (made before probes were kept "
                    "with requests): file a new request"
                )
            probe, source_type, incident = Path(req.probe_path), req.source_type, case.incident_date
            stored, sha, face = req.probe_id, req.probe_sha256 or "", req.face
            sex, race = described_groups(case.attributes)
            edits = tuple(Edit(e["op"], tuple(e["args"])) for e in req.edits or ())

        def mark(s: Session, result: CandidateList) -> None:  # in the search's transaction
            done = s.get(SearchRequest, request_id)
            assert done is not None
            done.status, done.search_id, done.searched_by = "searched", result.search_id, actor.id
            audit.append(
                s,
                "search.run",
                obj,
                {
                    "search": result.search_id,
                    "probe_sha256": sha,
                    "outcome": result.outcome,
                    "candidates": len(result.candidates),
                },
                actor=actor.username,
                records=[done],
            )

        with audit.acting_as(actor.username):  # a failed search logs itself
            request = search_request.SearchRequest(
                probe,
                source_type,
                top_k=pol.list_length,
                face=face,
                incident_date=incident,
                edits=edits,
                stored_probe=stored,
                probe_sex=sex,
                probe_race=race,
            )
            with ctx.borrowed_model() as model:
                result = search(ctx.ws, request, model=model, then=mark)
        assert result.search_id is not None
        return SearchRun(request_id, result.search_id, result.outcome, len(result.candidates))


def described_groups(attributes: dict[str, Any] | None) -> tuple[str | None, str | None]:
    """The person sought's sex and race as the case describes them (the probe shows that
    person): what the search's statements group the probe by. Either is None where the case
    does not describe it; a blank value, "?" or "unknown" describes nothing."""
    from leadguard.evidence.groups import race_code, sex_code

    attrs = attributes or {}
    sex, race = attrs.get("sex"), attrs.get("race")
    return (
        (sex_code(sex) or None) if isinstance(sex, str) else None,
        (race_code(race) or None) if isinstance(race, str) else None,
    )


def candidates_of(s: Session, req: SearchRequest) -> list[dict[str, Any]]:
    if req.search_id is None:
        raise InputError(f"request {req.id} has not been searched yet")
    row = s.get(SearchLog, req.search_id)
    assert row is not None
    return list(row.result.get("candidates", []))


def blind_order(request_id: int, user_id: int, subject: str) -> str:
    return hashlib.sha256(f"{request_id}:{user_id}:{subject}".encode()).hexdigest()
