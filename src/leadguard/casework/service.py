"""The casework service layer. Every function takes the acting user, checks authorization
and policy, makes its change and writes its audit entry in one transaction. The CLI (and
later the API and web UI) only call these functions."""

from __future__ import annotations

import hashlib
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard import audit
from leadguard.casework.authz import ROLES, NotAllowed, authorize
from leadguard.casework.policy import CaseworkPolicy, PolicyRefused, load_casework_policy
from leadguard.errors import InputError
from leadguard.storage.models import (
    Case,
    CaseAssignment,
    Review,
    SearchLog,
    SearchRequest,
    User,
)
from leadguard.workspace import Workspace

DECISIONS = ("exclusion", "inconclusive", "possible_lead")
OUTCOMES = ("corroborated", "refuted", "no_further_action")
# FISWG facial image comparison feature list (abridged to its component groups)
FEATURES = (
    "face_shape",
    "hairline",
    "forehead",
    "eyebrows",
    "eyes",
    "cheeks",
    "nose",
    "ears",
    "mouth",
    "chin",
    "jawline",
    "neck",
    "facial_hair",
    "marks_scars_tattoos",
    "other",
)


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


def policy(ws: Workspace) -> CaseworkPolicy:
    """The casework policy in force; a change to it, to the quality policy or to the
    workspace settings since the last casework action is recorded in the audit log."""
    path = ws.settings.casework_policy
    if path is not None and not path.is_absolute():
        path = ws.root / path
    pol = load_casework_policy(path)
    _observe_config(ws, pol)
    return pol


def _observe_config(ws: Workspace, pol: CaseworkPolicy) -> None:
    from importlib import resources

    from leadguard.config import SETTINGS_FILE
    from leadguard.storage.models import AuditEntry

    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    settings = ws.root / SETTINGS_FILE
    quality = ws.settings.quality_policy
    if quality is not None and not quality.is_absolute():
        quality = ws.root / quality
    shipped = resources.files("leadguard")
    casework_bytes = (
        Path(pol.source).read_bytes()
        if "(shipped)" not in pol.source
        else shipped.joinpath("casework", "data", "policy.toml").read_bytes()
    )
    quality_bytes = (
        quality.read_bytes()
        if quality is not None and quality.exists()
        else shipped.joinpath("quality", "data", "policy.toml").read_bytes()
    )
    now = {
        "settings": digest(settings.read_bytes()) if settings.exists() else "",
        "casework_policy": f"{pol.source} {digest(casework_bytes)}",
        "quality_policy": f"{quality or 'shipped'} {digest(quality_bytes)}",
    }
    with ws.session() as s:
        last = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(("config.observed", "config.changed")))
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).first()
        if last is None:
            audit.append(s, "config.observed", "config", {"now": now})
        elif last.details.get("now") != now:
            before = last.details.get("now", {})
            changed = sorted(k for k in now if before.get(k) != now[k])
            audit.append(
                s, "config.changed", "config", {"now": now, "before": before, "changed": changed}
            )


def audit_log(
    s: Session, user: User | None, action: str, obj: str, details: dict[str, Any]
) -> None:
    audit.append(s, action, obj, details, actor=user.username if user else None)


# --- accounts -------------------------------------------------------------------------


def add_user(
    ws: Workspace, actor: User | None, username: str, password: str, role: str, unit: str = ""
) -> User:
    """Admins add users; the very first user of a workspace (an admin) needs no login."""
    if role not in ROLES:
        raise InputError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if len(password) < 12:
        raise InputError("a password needs at least 12 characters")
    with ws.session() as s:
        first = s.scalars(select(User).limit(1)).first() is None
        if first and role != "admin":
            raise InputError("the first account of a workspace must be an admin")
        if not first:
            if actor is None:
                raise NotAllowed("adding a user needs an admin's login")
            authorize(actor, "user.create")
        if s.scalars(select(User).where(User.username == username)).first():
            raise InputError(f"user {username!r} already exists")
        user = User(username=username, password_hash=_hasher().hash(password), role=role, unit=unit)
        s.add(user)
        s.flush()
        audit_log(s, actor, "user.create", f"user:{username}", {"role": role, "unit": unit})
        s.expunge(user)
        return user


