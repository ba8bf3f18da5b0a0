"""Blind packets name candidates by letter, in each examiner's own order."""

from __future__ import annotations

from leadguard.services.casework.blind import letter, lettered


def test_letters_run_a_to_z_then_aa() -> None:
    assert [letter(i) for i in (0, 1, 25, 26, 27, 51, 52, 701, 702)] == [
        "A",
        "B",
        "Z",
        "AA",
        "AB",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
    ]


def test_each_examiner_has_an_own_order_and_the_same_letters() -> None:
    cands = [{"subject": f"person-{i}"} for i in range(8)]
    one = lettered(7, 1, cands)
    two = lettered(7, 2, cands)
    assert [k for k, _ in one] == [k for k, _ in two] == list("ABCDEFGH")
    assert [c["subject"] for _, c in one] != [c["subject"] for _, c in two]
    assert sorted(c["subject"] for _, c in one) == sorted(c["subject"] for c in cands)
    assert lettered(7, 1, list(reversed(cands))) == one  # the order is not the list's
