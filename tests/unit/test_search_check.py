"""eval evidence --searches, its pure part: searches scored three ways on synthetic templates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leadguard.core.errors import InputError
from leadguard.evaluation.protocols import LabelledImage
from leadguard.evaluation.templates import Acquired
from leadguard.evidence.search_check import (
    flag_by_second_model,
    fnir_table,
    fpir_table,
    p_distribution,
    run_searches,
)
from leadguard.evidence.search_run import _each_against_others


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_searches_are_scored_by_every_method_with_intervals() -> None:
    rng = np.random.default_rng(0)
    gallery = _unit(rng.normal(size=(300, 32)))
    mates = _unit(gallery[:100] + 0.05 * rng.normal(size=(100, 32)))  # enrolled people
    strangers = _unit(rng.normal(size=(200, 32)))  # people not enrolled
    probes = np.vstack([mates, strangers])
    mate_rows = np.r_[np.arange(100), np.full(200, -1)]
    groups = [("sex F",)] * 150 + [("sex M",)] * 150
    s = run_searches("synthetic", gallery, probes, mate_rows, groups, lambda t: 0.5)
    rows = fpir_table(s)
    assert {r["group"] for r in rows} == {"all", "sex F", "sex M"}
    for r in rows:
        assert r["shipped"]["count"] <= r["per_search"]["count"]
        assert r["shipped"]["count"] <= r["gallery_size"]["count"]
    fnir = fnir_table(s)
    assert [r["searches"] for r in fnir] == [100, 100, 100]
    assert fnir[1]["shipped"]["rate"] < 0.2  # clear mates are found
    d = p_distribution(s)
    assert d["searches"] == 200 and d["fit_refused"] == 0
    shares = [lv["rate"] for lv in d["levels"]]
    assert shares == sorted(shares)


def test_each_photo_against_the_others_needs_one_photo_per_identity() -> None:
    v = np.ones(4, dtype=np.float32) / 2
    images = [LabelledImage(Path(f"{i}.jpg"), "same" if i < 2 else f"p{i}") for i in range(4)]
    acq = {im.path: Acquired(str(i), v) for i, im in enumerate(images)}
    with pytest.raises(InputError, match="one photo per identity"):
        _each_against_others(images, acq, lambda t, n, w: 0.5, True, 0.9)


def test_a_second_model_flags_the_top_hits_it_also_scores_as_one_person() -> None:
    """Each photo against the others: rows 0 and 1 are one person twice (both models agree),
    rows 2 and 3 look alike to the first model only; the second model's own score decides,
    and the flag is on the hit's original row (the probe's own row left out)."""
    rng = np.random.default_rng(1)
    base = _unit(rng.normal(size=(40, 16)))
    first = base.copy()
    first[1] = _unit(base[0:1] + 0.01 * rng.normal(size=(1, 16)))[0]
    first[3] = _unit(base[2:3] + 0.01 * rng.normal(size=(1, 16)))[0]
    second = _unit(rng.normal(size=(40, 16)))
    second[1] = _unit(second[0:1] + 0.01 * rng.normal(size=(1, 16)))[0]
    s = run_searches("pairs", first, first, np.full(40, -1), [()] * 40, lambda t: 0.5, True)
    assert s.top_row[:4] == [1, 0, 3, 2]
    usable = np.ones(40, dtype=bool)
    flag_by_second_model(s, second, usable, 0.9)
    assert s.flagged_other[:4] == [True, True, False, False]
    assert not any(s.flagged_other[4:])
    without = [r for r in fpir_table(s) if r["subset"].startswith("without top hits the second")]
    assert without and all(r["searches"] == 38 for r in without if r["group"] == "all")
    usable[1] = False  # the second model could not compute row 1: never flagged
    flag_by_second_model(s, second, usable, 0.9)
    assert s.flagged_other[:2] == [False, False]
    rows = fpir_table(s)
    subsets = {r["subset"] for r in rows}
    assert subsets == {"all searches"}  # nothing flagged any more: no second subset
