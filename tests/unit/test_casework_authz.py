"""Every role x action pair, allowed or refused as the casework issue specifies."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from leadguard.services.authz import ACTIONS, ALLOWED, ROLES, NotAllowed, authorize

# written out from the specification, independently of authz.ALLOWED
SPEC: dict[str, set[str]] = {
    "examiner": {
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
    },
    "reviewer": {
        "case.view",
        "case.list",
        "request.list",
        "review.packet",
        "review.queue",
        "review.submit",
        "review.reveal",
    },
    "supervisor": {
        "case.open",
        "case.view",
        "case.list",
        "request.list",
        "lead.list",
        "case.assign",
        "case.fact",
        "case.suspect",
        "request.approve",
        "search.override",
        "quality.measure",
        "gallery.read",
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
    },
    "auditor": {
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
    },
    # an admin administers accounts, settings and the gallery, and never acts in casework
    "admin": {
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
    },
}


pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL


def user(role: str, unit: str = "north", active: bool = True) -> Any:
    return SimpleNamespace(username=f"u-{role}", role=role, unit=unit, active=active)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_role_action_matrix(role: str, action: str) -> None:
    if action in SPEC[role]:
        authorize(user(role), action)
    else:
        with pytest.raises(NotAllowed, match=f"may not {action}"):
            authorize(user(role), action)


def test_admins_cannot_run_or_review_searches() -> None:
    areas = ("case", "request", "search", "review", "lead")
    casework = {a for a in ACTIONS if a.split(".")[0] in areas}
    assert casework and not casework & SPEC["admin"]
    for action in sorted(casework):
        with pytest.raises(NotAllowed):
            authorize(user("admin"), action)


def test_case_scope() -> None:
    case = SimpleNamespace(number="C-1", unit="north")
    authorize(user("examiner"), "search.run", case, assigned=True)
    with pytest.raises(NotAllowed, match="not assigned"):
        authorize(user("examiner"), "search.run", case, assigned=False)
    authorize(user("supervisor", unit="north"), "lead.release", case)  # their unit
    with pytest.raises(NotAllowed, match="not assigned"):
        authorize(user("supervisor", unit="south"), "lead.release", case)
    authorize(user("auditor", unit="south"), "case.view", case)  # every case, read only
    with pytest.raises(NotAllowed, match="deactivated"):
        authorize(user("examiner", active=False), "case.view", case, assigned=True)
    with pytest.raises(ValueError, match="unknown action"):
        authorize(user("examiner"), "case.delete")


def test_the_docs_role_table_is_the_code_s() -> None:
    """docs/casework.md's role table lists exactly the actions each role is allowed (it had
    fallen behind: seven actions missing)."""
    import re

    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "casework.md").read_text()
    for role, allowed in ALLOWED.items():
        m = re.search(rf"^\| {role} \| (.*) \|$", doc, re.M)
        assert m, role
        listed = set(re.findall(r"[a-z]+\.[a-z]+", m.group(1)))
        assert listed == set(allowed), (role, listed ^ set(allowed))