def deactivate_user(ws: Workspace, actor: User, username: str) -> None:
    authorize(actor, "user.deactivate")
    with ws.session() as s:
        target = s.scalars(select(User).where(User.username == username)).first()
        if target is None:
            raise InputError(f"user {username!r} does not exist")
        target.active = False
        audit_log(s, actor, "user.deactivate", f"user:{username}", {})


def has_accounts(ws: Workspace) -> bool:
    with ws.session() as s:
        return s.scalars(select(User).limit(1)).first() is not None


def operator_check(ws: Workspace, user: User | None, action: str) -> None:
    """Workspace-wide commands (audit, expungement): once a workspace has accounts, they
    need a login whose role allows the action."""
    if not has_accounts(ws):
        return
    if user is None:
        raise NotAllowed(f"{action} needs a login (--user) in a workspace with accounts")
    authorize(user, action)


def trail(
    ws: Workspace, user: User | None, number: str | None, prefix: str
) -> list[dict[str, Any]]:
    """Audit entries for disclosure: a case's whole trail (its own entries and those of the
    searches and probes its requests ran), or every entry whose object starts with
    ``prefix``. The export itself is audited."""
    from sqlalchemy import or_

    from leadguard.storage.models import AuditEntry

    operator_check(ws, user, "audit.read")
    with ws.session() as s:
        q = select(AuditEntry).order_by(AuditEntry.seq)
        if number is not None:
            case = _case(s, number)
            objects = []
            for req in s.scalars(select(SearchRequest).where(SearchRequest.case_id == case.id)):
                if req.search_id is not None:
                    objects.append(f"search:{req.search_id}")
                    row = s.get(SearchLog, req.search_id)
                    if row is not None and row.probe_id is not None:
                        objects.append(f"probe:{row.probe_id}")
            q = q.where(
                or_(
                    AuditEntry.object == f"case:{number}",
                    AuditEntry.object.startswith(f"case:{number}/"),
                    AuditEntry.object.in_(objects),
                )
            )
        elif prefix:
            q = q.where(AuditEntry.object.startswith(prefix))
        rows = [audit.entry_dict(e) for e in s.scalars(q)]
        audit_log(
            s,
            user,
            "audit.export",
            f"case:{number}" if number else "audit",
            {"entries": len(rows), "prefix": prefix},
        )
        return rows


def login(ws: Workspace, username: str, password: str) -> User:
    with ws.session() as s:
        user = s.scalars(select(User).where(User.username == username)).first()
        ok = False
        if user is not None and user.active:
            try:
                ok = _hasher().verify(user.password_hash, password)
            except (VerifyMismatchError, VerificationError):
                ok = False
        audit_log(s, None, "login" if ok else "login.failed", f"user:{username}", {})
    if not ok or user is None:
        raise NotAllowed(f"login as {username!r} failed: unknown user, wrong password or inactive")
    return user


# --- cases and requests ---------------------------------------------------------------


def _case(s: Session, number: str) -> Case:
    case = s.scalars(select(Case).where(Case.number == number)).first()
    if case is None:
        raise InputError(f"case {number!r} does not exist")
    return case


def _assigned(s: Session, user: User, case: Case) -> bool:
    q = select(CaseAssignment).where(
        CaseAssignment.case_id == case.id, CaseAssignment.user_id == user.id
    )
    return s.scalars(q).first() is not None


def check_case(s: Session, user: User, action: str, case: Case) -> None:
    authorize(user, action, case, _assigned(s, user, case))


def open_case(
    ws: Workspace,
    user: User,
    number: str,
    offence: str,
    incident_date: date,
    description: str,
    attributes: dict[str, Any],
    officer: str,
    authority: str,
    unit: str | None = None,
) -> Case:
    authorize(user, "case.open")
    pol = policy(ws)
    if offence.lower() not in pol.eligible_offences:
        raise PolicyRefused(
            "eligible_offences",
            f"{offence!r} is not an offence for which face search may be used "
            f"({', '.join(pol.eligible_offences)})",
        )
    if not authority.strip():
        raise InputError("a case needs the legal authority for the search")
    with ws.session() as s:
        if s.scalars(select(Case).where(Case.number == number)).first():
            raise InputError(f"case {number!r} already exists")
        case = Case(
            number=number,
            offence=offence.lower(),
            incident_date=incident_date,
            description=description,
            attributes=attributes,
            requesting_officer=officer,
            legal_authority=authority,
            unit=unit or user.unit,
        )
        s.add(case)
        s.flush()
        s.add(CaseAssignment(case_id=case.id, user_id=user.id))
        audit_log(
            s,
            user,
            "case.open",
            f"case:{number}",
            {"offence": case.offence, "incident_date": str(incident_date), "unit": case.unit},
        )
        s.expunge(case)
        return case


