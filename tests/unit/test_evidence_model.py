"""Evidence model: fitted on synthetic people, stored and read back, stated exactly."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from leadguard.evidence.fit import Labelled, check_disjoint, fit_model, split_by_identity
from leadguard.evidence.model import EvidenceModel
from leadguard.evidence.statements import candidate_evidence
from leadguard.evidence.validate import lr_check


def synthetic_people(people: int = 120, photos: int = 4, dim: int = 16, seed: int = 0) -> Labelled:
    """Unit vectors: each person a random centre, each photo the centre plus noise. Group
    "tight" people have noisier centres drawn near one point, so strangers look alike."""
    rng = np.random.default_rng(seed)
    vecs, ids, groups = [], [], []
    shared = rng.normal(size=dim)
    for p in range(people):
        tight = p % 3 == 0
        centre = rng.normal(size=dim) + (3.0 * shared if tight else 0.0)
        for _ in range(photos):
            v = centre + 0.35 * rng.normal(size=dim)
            vecs.append(v / np.linalg.norm(v))
            ids.append(f"person{p}")
            groups.append(("sex F", "F/tight") if tight else ("sex M",))
    return Labelled(np.array(vecs, dtype=np.float32), np.array(ids), groups)


@pytest.fixture(scope="module")
def fitted() -> tuple[EvidenceModel, Labelled, Labelled]:
    cal, held = split_by_identity(synthetic_people(), seed=0)
    return fit_model("space0", cal, seed=0, bootstraps=5), cal, held


def test_identities_are_split_not_images() -> None:
    cal, held = split_by_identity(synthetic_people(), seed=0)
    assert set(cal.identities) and set(held.identities)
    assert not set(cal.identities) & set(held.identities)
    assert len(cal.vectors) + len(held.vectors) == 480


def test_quality_is_never_reported_on_the_calibration_people(fitted) -> None:
    model, cal, held = fitted
    check_disjoint(cal, held)
    overlapping = Labelled(
        np.vstack([held.vectors, cal.vectors[:4]]),
        np.concatenate([held.identities, cal.identities[:4]]),
        held.groups + cal.groups[:4],
    )
    with pytest.raises(ValueError, match="both the calibration and the evaluation"):
        lr_check(model, cal, overlapping, seed=0)


def test_the_model_counts_every_nonmated_pair_once(fitted) -> None:
    model, cal, _ = fitted
    n = len(cal.vectors)
    per_person = np.unique(cal.identities, return_counts=True)[1]
    expected = n * (n - 1) // 2 - int(sum(c * (c - 1) // 2 for c in per_person))
    assert model.nonmated.comparisons == expected
    s = cal.vectors @ cal.vectors.T
    diff = cal.identities[:, None] != cal.identities[None, :]
    iu = np.triu_indices(n, 1)
    scores = s[iu][diff[iu]]
    t = 0.5
    at = model.fmr(t)
    assert at.count == int(np.sum(scores >= t))  # t is a bin edge: exact
    assert at.fmr == at.count / expected


def test_storage_round_trip_keeps_everything(fitted) -> None:
    model = fitted[0]
    back = EvidenceModel.from_bytes(model.to_bytes())
    assert np.array_equal(back.nonmated.counts, model.nonmated.counts)
    assert back.groups.keys() == model.groups.keys()
    assert np.array_equal(back.tails.scores, model.tails.scores)
    assert back.lr.bounds == model.lr.bounds
    for score in (0.2, 0.6, 0.9):
        assert back.fmr(score) == model.fmr(score)
        assert back.lr.at(score) == model.lr.at(score)


def test_the_worst_group_is_ranked_by_its_upper_bound(fitted) -> None:
    model = fitted[0]
    t = 0.5
    worst = model.worst_group(t)
    assert worst is not None and worst.fmr is not None
    uppers = {g: model.group_standing(g, t).upper for g in model.measured_groups()}
    assert worst.upper == max(uppers.values())
    assert worst.group == "F/tight"  # look-alike strangers by construction


def test_candidate_statements_are_exact(fitted) -> None:
    model = fitted[0]
    ev = candidate_evidence(
        model,
        0.6,
        5000,
        date(2020, 1, 1),
        date(2023, 5, 1),
        date(2024, 1, 1),
        candidate_groups=("sex M",),
    )
    assert ev.chance.expected == pytest.approx(5000 * model.fmr(0.6).fmr)
    assert ev.chance.p_at_least_one == pytest.approx(1 - (1 - model.fmr(0.6).fmr) ** 5000)
    assert ev.photo_age_days == (date(2024, 1, 1) - date(2020, 1, 1)).days
    assert ev.newer_encounter == date(2023, 5, 1)
    # a sex alone is not a validated group: no LR, and the list says why
    assert ev.llr is None and "sex and race are not both recorded" in " ".join(ev.lines())
    lo_b, hi_b = model.lr.bounds
    raw = model.lr.at(0.6)
    assert lo_b <= raw[1] <= raw[0] <= raw[2] <= hi_b
    text = " ".join(ev.lines())
    assert "4.0 years older" in text and "more recent photo" in text
    assert "(2023-05-01, taken 0.7 years before the incident)" in text
    # a newer photo taken after the incident is further from it: said so
    later = candidate_evidence(
        model, 0.6, 5000, date(2010, 1, 1), date(2023, 1, 1), date(2005, 1, 1),
        candidate_groups=("sex M",),
    )  # fmt: skip
    assert "(2023-01-01, taken 18.0 years after the incident)" in " ".join(later.lines())
    assert (
        later.to_dict()["newer_encounter_after_incident_days"]
        == (date(2023, 1, 1) - date(2005, 1, 1)).days
    )
    assert "match" not in text.lower().replace("false match rate", "")
    low = candidate_evidence(model, 0.1, 10, None, None, None, candidate_groups=("sex M",))
    assert model.lr.at(0.1)[0] < raw[0]  # a lower score is weaker evidence
    assert low.photo_age_days is None and low.newer_encounter is None
