"""Likelihood ratios only where validated: both people's sex/race groups recorded, and the
LR checked within each on held-out people (synthetic people whose groups differ by
construction, validated by the real group validation)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from leadguard.evidence.fit import fit_model, split_by_identity
from leadguard.evidence.group_validation import group_validation
from leadguard.evidence.lr_validity import LR_TARGET, lr_validity, shown_lr_groups
from leadguard.evidence.model import EvidenceModel
from leadguard.evidence.search_lr import validated_search_lr
from leadguard.evidence.statements import candidate_evidence, list_context
from tests.unit.test_evidence_groups import people


@pytest.fixture(scope="module")
def model() -> EvidenceModel:
    cal, held = split_by_identity(people(n=240), seed=0)
    m = fit_model("s", cal, seed=0, bootstraps=3)
    meta = {**m.meta, "validation": {"groups": group_validation(m, held, [100], seed=0)}}
    return replace(m, meta=meta)


def _row(model: EvidenceModel, group: str) -> dict:
    return next(r for r in model.meta["validation"]["groups"]["groups"] if r["group"] == group)


def test_a_group_is_validated_only_by_enough_held_out_pairs(model: EvidenceModel) -> None:
    ok = lr_validity(model, "M/loose")
    row = _row(model, "M/loose")
    assert row["held_out_nonmated_pairs"] >= 3000 and row["stated_lr"] is not None
    assert ok.validated and ok.upper is not None and ok.upper <= LR_TARGET
    # the same group checked on a tenth of the pairs: none above 100 is not enough to show it
    rows = [
        {**r, "held_out_nonmated_pairs": 1150} if r["group"] == "M/loose" else r
        for r in model.meta["validation"]["groups"]["groups"]
    ]
    thin = replace(model, meta={**model.meta, "validation": {"groups": {"groups": rows}}})
    few = lr_validity(thin, "M/loose")
    assert not few.validated and few.upper is not None and few.upper > LR_TARGET
    assert "of 1,150 held-out pairs" in few.reason and "not at most 0.1%" in few.reason


def test_misleading_or_unchecked_groups_are_never_validated(model: EvidenceModel) -> None:
    # look-alike strangers: its own calibration data collapses the bounds
    tight = lr_validity(model, "F/tight")
    assert not tight.validated and "cannot support" in tight.reason
    unknown = lr_validity(model, "F/eastasian")
    assert not unknown.validated and "too few pairs within F/eastasian" in unknown.reason
    # a model that records no per-group validation (an older one) validates nothing
    bare = replace(model, meta={k: v for k, v in model.meta.items() if k != "validation"})
    assert not lr_validity(bare, "M/loose").validated


def test_both_people_need_a_recorded_sex_and_race(model: EvidenceModel) -> None:
    _, why = shown_lr_groups(model, ("sex M",), ("sex M", "M/loose"))
    assert "probe's sex and race are not both recorded" in why
    _, why = shown_lr_groups(model, ("sex M", "M/loose"), ())
    assert "candidate's sex and race" in why
    _, why = shown_lr_groups(model, (), ())
    assert "probe's and the candidate's" in why
    checks, why = shown_lr_groups(model, ("sex M", "M/loose"), ("sex M", "M/loose"))
    assert why == "" and [c.group for c in checks] == ["M/loose"]
    _, why = shown_lr_groups(model, ("sex M", "M/loose"), ("sex F", "F/tight"))
    assert "F/tight" in why


def test_a_shown_lr_names_its_validation_and_keeps_the_search_reading(
    model: EvidenceModel,
) -> None:
    both = ("sex M", "M/loose")
    lr = validated_search_lr(model, 0.99, both, both, 379, 379)
    assert lr.llr is not None and lr.validated_in == ("M/loose",)
    text = " ".join(lr.lines(None))
    assert "validated within M/loose" in text and "at most 1 to 378" in text
    assert lr.to_dict()["likelihood_ratio_validated_within"] == ["M/loose"]
    # no LR: the list says why, and still gives the odds before any other evidence
    none = validated_search_lr(model, 0.99, ("sex M",), both, 379, 379, rank=2)
    assert none.llr is None
    text = " ".join(none.lines(None))
    assert text.startswith("Likelihood ratio: none shown, because the probe's sex and race")
    assert "before any other evidence" in text and "at most 1 to 378" in text
    assert "ranked 2" in text and "highest" not in text
    d = none.to_dict()
    assert d["log10_likelihood_ratio"] is None
    assert d["prior_odds_at_most"] == pytest.approx(1 / 378)


def test_candidate_statements_show_an_lr_only_where_validated(model: EvidenceModel) -> None:
    ctx = list_context(model, [0.95], None, ("sex M", "M/loose"), 200)
    shown = candidate_evidence(model, 0.95, 200, None, None, None, ctx, ("sex M", "M/loose"))
    assert shown.llr is not None
    hidden = candidate_evidence(model, 0.95, 200, None, None, None, ctx, ("sex M",))
    assert hidden.llr is None
    assert hidden.to_dict()["likelihood_ratio_withheld_because"].startswith("the candidate's")


def test_no_shown_lr_above_100_for_held_out_strangers(model: EvidenceModel) -> None:
    """The target on the model's own held-out people: within every group, the share of
    non-mated pairs with a *shown* LR above 100 is at most 0.1 %."""
    _, held = split_by_identity(people(n=240), seed=0)
    x, ids = held.vectors, held.identities
    s = x @ x.T
    iu = np.triu_indices(len(x), 1)
    for g in ("M/loose", "F/tight"):
        rows = np.array([g in gs for gs in held.groups])
        pair = rows[iu[0]] & rows[iu[1]] & (ids[iu[0]] != ids[iu[1]])
        grp = next(gs for gs in held.groups if g in gs)
        over = 0
        for score in s[iu][pair]:
            lr = validated_search_lr(model, float(score), grp, grp, 100, 100)
            over += lr.llr is not None and lr.llr[0] > 2
        assert over / pair.sum() <= LR_TARGET