def assign(ws: Workspace, user: User, number: str, username: str) -> None:
    with ws.session() as s:
        case = _case(s, number)
        check_case(s, user, "case.assign", case)
        target = s.scalars(select(User).where(User.username == username)).first()
        if target is None:
            raise InputError(f"user {username!r} does not exist")
        if not _assigned(s, target, case):
            s.add(CaseAssignment(case_id=case.id, user_id=target.id))
        audit_log(s, user, "case.assign", f"case:{number}", {"user": username})


def request_search(
    ws: Workspace, user: User, number: str, probe: Path, source_type: str, purpose: str
) -> int:
    if not purpose.strip():
        raise InputError("a search request needs its purpose")
    with ws.session() as s:
        case = _case(s, number)
        check_case(s, user, "request.create", case)
        req = SearchRequest(
            case_id=case.id,
            probe_path=str(probe),
            source_type=source_type,
            purpose=purpose,
            requested_by=user.id,
            status="pending" if policy(ws).supervisor_approval_required else "approved",
        )
        s.add(req)
        s.flush()
        audit_log(
            s,
            user,
            "request.create",
            f"case:{number}/request:{req.id}",
            {"probe": str(probe), "source_type": source_type, "purpose": purpose},
        )
        return req.id


def get_request(s: Session, request_id: int) -> tuple[SearchRequest, Case]:
    req = s.get(SearchRequest, request_id)
    if req is None:
        raise InputError(f"search request {request_id} does not exist")
    case = s.get(Case, req.case_id)
    assert case is not None
    return req, case


def approve(ws: Workspace, user: User, request_id: int) -> None:
    with ws.session() as s:
        req, case = get_request(s, request_id)
        check_case(s, user, "request.approve", case)
        if req.status != "pending":
            raise InputError(f"request {request_id} is {req.status}, not pending")
        req.status, req.approved_by = "approved", user.id
        audit_log(s, user, "request.approve", f"case:{case.number}/request:{req.id}", {})


def run_search(ws: Workspace, user: User, request_id: int) -> Any:
    """The only way casework searches: an approved request on an eligible case."""
    from leadguard.search import search

    pol = policy(ws)
    with ws.session() as s:
        req, case = get_request(s, request_id)
        check_case(s, user, "search.run", case)
        if req.status != "approved":
            raise PolicyRefused(
                "supervisor_approval_required",
                f"request {request_id} is {req.status}: no search runs outside an approved request",
            )
        if case.offence not in pol.eligible_offences:
            raise PolicyRefused("eligible_offences", f"{case.offence!r} is not eligible")
        probe, source_type, number = Path(req.probe_path), req.source_type, case.number
        incident = case.incident_date
    with audit.acting_as(user.username):
        result = search(
            ws,
            probe,
            top_k=pol.list_length,
            source_type=source_type,
            incident_date=incident,
        )
    with ws.session() as s:
        done = s.get(SearchRequest, request_id)
        assert done is not None
        done.status, done.search_id, done.searched_by = "searched", result.search_id, user.id
        audit_log(
            s,
            user,
            "search.run",
            f"case:{number}/request:{request_id}",
            {
                "search": result.search_id,
                "outcome": result.outcome,
                "candidates": len(result.candidates),
            },
        )
    return result


# --- blind review ---------------------------------------------------------------------


def _candidates(s: Session, req: SearchRequest) -> list[dict[str, Any]]:
    if req.search_id is None:
        raise InputError(f"request {req.id} has not been searched yet")
    row = s.get(SearchLog, req.search_id)
    assert row is not None
    return list(row.result.get("candidates", []))


