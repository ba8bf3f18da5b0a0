"""Case trails and audit filters select exactly: ``_`` and ``%`` are characters, not
wildcards, a case numbered ``M-A1/X`` does not leak into case ``M-A1``, and one case-number
rule holds for every shell (the service applies it; the API's schema uses the same one)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.core.textsafe import CASE_NUMBER_PATTERN, case_number_problem, case_of
from leadguard.server import schemas
from leadguard.server.api_admin import filtered
from leadguard.services import accounts
from leadguard.services.audit import entries
from leadguard.services.casework import service as cw
from leadguard.services.context import Context
from tests.unit.accounts_kit import PW, north_desk

NUMBERS = ("M-A1", "M_A1", "MXA1", "M-A1/X", "M%A1")


@pytest.fixture()
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    c = north_desk(tmp_path / "ws", monkeypatch)
    sup = accounts.login(c, "sup", PW).actor
    for n in NUMBERS:
        if case_number_problem(n) is None:
            cw.open_case(c, sup, n, "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")
            cw.assign(c, sup, n, "ex1")
    return c


def objects(ctx: Context, number: str) -> set[str]:
    with ctx.session() as s:
        return {e["object"] for e in entries(s, number)}


def test_an_underscore_is_not_a_wildcard(ctx: Context) -> None:
    with ctx.session() as s:
        audit.append(s, "request.create", "case:M-A1/request:9", {})
    assert objects(ctx, "M_A1") == {"case:M_A1"}
    assert objects(ctx, "M-A1") == {"case:M-A1", "case:M-A1/request:9"}
    assert objects(ctx, "MXA1") == {"case:MXA1"}
    with ctx.session() as s:
        assert len(entries(s, "M_A1")) == 2  # opened and assigned, nothing of M-A1's


def test_a_number_with_a_slash_is_refused_and_does_not_leak_into_the_shorter_one(
    ctx: Context,
) -> None:
    problem = case_number_problem("M-A1/X")
    assert problem is not None and "2024-17" in problem  # no route could reach such a case
    with ctx.session() as s:  # an entry of older data, written before the rule
        audit.append(s, "case.open", "case:M-A1/X", {})
    assert objects(ctx, "M-A1") == {"case:M-A1"}
    assert objects(ctx, "M-A1/X") == {"case:M-A1/X"}
    assert case_of("case:M-A1/X/request:3") == "M-A1/X"
    assert case_of("case:M-A1/request:3") == "M-A1"
    assert case_of("case:M-A1/lead:2") == "M-A1" and case_of("subject:x") is None


def test_object_selection_is_exact(ctx: Context) -> None:
    with ctx.session() as s:
        for obj in ("subject:A", "subject:AB", "subject:A/x", "subject:A_"):
            audit.append(s, "t", obj, {})
    with ctx.session() as s:
        assert {e["object"] for e in entries(s, None, "subject:A")} == {
            "subject:A",
            "subject:A/x",
        }
        assert {e["object"] for e in entries(s, None, "subject:A_")} == {"subject:A_"}
        assert len(entries(s, None, "subject:")) == 4  # a kind: all of it
        assert len(list(audit.export(s, "subject:A"))) == 2


def test_action_and_actor_filters_are_exact() -> None:
    rows = [
        {"action": a, "actor": u}
        for a, u in (("login", "ana"), ("login.failed", "ana"), ("loginx", "ana"), ("login", "an"))
    ]
    assert filtered(rows, "login", "ana") == rows[:2]
    assert filtered(rows, "login.failed", None) == [rows[1]]


@pytest.mark.parametrize("bad", ["M%A1", "M:1", "-x", "a//b", "x/", "2024/17", "", "é1", "x" * 101])
def test_one_case_number_rule_for_every_shell(ctx: Context, bad: str) -> None:
    assert case_number_problem(bad) is not None
    sup = accounts.login(ctx, "sup", PW).actor
    with pytest.raises(InputError, match="case number"):
        cw.open_case(ctx, sup, bad, "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")
    assert schemas.CaseIn.model_fields["number"].metadata  # the API's schema: the same rule
    pattern = [m for m in schemas.CaseIn.model_fields["number"].metadata if hasattr(m, "pattern")]
    assert pattern and pattern[0].pattern == CASE_NUMBER_PATTERN
