"""Only an active examiner or reviewer of the case's own unit can be assigned to it, by
whatever door (the web's select offers the same users; the API and CLI reach the service)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from leadguard.services import accounts
from leadguard.services.casework import service as cw
from leadguard.services.casework import views
from leadguard.services.casework.policy import PolicyRefused
from tests.unit.accounts_kit import PW, north_desk


def test_only_an_examiner_or_reviewer_of_the_unit_is_assigned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = north_desk(tmp_path / "ws", monkeypatch)
    admin = accounts.login(ctx, "admin", PW).actor
    accounts.add_user(ctx, admin, "ex_south", PW, "examiner", "south")
    accounts.add_user(ctx, admin, "sup2", PW, "supervisor", "north")
    accounts.add_user(ctx, admin, "gone", PW, "examiner", "north")
    accounts.deactivate_user(ctx, admin, "gone")
    sup = accounts.login(ctx, "sup", PW).actor
    cw.open_case(ctx, sup, "C-1", "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")

    cw.assign(ctx, sup, "C-1", "ex1")
    answers = set()
    for who in ("ex_south", "sup2", "gone", "admin", "nobody"):  # one answer for each reason
        with pytest.raises(PolicyRefused) as refused:
            cw.assign(ctx, sup, "C-1", who)
        assert refused.value.rule == "assignee_eligible" and repr(who) in str(refused.value)
        answers.add(str(refused.value).replace(repr(who), "NAME"))
    assert len(answers) == 1, answers
    # the opener is assigned when the case is opened; none of the refused ones is
    assert set(views.show_case(ctx, sup, "C-1").case.assigned) == {"ex1", "sup"}
