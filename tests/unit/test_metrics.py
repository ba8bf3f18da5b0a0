"""Metric code against hand-computed cases and scikit-learn's independent ROC."""

from __future__ import annotations

import math

import numpy as np
import pytest

from leadguard.evaluation import metrics as m


def test_fmr_fnmr_by_hand() -> None:
    gen, imp = [0.9, 0.8, 0.3], [0.1, 0.5, 0.85, 0.2]
    assert m.fmr_at(imp, 0.5) == 0.5  # 0.5 and 0.85 are >= 0.5
    assert m.fnmr_at(gen, 0.5) == pytest.approx(1 / 3)  # 0.3 < 0.5


def test_threshold_at_fmr_by_hand() -> None:
    imp = np.arange(10) / 10  # 0.0 .. 0.9
    t = m.threshold_at_fmr(imp, 0.1)
    assert 0.8 < t <= 0.9 and m.fmr_at(imp, t) == 0.1
    t0 = m.threshold_at_fmr(imp, 0.05)  # below 1/n: nothing may pass
    assert t0 > 0.9 and m.fmr_at(imp, t0) == 0.0
    assert m.threshold_at_fmr(imp, 1.0) == 0.0


def test_fnmr_at_fmr_flags_unsupported_targets() -> None:
    gen, imp = np.linspace(0.5, 1, 50), np.linspace(0, 0.6, 100)
    r = m.fnmr_at_fmr(gen, imp, 0.01)
    assert r["fmr"] <= 0.01 and not r["supported"]  # 100 pairs x 0.01 = 1 expected (< 3)
    assert m.fnmr_at_fmr(gen, imp, 0.5)["supported"]


def test_eer_by_hand() -> None:
    gen, imp = [0.6, 0.7, 0.8, 0.9], [0.1, 0.2, 0.3, 0.65]
    e = m.eer(gen, imp)
    assert e["eer"] == 0.25 and e["threshold"] == 0.65


def test_error_curve_agrees_with_scikit_learn() -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    gen, imp = rng.normal(0.7, 0.1, 400), rng.normal(0.3, 0.15, 900)
    c = m.error_curve(gen, imp)
    y = np.r_[np.ones(gen.size), np.zeros(imp.size)]
    fpr, tpr, thr = sklearn_metrics.roc_curve(y, np.r_[gen, imp], drop_intermediate=False)
    lookup = {float(t): (f, tp) for t, f, tp in zip(thr, fpr, tpr, strict=True)}
    for t, fmr, fnmr in zip(c.thresholds, c.fmr, c.fnmr, strict=True):
        f, tp = lookup[float(t)]
        assert fmr == pytest.approx(f) and 1 - fnmr == pytest.approx(tp)


def test_tenfold_accuracy_by_hand() -> None:
    # fold 0 separable; fold 1 has one non-mated pair above every mated score
    scores = np.array([0.9, 0.8, 0.2, 0.1, 0.9, 0.8, 0.95, 0.1])
    mated = np.array([1, 1, 0, 0, 1, 1, 0, 0], bool)
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    r = m.tenfold_accuracy(scores, mated, folds)
    assert r["fold_accuracy"][0] == 1.0
    assert r["fold_accuracy"][1] == 0.75
    assert r["mean_accuracy"] == 0.875


def test_cmc_and_fnir_at_fpir_by_hand() -> None:
    assert m.cmc([1, 2, 0, 1, 5], 5).tolist() == [0.4, 0.6, 0.6, 0.6, 0.8]
    s = m.Searches(
        mated_rank=np.array([1, 1, 2, 0]),
        mated_score=np.array([0.95, 0.5, 0.99, -math.inf]),
        nonmated_top=np.arange(1, 11) / 10,  # 0.1 .. 1.0
    )
    r1 = m.fnir_at_fpir(s, 0.1, max_rank=1)
    assert r1["fpir"] == 0.1 and 0.9 < r1["threshold"] <= 1.0
    assert r1["fnir"] == 0.75  # only the 0.95 mate at rank 1 clears it
    assert m.fnir_at_fpir(s, 0.1, max_rank=20)["fnir"] == 0.5  # the rank-2 0.99 mate too


def test_failure_to_acquire_never_counts_as_a_false_match() -> None:
    assert m.fmr_at([-math.inf, -math.inf], 0.0) == 0.0
    assert m.fnmr_at([-math.inf, 0.9], 0.5) == 0.5


def test_intervals() -> None:
    lo, hi = m.rate_ci(0, 100)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 100), rel=1e-6)
    lo, hi = m.rate_ci(50, 100)
    assert lo < 0.5 < hi
    assert m.bootstrap_ci([0.3] * 20, lambda v: float(v.mean())) == pytest.approx((0.3, 0.3))
    lo, hi = m.bootstrap_ci(np.r_[np.zeros(90), np.ones(10)], lambda v: float(v.mean()))
    assert lo < 0.1 < hi
