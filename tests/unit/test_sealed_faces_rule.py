"""The sealed-probe face rule's decision, on constructed unit vectors (the real model and
faces: tests/integration/test_sealed_faces.py)."""

from __future__ import annotations

import numpy as np
import pytest

from leadguard.services.casework.policy import PolicyRefused
from leadguard.services.casework.sealed_faces import SealedFaces


def unit(*xs: float) -> np.ndarray:
    v = np.asarray(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def test_nothing_waiting_refuses_nothing() -> None:
    SealedFaces([], None).check(unit(1, 0, 0))
    SealedFaces([], 0.5).check(unit(1, 0, 0))


def test_a_score_at_the_threshold_is_refused_and_one_below_is_not() -> None:
    waiting = unit(1, 0, 0)
    at = unit(0.6, 0.8, 0)  # similarity 0.6 with the waiting probe
    rule = SealedFaces([(7, waiting)], float(waiting @ at))
    with pytest.raises(PolicyRefused, match="sealed_probe") as refused:
        rule.check(at)
    text = str(refused.value)
    assert "7" not in text and "0.6" not in text  # neither the request nor the score
    SealedFaces([(7, waiting)], float(waiting @ at) + 1e-3).check(at)


def test_any_waiting_probe_refuses_and_without_a_model_every_search_waits() -> None:
    a, b = unit(1, 0, 0), unit(0, 1, 0)
    with pytest.raises(PolicyRefused):
        SealedFaces([(1, a), (2, b)], 0.9).check(unit(0.05, 1, 0))
    SealedFaces([(1, a), (2, b)], 0.9).check(unit(0, 0, 1))
    with pytest.raises(PolicyRefused, match="no evidence model"):
        SealedFaces([(1, a)], None).check(unit(0, 0, 1))


def test_the_bytes_searched_are_refused_where_a_request_waits_on_them() -> None:
    """With no template to compare (a waiting probe whose own search cannot run), the
    SHA-256 of the bytes searched still decides."""
    rule = SealedFaces([], None, frozenset({"a" * 64}))
    with pytest.raises(PolicyRefused, match="is the probe of a search request"):
        rule.check(unit(1, 0, 0), "a" * 64)
    rule.check(unit(1, 0, 0), "b" * 64)
    rule.check(unit(1, 0, 0))  # no hash given: the bytes rule is not asked
