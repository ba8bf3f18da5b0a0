"""Per-group non-mated tails of two models: thresholds from the overall FMR, within-group
rates with exact intervals, and pairs the other model also matches flagged."""

from __future__ import annotations

import numpy as np

from leadguard.evaluation.tails import MIN_GROUP, group_tails


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _data() -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    rng = np.random.default_rng(3)
    d, n = 16, 60
    centre = np.zeros(d)
    centre[0] = 3.0
    # model "a": group F/x is tightly clustered (strangers look alike), M/y is spread
    a = np.vstack([centre + rng.normal(size=(n, d)), rng.normal(size=(n, d))])
    b = rng.normal(size=(2 * n, d))  # model "b": nobody looks alike
    # one person photographed twice under two identities, in M/y: both models agree
    a[n + 1] = a[n]
    b[n + 1] = b[n]
    # a group too small for a row, and two photos of one labelled identity (a mated pair)
    extra_a, extra_b = rng.normal(size=(3, d)), rng.normal(size=(3, d))
    extra_a[1], extra_b[1] = extra_a[0], extra_b[0]
    vec_a, vec_b = _unit(np.vstack([a, extra_a])), _unit(np.vstack([b, extra_b]))
    ids = [f"p{i}" for i in range(2 * n)] + ["q", "q", "r"]
    groups = ["F/x"] * n + ["M/y"] * n + ["F/z"] * 3
    return vec_a, vec_b, ids, groups


def test_rates_thresholds_and_flags() -> None:
    vec_a, vec_b, ids, groups = _data()
    res = group_tails(("a", "b"), (vec_a, vec_b), ids, groups, (1e-3, 1e-4))
    n = len(ids)
    assert res["pairs_overall"] == n * (n - 1) // 2 - 1  # the one mated pair is left out
    low, high = res["levels"]
    assert low["supported"] and not high["supported"] and "upper bounds" in high["note"]
    for level in res["levels"]:
        for name in ("a", "b"):
            r = level["models"][name]
            assert r["overall"]["fmr"] <= level["target_fmr"]
            assert set(r["groups"]) == {"F/x", "M/y"}  # F/z has under MIN_GROUP images
            for g in r["groups"].values():
                lo, hi = g["ci95"]
                assert lo <= g["fmr"] <= hi and g["pairs"] == 60 * 59 // 2
                w = g["without_flagged"]
                assert w["count"] == g["count"] - g["flagged_same_person"]
                assert w["pairs"] == g["pairs"] - g["flagged_same_person"]
    a = low["models"]["a"]
    # the look-alike group carries model a's tail; the repeated person is flagged by b
    assert a["with_flagged"]["worst_group"] == "F/x"
    assert a["groups"]["F/x"]["count"] > a["groups"]["M/y"]["count"]
    assert a["groups"]["M/y"]["flagged_same_person"] == 1
    assert a["groups"]["F/x"]["flagged_same_person"] == 0  # b does not match F/x strangers
    b = low["models"]["b"]
    assert b["groups"]["M/y"]["count"] >= 1 and b["groups"]["M/y"]["flagged_same_person"] == 1
    assert MIN_GROUP > 3


def test_a_group_without_false_matches_is_listed_not_ranked_best() -> None:
    vec_a, vec_b, ids, groups = _data()
    res = group_tails(("a", "b"), (vec_a, vec_b), ids, groups, (1e-3,))
    spread = res["levels"][0]["models"]["a"]["without_flagged"]
    if spread["groups_with_no_false_match"]:
        assert spread["lowest_nonzero_group"] not in spread["groups_with_no_false_match"]
    g = res["levels"][0]["models"]["a"]["groups"]["M/y"]["without_flagged"]
    if g["count"] == 0:
        assert g["ci95"][0] == 0.0 and g["ci95"][1] > 0
