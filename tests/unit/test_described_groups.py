"""The probe's groups come from the case's description of the person sought."""

from __future__ import annotations

from pathlib import Path

from leadguard.search.request import SearchRequest
from leadguard.services.casework.service import described_groups
from leadguard.services.search import with_case_groups


def test_described_sex_and_race_are_taken_stripped() -> None:
    assert described_groups({"sex": " F ", "race": "eastasian", "age": "20-30"}) == (
        "F",
        "eastasian",
    )


def test_blank_missing_or_non_text_values_describe_nothing() -> None:
    assert described_groups(None) == (None, None)
    assert described_groups({}) == (None, None)
    assert described_groups({"sex": "  ", "race": 3}) == (None, None)


def test_an_urgent_search_takes_the_case_groups_unless_it_names_its_own() -> None:
    bare = SearchRequest(Path("p.jpg"))
    taken = with_case_groups(bare, {"sex": "M"})
    assert (taken.probe_sex, taken.probe_race) == ("M", None)
    own = SearchRequest(Path("p.jpg"), probe_sex="F")
    assert with_case_groups(own, {"sex": "M", "race": "african"}) is own
