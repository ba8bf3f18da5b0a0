"""One authorization check, keyed by named actions; the same names appear in the audit log.

A user acts only on cases they are assigned to, except auditors (read actions on every
case) and supervisors (every case of their unit). Admins manage users and nothing else."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from leadguard.core.errors import LeadGuardError

if TYPE_CHECKING:
    from leadguard.storage.tables import Case


class Account(Protocol):
    """What authorisation reads of a user: a services ``Actor`` or a stored row."""

    @property
    def username(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def unit(self) -> str: ...
    @property
    def active(self) -> bool: ...


ROLES = ("examiner", "reviewer", "supervisor", "auditor", "admin")
READ_ACTIONS = frozenset(
    {
        "case.view",
        "case.list",
        "request.list",
        "lead.list",
        "review.reveal",
        "lead.stats",
        "audit.read",
        "gallery.read",
        "user.list",
        "report.lead",
        "case.disclose",
        "report.transparency",
    }
)
ALLOWED: dict[str, frozenset[str]] = {
    "examiner": frozenset(
        {
            "case.open",
            "case.fact",
            "case.view",
            "case.list",
            "request.list",
            "lead.list",
            "request.create",
            "search.run",
            "quality.measure",
            "review.packet",
            "review.queue",
            "review.submit",
            "review.reveal",
            "lead.corroborate",
            "external.record",
            "lead.lineup",
            "lead.outcome",
            "report.lead",
        }
    ),
    "reviewer": frozenset(
        {
            "case.view",
            "case.list",
            "request.list",
            "review.packet",
            "review.queue",
            "review.submit",
            "review.reveal",
        }
    ),
    "supervisor": frozenset(
        {
            "case.open",
            "case.view",
            "case.list",
            "request.list",
            "lead.list",
            "case.assign",
            "case.fact",
            "search.override",
            "quality.measure",
            "gallery.read",
            "case.suspect",
            "request.approve",
            "review.reveal",
            "lead.release",
            "lead.adjudicate",
            "lead.corroborate",
            "external.record",
            "lead.lineup",
            "lead.outcome",
            "lead.stats",
            "audit.read",
            "report.lead",
            "case.disclose",
            "report.transparency",
        }
    ),
    "auditor": READ_ACTIONS,
    # an admin administers accounts, settings and the gallery; never casework
    "admin": frozenset(
        {
            "user.create",
            "user.deactivate",
            "user.list",
            "settings.set",
            "gallery.enroll",
            "gallery.remove",
            "gallery.expunge",
            "gallery.read",
            "gallery.resolve",
            "index.maintain",
            "eval.run",
            "quality.measure",
            "model.accept",
        }
    ),
}
ACTIONS = frozenset().union(*ALLOWED.values())


class NotAllowed(LeadGuardError):
    """The user's role or assignment does not allow the action."""


def authorize(user: Account, action: str, case: Case | None = None, assigned: bool = False) -> None:
    """Raise NotAllowed unless ``user`` may do ``action`` (on ``case``, if given)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    who = f"{user.username} ({user.role})"
    if not user.active:
        raise NotAllowed(f"{who}: the account is deactivated")
    if action not in ALLOWED.get(user.role, frozenset()):
        raise NotAllowed(f"{who} may not {action}")
    if case is None:
        return
    if user.role == "auditor":
        return  # read actions only, already checked
    if user.role == "supervisor" and case.unit == user.unit:
        return
    if not assigned:
        raise NotAllowed(f"{who} may not {action} on case {case.number}: not assigned to it")