def reviews_of(s: Session, req: SearchRequest) -> list[Review]:
    q = select(Review).where(Review.request_id == req.id).order_by(Review.id)
    return list(s.scalars(q))


def _may_review(
    s: Session, user: User, req: SearchRequest, case: Case, action: str, pol: CaseworkPolicy
) -> None:
    check_case(s, user, action, case)
    if not pol.searcher_may_review and req.searched_by == user.id:
        raise PolicyRefused(
            "searcher_may_review", "the examiner who ran the search may not review it"
        )


def blind_packet(ws: Workspace, user: User, request_id: int) -> dict[str, Any]:
    """What an examiner sees: the probe, the incident description, and the candidates in an
    order of their own, with no score, rank, evidence or anyone else's decision."""
    pol = policy(ws)
    with ws.session() as s:
        req, case = get_request(s, request_id)
        _may_review(s, user, req, case, "review.packet", pol)
        cands = _candidates(s, req)
        audit_log(
            s,
            user,
            "review.packet",
            f"case:{case.number}/request:{req.id}",
            {"candidates_viewed": len(cands)},
        )
        order = sorted(
            cands,
            key=lambda c: hashlib.sha256(f"{req.id}:{user.id}:{c['subject']}".encode()).hexdigest(),
        )
        return {
            "request": req.id,
            "case": case.number,
            "probe": req.probe_path,
            "incident_description": case.description,
            "person_sought": case.attributes,
            "candidates": [{"subject": c["subject"], "image": c["image"]} for c in order],
            "decisions": list(DECISIONS),
            "features": list(FEATURES),
        }


def submit_review(ws: Workspace, user: User, request_id: int, decisions: dict[str, Any]) -> None:
    pol = policy(ws)
    with ws.session() as s:
        req, case = get_request(s, request_id)
        _may_review(s, user, req, case, "review.submit", pol)
        subjects = {c["subject"] for c in _candidates(s, req)}
        if set(decisions) != subjects:
            raise InputError(
                f"a review must decide on every candidate and no one else: missing "
                f"{sorted(subjects - set(decisions))}, unknown {sorted(set(decisions) - subjects)}"
            )
        for subj, d in decisions.items():
            if d.get("decision") not in DECISIONS:
                raise InputError(f"{subj}: decision must be one of {', '.join(DECISIONS)}")
            if not isinstance(d.get("confidence"), int) or not 1 <= d["confidence"] <= 5:
                raise InputError(f"{subj}: confidence must be a whole number from 1 to 5")
            unknown = set(d.get("features", {})) - set(FEATURES)
            if unknown:
                raise InputError(f"{subj}: unknown features {sorted(unknown)}")
            if not isinstance(d.get("exculpatory", []), list):
                raise InputError(f"{subj}: exculpatory must be a list of attribute checks")
        if any(r.examiner_id == user.id for r in reviews_of(s, req)):
            raise InputError(f"{user.username} has already submitted a review of request {req.id}")
        s.add(Review(request_id=req.id, examiner_id=user.id, decisions=decisions))
        audit_log(
            s,
            user,
            "review.submit",
            f"case:{case.number}/request:{req.id}",
            {"decisions": {k: v["decision"] for k, v in decisions.items()}},
        )


def reveal(ws: Workspace, user: User, request_id: int) -> dict[str, Any]:
    """Scores, ranks and every examiner's decisions: only once enough examiners submitted."""
    pol = policy(ws)
    with ws.session() as s:
        req, case = get_request(s, request_id)
        check_case(s, user, "review.reveal", case)
        reviews = reviews_of(s, req)
        if len(reviews) < pol.examiners_required:
            raise PolicyRefused(
                "examiners_required",
                f"{len(reviews)} of {pol.examiners_required} independent reviews submitted: "
                "nothing is revealed before all are in",
            )
        names = {u.id: u.username for u in s.scalars(select(User))}
        audit_log(s, user, "review.reveal", f"case:{case.number}/request:{req.id}", {})
        return {
            "candidates": _candidates(s, req),
            "reviews": [
                {"examiner": names[r.examiner_id], "decisions": r.decisions} for r in reviews
            ],
            "adjudications": req.adjudications,
        }
