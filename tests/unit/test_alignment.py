"""The comparison view's geometry (core.alignment) and the checks on a mark
(services.annotations.check_mark): pure logic, no model."""

from __future__ import annotations

import math

import pytest

from leadguard.core.alignment import (
    CANVAS,
    EYES,
    INTER_EYE,
    eye_centres,
    eye_transform,
    fraction_of_inter_eye,
)
from leadguard.core.errors import InputError
from leadguard.pipeline.align import pil_coefficients
from leadguard.services.annotations import check_mark


@pytest.mark.parametrize(
    ("left", "right"),
    [((50.0, 80.0), (90.0, 80.0)), ((30.5, 100.0), (70.0, 88.0)), ((200.0, 40.0), (140.0, 70.0))],
)
def test_the_eye_transform_puts_both_eyes_on_the_canvas_eyes(
    left: tuple[float, float], right: tuple[float, float]
) -> None:
    t = eye_transform(left, right)
    for got, want in zip((t(left), t(right)), EYES, strict=True):
        assert math.dist(got, want) < 1e-9
    assert t.scale == pytest.approx(INTER_EYE / math.dist(left, right))
    back = t.inverse()
    for p in (left, right, (0.0, 0.0), (123.0, -7.0)):
        assert math.dist(back(t(p)), p) < 1e-9


def test_pil_coefficients_map_output_pixel_centres_back_to_the_input() -> None:
    t = eye_transform((40.0, 60.0), (80.0, 66.0))
    a, b, c, d, e, f = pil_coefficients(t)
    for x, y in ((40.0, 60.0), (80.0, 66.0)):
        ox, oy = t((x, y))  # index coordinates; PIL samples at index + 0.5
        ix, iy = a * (ox + 0.5) + b * (oy + 0.5) + c, d * (ox + 0.5) + e * (oy + 0.5) + f
        assert math.dist((ix - 0.5, iy - 0.5), (x, y)) < 1e-9


def test_eye_centres_come_from_the_68_point_eyes_image_left_first() -> None:
    points = [(0, 0)] * 68
    for i in range(36, 42):
        points[i] = (200 + i % 2, 100)  # the subject's right eye is on the image's left...
    for i in range(42, 48):
        points[i] = (100, 110 + i % 2)
    left, right = eye_centres(points)
    assert left == pytest.approx((100, 110.5)) and right == pytest.approx((200.5, 100))
    with pytest.raises(ValueError, match="68-point"):
        eye_centres(points[:5])
    with pytest.raises(ValueError, match="coincide"):
        eye_transform((1.0, 1.0), (1.0, 1.0))


def test_a_measurement_is_a_fraction_of_the_inter_eye_distance() -> None:
    assert fraction_of_inter_eye(*EYES) == pytest.approx(1.0)
    assert fraction_of_inter_eye((0, 0), (0, INTER_EYE / 2)) == pytest.approx(0.5)


def test_a_mark_is_checked_before_it_is_stored() -> None:
    assert check_mark("probe", "point", "nose", [[10.04, 20]], "") == [[10.0, 20.0]]
    assert len(check_mark("candidate", "measure", "eyes", [[1, 2], [3, 4]], "n")) == 2
    w, h = CANVAS
    for args, what in (
        (("face", "point", "nose", [[1, 1]], ""), "image"),
        (("probe", "circle", "nose", [[1, 1]], ""), "kind"),
        (("probe", "point", "tattoo_colour", [[1, 1]], ""), "FISWG"),
        (("probe", "region", "nose", [[1, 1]], ""), "2 point"),
        (("probe", "point", "nose", [[w + 1, 1]], ""), f"0-{w} by 0-{h}"),
        (("probe", "point", "nose", [[float("nan"), 1]], ""), "points"),
        (("probe", "point", "nose", [[1, 1]], "x" * 2001), "2000"),
    ):
        with pytest.raises(InputError, match=what):
            check_mark(*args)
