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
from leadguard.evidence.distribution import ProbeTails, ScoreHistogram

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


def _tails(per_probe: list[list[float]], comparisons: int) -> ProbeTails:
    arrays = [np.array(p) for p in per_probe]
    return ProbeTails.from_lists(0.5, arrays, [comparisons] * len(per_probe))


def test_per_probe_fpir_is_the_mean_of_each_probes_chance() -> None:
    # probe 0 resembles 10 of 1,000 strangers above 0.9, probe 1 none: a "wolf" and a lamb
    tails = _tails([[0.95] * 10, []], 1000)
    assert tails.fpir(0.9, 1) == pytest.approx(0.5 * 0.01)
    assert tails.fpir(0.9, 100) == pytest.approx(0.5 * (1 - 0.99**100))
    # independence with the pooled FMR (5 in 1,000) would overstate it
    assert p_at_least_one(0.005, 100) > tails.fpir(0.9, 100)
    with pytest.raises(ValueError, match="below the floor"):
        tails.hits(0.4)


def test_the_threshold_moves_up_as_the_gallery_grows() -> None:
    assert fmr_for_fpir(0.01, 1) == pytest.approx(0.01)
    assert fmr_for_fpir(0.01, 100) == pytest.approx(1 - 0.99 ** (1 / 100))
    rng = np.random.default_rng(0)
    per_probe = [list(0.5 + 0.5 * rng.random(20)) for _ in range(200)]
    tails = _tails(per_probe, 10_000)
    hist = ScoreHistogram.of(np.concatenate(per_probe))
    small = threshold_for_gallery(tails, hist, 0.01, 10)
    large = threshold_for_gallery(tails, hist, 0.01, 1000)
    assert small.threshold < large.threshold
    for g in (small, large):  # the threshold meets the target; a bin lower, it would not
        assert tails.fpir(g.threshold, g.gallery_size) <= 0.01
        assert tails.fpir(g.threshold - 2e-4, g.gallery_size) > 0.01
        assert g.predicted_fpir == pytest.approx(tails.fpir(g.threshold, g.gallery_size))


def test_a_gallery_too_large_for_the_measurements_is_flagged() -> None:
    tails = _tails([[0.9, 0.8], [0.7]], 3)
    hist = ScoreHistogram.of([0.9, 0.8, 0.7, 0.1, 0.2, 0.3])
    g = threshold_for_gallery(tails, hist, 0.01, 1_000_000)
    assert g.threshold > 0.9 and not g.measurable
    assert g.method == "pooled"  # 1,000,000 templates: beyond the 3 comparisons per probe
    assert "cannot be verified" in g.statement() and "pooled" in g.statement()
    assert threshold_for_gallery(tails, hist, 0.5, 2).method == "per-probe"


def test_histogram_counts_are_conservative_by_less_than_one_bin() -> None:
    scores = np.array([0.12345, 0.5, 0.99999, -0.3])
    h = ScoreHistogram.of(scores)
    assert h.comparisons == 4
    assert h.at_least(0.5) == 2 and h.at_least(0.50001) == 2  # same bin as 0.5: counted
    assert h.at_least(0.5001) == 1
    assert h.threshold_for_fmr(0.25) == pytest.approx(0.5001)
    assert h.threshold_for_fmr(0.0) == pytest.approx(1.0)


def test_design_effect_widens_the_interval_not_the_rate() -> None:
    plain = fmr_at_score(NONMATED, 0.999)
    clustered = fmr_at_score(NONMATED, 0.999, design_effect=10.0)
    assert clustered.fmr == plain.fmr
    assert clustered.ci[0] < plain.ci[0] and clustered.ci[1] > plain.ci[1]
    with pytest.raises(ValueError, match="design effect"):
        fmr_at_score(NONMATED, 0.999, design_effect=0.5)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="FPIR"):
        fmr_for_fpir(0.0, 10)
    with pytest.raises(ValueError, match="no non-mated"):
        fmr_at_score([], 0.5)


def test_an_upper_end_that_reads_as_the_figure_is_not_printed() -> None:
    from leadguard.evidence.calibration import describe_lr
    from leadguard.evidence.chance import ChanceMatches

    # a huge gallery at a low score: the chance of at least one is 100 %, and so is its bound
    certain = ChanceMatches(1_000_000, 0.01, 0.012).words()
    assert "100.0%" in certain and "(up to 100.0%)" not in certain
    assert "(up to" in ChanceMatches(1_000, 1e-4, 5e-4).words()  # a bound that says more
    # a likelihood ratio held at the calibration's bound: no "18,197 to 18,197" range
    at_bound = describe_lr(4.26, 4.26, 4.26, (-3.0, 4.26))
    assert "the largest the calibration data can support" in at_bound
    assert " to 18,197" not in at_bound
    same = describe_lr(2.0, 2.0, 2.0, (-3.0, 4.26))
    assert "100 to 100" not in same and "in every bootstrap resample" in same
    assert "(95 % interval 32 to 316)" in describe_lr(2.0, 1.5, 2.5, (-3.0, 4.26))


def test_a_wide_interval_above_one_percent_is_no_figure() -> None:
    from leadguard.evidence.chance import FmrAtScore, uninformative

    assert uninformative(0.33, 0.97, 0.049)  # 1 of about 3 independent: 4.9 % to 97 %
    assert uninformative(0.0, 0.708, 0.0)  # 0 of 710 pairs of three men: "up to 70.8 %"
    assert not uninformative(0.034, 0.040, 0.028)  # tight, however high
    assert not uninformative(1e-5, 3e-5, 1e-7)  # below 1 %: always a figure
    wide = FmrAtScore(0.09, 1, 3, (0.049, 0.97))
    assert not wide.informative and "not measured well enough" in wide.statement()
    words = chance_matches(wide, 342).words()
    assert "(up to" not in words and "photos of innocent people" in words


def test_a_chance_short_of_certain_never_reads_100_percent() -> None:
    from leadguard.evidence.chance import rate_words
    from leadguard.evidence.tail import p_words

    assert rate_words(1 - (1 - 0.04) ** 342) == "over 99.5%" == p_words(0.9996)
    assert rate_words(0.5) == "50.0%" and rate_words(1.0) == "100.0%"


def test_near_certain_and_tiny_shares_read_true() -> None:
    from leadguard.evidence.chance import rate_words, share_words

    assert rate_words(0.99488) == "99.49%"  # not "99.5%" beside "up to over 99.5%"
    assert rate_words(0.995) == "over 99.5%"
    assert share_words(1e-300) == "below 1 in a billion"  # was "0.00% of"
    assert share_words(0.0001) == "1 in 10,000"
    assert share_words(0.01) == "1 in 100" and share_words(0.0025) == "0.25% of"


def test_an_interval_from_no_count_starts_at_nought() -> None:
    from leadguard.evidence.chance import interval_words, rate_ci, rate_words

    lo, hi = rate_ci(0, 11_000)
    assert lo == 0.0
    assert interval_words(lo, hi) == f"0 to {rate_words(hi)}"
    assert interval_words(2.88e-22, 3e-6) == "below 1 in a billion to 1 in 333,000"
