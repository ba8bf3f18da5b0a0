"""Refusal floors and warning bands from the controlled degradations: a floor is set only where
the matching measure separates the level at which error passed 50 % from the milder ones."""

from __future__ import annotations

from typing import Any

from leadguard.quality.run import _floors
from leadguard.quality.study import DEGRADATIONS


def _rows(kind: str, fnmr: list[float], medians: list[float]) -> list[dict[str, Any]]:
    name, levels = DEGRADATIONS[kind]
    return [
        {"kind": kind, "level": lv, "fnmr": f, "median_score": {name: m}}
        for lv, f, m in zip(levels[1:], fnmr, medians, strict=True)
    ]


def test_a_measure_that_follows_the_degradation_gets_a_floor_and_a_band() -> None:
    deg = _rows("downscale", [0.0, 0.0, 0.72, 0.99], [40, 24, 12, 5.5])
    rules = _floors(deg, clean_fnmr=0.007)
    assert rules["inter_eye_distance"] == {"warn_below": 15, "refuse_below": 15}


def test_no_floor_where_it_would_refuse_the_typical_probe_of_a_milder_level() -> None:
    # the in-frame score barely moves with the crop (a 5-point detector's box): the first
    # level past 50 % sits at 60, but a floor of 65 would refuse the median probe at 15-45 %
    deg = _rows("crop", [0.067, 0.12, 0.30, 0.89], [62, 62, 61, 60])
    rules = _floors(deg, clean_fnmr=0.007)
    assert rules["in_frame"] == {"warn_below": 65, "refuse_below": None}
    # the same error with a measure that falls with the crop (dlib's boxes) keeps its floor
    deg = _rows("crop", [0.06, 0.12, 0.61, 1.0], [39, 21, 4, 44.5])
    assert _floors(deg, clean_fnmr=0.033)["in_frame"]["refuse_below"] == 5


def test_no_floor_when_error_never_reaches_half() -> None:
    deg = _rows("blur", [0.013, 0.0, 0.067, 0.44], [71, 54, 40, 26])
    rules = _floors(deg, clean_fnmr=0.007)
    assert rules["sharpness"] == {"warn_below": 45, "refuse_below": None}
