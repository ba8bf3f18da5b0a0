"""Exact arithmetic of the chance-match statements on constructed score distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leadguard.evidence.chance import (
    chance_matches,
    fmr_at_score,
    fmr_for_fpir,
    p_at_least_one,
    threshold_for_gallery,
)

# 10,000 non-mated scores 0.0000, 0.0001, ..., 0.9999
NONMATED = np.arange(10_000) / 10_000


def test_fmr_at_score_counts_scores_at_or_above() -> None:
    at = fmr_at_score(NONMATED, 0.999)  # 0.9990 .. 0.9999
    assert (at.count, at.comparisons) == (10, 10_000)
    assert at.fmr == 0.001
    assert at.ci[0] < 0.001 < at.ci[1]
    assert not at.beyond_measured_range
    assert "about 1 in 1,000" in at.statement()


def test_beyond_the_measured_range_is_said_honestly() -> None:
    at = fmr_at_score(NONMATED, 1.5)
    assert at.count == 0 and at.beyond_measured_range
    assert at.statement().startswith("below 1 in 10,000, the smallest rate we could measure")
    assert at.ci[1] == pytest.approx(1 - 0.025 ** (1 / 10_000))


def test_expected_innocents_and_chance_of_at_least_one() -> None:
    at = fmr_at_score(NONMATED, 0.999)
    cm = chance_matches(at, 50_000)
    assert cm.expected == pytest.approx(50.0)
    assert cm.p_at_least_one == pytest.approx(1 - 0.999**50_000)
    assert cm.expected_upper > cm.expected
    # the domain brief's example: p = 1e-6 and N = 12 million -> about 12 innocent people
    assert p_at_least_one(1e-6, 12_000_000) == pytest.approx(1 - math.exp(-12), rel=1e-6)
    assert p_at_least_one(0.0, 10**9) == 0.0 and p_at_least_one(1.0, 3) == 1.0


def test_the_threshold_moves_up_as_the_gallery_grows() -> None:
    assert fmr_for_fpir(0.01, 1) == pytest.approx(0.01)
    assert fmr_for_fpir(0.01, 100) == pytest.approx(1 - 0.99 ** (1 / 100))
    small = threshold_for_gallery(NONMATED, 0.01, 1)
    large = threshold_for_gallery(NONMATED, 0.01, 10)
    assert small.threshold < large.threshold
    # at the chosen threshold the measured FMR does not exceed what the gallery needs
    for g in (small, large):
        assert fmr_at_score(NONMATED, g.threshold).fmr <= g.fmr_needed
        assert g.measurable
    assert p_at_least_one(fmr_at_score(NONMATED, large.threshold).fmr, 10) <= 0.01


def test_a_gallery_too_large_for_the_measurements_is_flagged() -> None:
    g = threshold_for_gallery(NONMATED, 0.01, 1_000_000)
    assert not g.measurable
    assert g.threshold > NONMATED.max()
    assert "cannot be verified" in g.statement()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="FPIR"):
        fmr_for_fpir(0.0, 10)
    with pytest.raises(ValueError, match="no non-mated"):
        fmr_at_score([], 0.5)
