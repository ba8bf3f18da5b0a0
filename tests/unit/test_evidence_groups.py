"""Worst-group statements, search-aware likelihood ratios and shift detection,
on synthetic people whose groups differ by construction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from leadguard.evidence.distribution import ScoreHistogram
from leadguard.evidence.fit import Labelled, fit_model, split_by_identity
from leadguard.evidence.groups import MIN_GROUP_COMPARISONS, ranked_groups
from leadguard.evidence.model import EvidenceModel
from leadguard.evidence.search_lr import search_lr
from leadguard.evidence.shift import GalleryTail, compare, update_tail
from leadguard.evidence.statements import candidate_evidence, list_context
from leadguard.storage.queries import LabelledTemplates


def people(n: int = 150, photos: int = 4, dim: int = 16, seed: int = 0) -> Labelled:
    """Group "F/tight": centres near one point (strangers look alike); "M/loose": spread."""
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=dim)
    vecs, ids, groups = [], [], []
    for p in range(n):
        tight = p % 3 == 0
        centre = rng.normal(size=dim) + (3.0 * shared if tight else 0.0)
        for _ in range(photos):
            v = centre + 0.35 * rng.normal(size=dim)
            vecs.append(v / np.linalg.norm(v))
            ids.append(f"p{p}")
            groups.append(("sex F", "F/tight") if tight else ("sex M", "M/loose"))
    return Labelled(np.array(vecs, dtype=np.float32), np.array(ids), groups)


@pytest.fixture(scope="module")
def model() -> EvidenceModel:
    cal, _ = split_by_identity(people(), seed=0)
    return fit_model("s", cal, seed=0, bootstraps=3)


def with_thin_group(model: EvidenceModel, scores: np.ndarray) -> EvidenceModel:
    groups = dict(model.groups)
    groups["F/thin"] = ScoreHistogram.of(scores)
    return replace(model, groups=groups)


def test_a_thin_group_with_no_high_pair_is_stated_with_its_bound(model: EvidenceModel) -> None:
    # 716 within-group pairs, none at the score: point estimate 0, but only bounded
    m = with_thin_group(model, np.full(716, 0.0))
    st = m.group_standing("F/thin", 0.9)
    assert st.fmr is not None and st.fmr.count == 0 and st.adequate
    assert st.upper >= 3 / 716 * 0.9  # about the rule of three, widened by the design effect
    text = st.statement()
    # about 32 independent comparisons bound the rate only below about 11 %: said in words
    assert st.fmr.ci[1] > 0.01 and not st.fmr.informative
    assert "not measured well enough at this score to be given as a figure" in text
    assert "none of 716 comparisons" in text and f"{st.fmr.ci[1]:.1%}" not in text
    # at a score where the same thin group's bound says something, the bound is given
    m = with_thin_group(model, np.full(30_000, 0.0))
    st = m.group_standing("F/thin", 0.9)
    assert st.fmr is not None and st.fmr.informative
    assert "no measured comparison within this group scored this high" in st.statement()
    assert "only bound" in st.statement()


def test_the_worst_group_is_the_highest_upper_bound_not_point_estimate(
    model: EvidenceModel,
) -> None:
    score = 0.95
    point_worst = max(
        model.measured_groups(),
        key=lambda g: model.group_standing(g, score).fmr.fmr,  # type: ignore[union-attr]
    )
    m = with_thin_group(model, np.full(MIN_GROUP_COMPARISONS, 0.0))
    worst = m.worst_group(score)
    assert worst is not None
    standing = {g: m.group_standing(g, score) for g in m.measured_groups()}
    uppers = {g: st.upper for g, st in standing.items() if st.fmr and st.fmr.informative}
    assert worst.upper == max(uppers.values())
    # the thin group's point estimate is 0, yet its bound can put it on top; a bound that
    # says nothing (above 1 % and ten times the estimate) never names a group the worst
    if "F/thin" in uppers and uppers["F/thin"] > uppers[point_worst]:
        assert worst.group == "F/thin"
    if "F/thin" not in uppers:
        assert worst.group != "F/thin"


def test_one_worst_group_names_every_candidate_on_a_list(model: EvidenceModel) -> None:
    scores = [0.97, 0.9, 0.8, 0.7]
    ctx = list_context(model, scores, None, ("sex M", "M/loose"), 300)
    names = {
        candidate_evidence(
            model, s, 300, None, None, None, ctx, ("sex F", "F/tight")
        ).worst_group.group  # type: ignore[union-attr]
        for s in scores
    }
    assert names == {ctx.worst_group}
    ev = candidate_evidence(model, 0.8, 300, None, None, None, ctx, ("sex F", "F/tight"))
    roles = [(r, st.group) for r, st in ev.own_groups]
    assert ("probe", "M/loose") in roles and ("candidate", "F/tight") in roles
    text = "\n".join(ev.lines())
    assert "The probe person's described group M/loose" in text
    assert "This candidate's recorded group F/tight" in text
    same = candidate_evidence(model, 0.8, 300, None, None, None, ctx, ("sex M", "M/loose"))
    lines = [x for x in same.lines() if "M/loose:" in x and "group" in x]
    assert lines == [x for x in lines if "described group and this candidate's recorded" in x]
    assert len(lines) == 1  # one line, not the same figures twice


def test_an_unmeasured_group_is_said_to_be_unmeasured(model: EvidenceModel) -> None:
    ctx = list_context(model, [0.9], None, (), 300)
    ev = candidate_evidence(model, 0.9, 300, None, None, None, ctx, ("M", "M/eastasian")[1:])
    assert "M/eastasian: not measured" in "\n".join(ev.lines())
    assert ev.llr is None  # no LR for a group without data, nor for an unrecorded probe
    assert "probe's sex and race are not both recorded" in "\n".join(ev.lines())


def test_the_lr_is_read_for_a_search_of_the_gallery(model: EvidenceModel) -> None:
    lr = search_lr(model, 0.99, ("M/loose",), 379, 379)
    assert lr.llr is not None
    odds = lr.posterior_odds_upper
    assert odds == pytest.approx(10 ** lr.llr[0] / 378)
    text = " ".join(lr.lines("the false match rate within F/tight may be as high as 1 in 30"))
    assert "at most 1 to 378" in text and "highest of 379 comparisons" in text
    assert "For comparison" in text  # never alone: beside the worst-group FMR
    # the worked example of the issue: LR 2,400 in 379 photos is odds of at most about 6 to 1
    assert pytest.approx(6.35, abs=0.01) == 2400 / 378


def test_only_the_top_candidate_is_called_the_highest(model: EvidenceModel) -> None:
    top = " ".join(search_lr(model, 0.99, ("M/loose",), 379, 379, rank=1).lines(None))
    third = " ".join(search_lr(model, 0.98, ("M/loose",), 379, 379, rank=3).lines(None))
    assert "highest of 379 comparisons" in top
    assert "highest" not in third
    assert "ranked 3: 2 people on this list scored higher" in third


def test_lrs_are_bounded_by_each_groups_own_data(model: EvidenceModel) -> None:
    table = model.meta["group_lr"]
    assert table["M/loose"]["supported"]
    _lo, hi = table["M/loose"]["bounds"]
    lr = search_lr(model, 0.999, ("M/loose",), 100, 100)
    assert lr.llr is not None and lr.llr[0] <= min(hi, model.lr.bounds[1]) + 1e-9
    # look-alike strangers: the pooled calibration misleads within F/tight, so its own data
    # collapses the ELUB bounds and no LR is stated for it, nor for a person of unknown group
    assert table["F/tight"]["collapsed"]
    none = search_lr(model, 0.999, ("F/tight",), 100, 100)
    assert none.llr is None and "misleading" in none.reason
    assert search_lr(model, 0.999, (), 100, 100).llr is None


def test_the_worst_group_setting_raises_the_threshold(model: EvidenceModel) -> None:
    base = model.gallery_threshold(0.05, 50)
    strict = model.gallery_threshold(0.05, 50, worst_group=True)
    assert strict.threshold >= base.threshold
    stated = model.nonmated.at_least(base.threshold) / model.nonmated.comparisons
    for g, h in model.measured_groups().items():
        assert h.at_least(strict.threshold) / h.comparisons <= stated + 1e-12, g
    if strict.threshold > base.threshold:
        assert strict.binding_group == "F/tight" and "raised from" in strict.statement()
        # the raise names the group that bound it, not the list's worst group
        text = strict.statement()
        assert (
            f"then to {strict.threshold:.4f}, because strangers within F/tight reached "
            f"{base.threshold:.4f} more often than strangers on average: at "
            f"{strict.threshold:.4f} they are no more frequent than the average stranger at "
            f"{base.threshold:.4f}"
        ) in text
        # the target is met at the base threshold, not at the raised one the sentence opens with
        assert text.startswith(
            f"threshold {strict.threshold:.4f}, raised from {base.threshold:.4f}, the "
            "threshold set so that about 5 in 100 searches"
        )
        assert f"(predicted share: {base.predicted_fpir:.3g})" not in text  # the raised one's
        assert f"for the average probe: {strict.predicted_fpir:.3g}" in text
        assert base.statement().startswith(f"threshold {base.threshold:.4f}, set so that")
        # the gallery's shift check raising it once more (evidence.for_search) keeps both
        # steps and their reasons in order, each with the score it started from
        both = replace(strict, threshold=0.99, shift_from=strict.threshold, shift_group="M/x")
        said = both.statement()
        assert said.startswith(f"threshold 0.9900, raised from {base.threshold:.4f}, the")
        assert f"then to {strict.threshold:.4f}, because strangers within F/tight" in said
        assert (
            "then to 0.9900, where this gallery's own strangers (M/x) reach it no "
            f"more often than the model's stated rate at {strict.threshold:.4f}"
        ) in said
        assert said.index(f"then to {strict.threshold:.4f}") < said.index("then to 0.9900")
        alone = replace(base, threshold=0.99, shift_from=base.threshold, shift_group="M/x")
        assert alone.statement().startswith(f"threshold 0.9900, raised from {base.threshold:.4f}")
        assert f"(predicted share: {base.predicted_fpir:.3g})" in alone.statement()
        assert "because strangers within" not in alone.statement()
        # a raise by the shift check alone is the first raise, not a second "then to"
        assert "; raised to 0.9900, where this gallery's own strangers (M/x)" in alone.statement()
        assert "then to" not in alone.statement()
        assert "can be another" in strict.statement()


def templates_of(data: Labelled) -> LabelledTemplates:
    sex = [gs[0].split()[-1] for gs in data.groups]
    race = [gs[1].split("/")[-1] for gs in data.groups]
    ids = np.arange(1, len(data.vectors) + 1, dtype=np.int64)
    return LabelledTemplates(
        ids, data.vectors, data.identities.tolist(), sex, race, list(range(len(ids)))
    )


def test_the_gallery_tail_is_incremental() -> None:
    data = templates_of(people(60, 3, seed=3))
    whole = update_tail(GalleryTail(), data)
    half = len(data.ids) // 2
    first = LabelledTemplates(
        data.ids[:half],
        data.vectors[:half],
        data.subjects[:half],
        data.sex[:half],
        data.race[:half],
        data.encounters[:half],
    )
    step = update_tail(update_tail(GalleryTail(), first), data)
    assert step.template_count == whole.template_count == len(data.ids)
    assert step.hists["all"].comparisons > 0
    again = update_tail(step, data)  # nothing new: unchanged
    assert again.hists["all"].comparisons == step.hists["all"].comparisons
    back = GalleryTail.from_bytes(step.to_bytes())
    assert np.array_equal(back.hists["all"].counts, step.hists["all"].counts)


def test_a_shifted_gallery_is_detected_and_an_unshifted_one_is_not(
    model: EvidenceModel,
) -> None:
    _, held = split_by_identity(people(), seed=0)
    base = model.gallery_threshold(0.01, 100).threshold
    same = compare(model, update_tail(GalleryTail(), templates_of(held)), base)
    assert same is not None and not same.shifted
    # the shift: everyone's photos pulled towards one look (as a degraded camera does)
    rng = np.random.default_rng(9)
    pull = rng.normal(size=held.vectors.shape[1])
    v = held.vectors + 1.5 * pull / np.linalg.norm(pull)
    shifted = Labelled(
        (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32),
        held.identities,
        held.groups,
    )
    check = compare(model, update_tail(GalleryTail(), templates_of(shifted)), base)
    assert check is not None and check.shifted
    assert check.threshold >= base
    assert "not validated for this gallery" in check.statement()


def test_odds_read_as_the_issue_worked_them() -> None:
    from leadguard.evidence.search_lr import odds_words

    assert odds_words(2400 / 378) == "about 6.3 to 1"  # LR 2,400, 379 photos
    assert odds_words(2400 / 999_999) == "about 1 to 417"  # LR 2,400, a million photos
    assert odds_words(263 / 378) == "about 1 to 1.4"


def test_every_section_ranks_groups_as_the_list_names_its_worst(model: EvidenceModel) -> None:
    """The lead report's group table (ranked_groups) starts with the list's worst group, at
    every score, so no document names two different worst groups."""
    for score in (0.5, 0.8, 0.9, 0.95, 0.99):
        ranked = ranked_groups(model, score)
        worst = model.worst_group(score)
        assert (ranked[0].group if ranked else None) == (worst.group if worst else None)
        ctx = list_context(model, [score], score, (), 300)
        assert ctx.worst_group == (worst.group if worst else None)
        uppers = [r.upper for r in ranked]
        assert uppers == sorted(uppers, reverse=True)
        assert all(r.adequate for r in ranked)  # a thin group is never ranked at all


def test_a_candidate_never_gets_another_sex_groups_figures(model: EvidenceModel) -> None:
    from leadguard.evidence.statements import ListContext, group_sex

    assert group_sex("sex F") == "F" and group_sex("F/african") == "F"
    assert group_sex("all") is None
    ctx = ListContext("F/tight", (), 300)
    man = candidate_evidence(model, 0.9, 300, None, None, None, ctx, ("sex M", "M/loose"))
    assert man.worst_group is None and man.worst_not_applicable == "F/tight"
    text = "\n".join(man.lines())
    assert "of another sex than this candidate's recorded one" in text
    assert "For the group whose false match rate may be highest" not in text
    assert man.to_dict()["worst_group"] is None
    woman = candidate_evidence(model, 0.9, 300, None, None, None, ctx, ("sex F", "F/tight"))
    assert woman.worst_group is not None and woman.worst_group.group == "F/tight"
    unknown = candidate_evidence(model, 0.9, 300, None, None, None, ctx, ())
    assert unknown.worst_group is not None  # no recorded sex: the list's worst group applies


def test_an_unknown_sex_or_race_is_no_group() -> None:
    from leadguard.evidence.groups import subject_groups
    from leadguard.services.casework.service import described_groups

    # a witness's "?" once made a group "sex ?", measured nowhere and printed as one
    assert subject_groups("?", "White") == ()
    assert subject_groups("Unknown", None) == () and subject_groups("-", "-") == ()
    assert subject_groups(" F ", "?") == ("sex F",)
    assert subject_groups("X", "n/a") == ("sex X",)  # a recorded marker stays a group
    assert subject_groups("M", "Black") == ("sex M", "M/black")
    assert described_groups({"sex": "?", "race": "unknown"}) == (None, None)
    assert described_groups({"sex": "F", "race": " "}) == ("F", None)


def test_one_sex_or_race_spelt_two_ways_is_one_group() -> None:
    from leadguard.evidence.groups import race_code, sex_code, subject_groups
    from leadguard.services.casework.service import described_groups

    # "male", "m" and "M" in one manifest once made three groups, each measured apart
    assert {sex_code(v) for v in ("M", "m", "male", " Male ", "MAN")} == {"M"}
    assert {sex_code(v) for v in ("F", "f", "female", "Woman")} == {"F"}
    assert sex_code("q") == "Q" and sex_code("non-binary") == "non-binary"  # kept, not guessed
    assert sex_code("?") == "" and sex_code(None) == ""
    assert race_code(" East  Asian ") == "east asian" == race_code("east asian")
    assert subject_groups("female", "African") == subject_groups("F", "african")
    assert described_groups({"sex": "male", "race": "White"}) == ("M", "white")
