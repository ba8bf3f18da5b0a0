"""Photos of a screen or a print: the declared source type (with the original's) and the
periodic-pattern measure, on generated face-like images with and without a screen pattern."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from leadguard.core.errors import InputError
from leadguard.core.types import Box, Detection
from leadguard.pipeline.measures import Measure, screen_pattern
from leadguard.quality.gate import assess, describe_source_type, load_policy, split_source_type
from leadguard.quality.provenance import ProbeRefused, check_source_type

SIDE = 250
BOX = Detection(Box(65, 60, 185, 190), 1.0, ())


def face_like(seed: int = 0) -> np.ndarray:
    """A smooth grey oval with darker eyes, brows, nose shadow and mouth, lit from one side,
    with a little sensor noise and saved as a JPEG (as a camera would)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float64)
    cx, cy = SIDE / 2 + rng.uniform(-5, 5), SIDE / 2 + rng.uniform(-5, 5)
    img = 60 + 40 * (xx / SIDE)
    oval = ((xx - cx) / 55) ** 2 + ((yy - cy) / 72) ** 2 <= 1
    img = np.where(oval, 170 + 30 * np.exp(-((xx - cx + 20) ** 2) / 2000), img)

    def blob(x: float, y: float, sx: float, sy: float, depth: float) -> np.ndarray:
        return depth * np.exp(-(((xx - x) / sx) ** 2 + ((yy - y) / sy) ** 2))

    for side in (-1, 1):
        eye, brow = (
            blob(cx + side * 22, cy - 15, 9, 5, 90),
            blob(cx + side * 22, cy - 28, 12, 3, 50),
        )
        img = img - eye - brow
    img = img - blob(cx, cy + 10, 5, 14, 40) - blob(cx, cy + 35, 18, 5, 70)
    img = img + rng.normal(0, 2.0, img.shape)
    rgb = np.repeat(np.clip(img, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    return jpeg(rgb)


def jpeg(rgb: np.ndarray, quality: int = 90) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def on_screen(rgb: np.ndarray, period: float, angle: float, depth: float) -> np.ndarray:
    """The image as a camera sees it on a screen: the pixel grid's moiré (a sinusoidal
    brightness pattern at ``period`` px and ``angle``), then the camera's JPEG."""
    yy, xx = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]].astype(np.float64)
    t = np.radians(angle)
    pattern = np.sin(2 * np.pi * (xx * np.cos(t) + yy * np.sin(t)) / period)
    out = rgb.astype(np.float64) * (1 - depth / 2 + depth / 2 * pattern[:, :, None])
    return jpeg(np.clip(out, 0, 255).astype(np.uint8))


def scan_lines(rgb: np.ndarray, every: int, depth: float) -> np.ndarray:
    out = rgb.astype(np.float64)
    out[::every] *= 1 - depth
    return jpeg(np.clip(out, 0, 255).astype(np.uint8))


def test_a_plain_face_like_image_scores_clean() -> None:
    for seed in range(5):
        m = screen_pattern(face_like(seed), BOX)
        assert m.score >= 70, (seed, m.raw)  # well clear of the warning band (50)


@pytest.mark.parametrize(
    ("period", "angle", "depth"), [(4.0, 10.0, 0.25), (5.5, 35.0, 0.2), (3.1, 80.0, 0.3)]
)
def test_moire_from_a_screen_is_noticed(period: float, angle: float, depth: float) -> None:
    for seed in range(3):
        clean = screen_pattern(face_like(seed), BOX)
        shot = screen_pattern(on_screen(face_like(seed), period, angle, depth), BOX)
        assert shot.raw > clean.raw + 10 and shot.score < 50, (seed, clean.raw, shot.raw)


def test_scan_lines_are_noticed() -> None:
    m = screen_pattern(scan_lines(face_like(1), 3, 0.3), BOX)
    assert m.score < 50 and "screen" in m.what


def test_the_gate_warns_and_the_warning_names_the_screen() -> None:
    policy = load_policy()
    assert policy.rules["screen_pattern"].warn_below is not None
    shot = screen_pattern(on_screen(face_like(2), 4.0, 10.0, 0.25), BOX)
    verdict = assess({"screen_pattern": shot}, policy)
    assert verdict.decision == "warn"
    (warning,) = [w for w in verdict.warnings() if "screen_pattern" in w]
    assert "photo of a screen" in warning

    def flagged(m: Measure) -> list[str]:
        return [f.measure for f in assess({"screen_pattern": m}, policy).findings]

    assert "screen_pattern" not in flagged(screen_pattern(face_like(2), BOX))
    small = Measure("screen_pattern", float("nan"), "dB", 100, "")  # too small to measure
    assert "screen_pattern" not in flagged(small)


def test_a_rephotograph_records_the_original_source_type() -> None:
    prohibited = load_policy().prohibited_source_types
    for ok in ("screen_photo/surveillance_still", "print_photo/booking_photo"):
        check_source_type(ok, prohibited)
    assert split_source_type("screen_photo/video_frame") == ("screen_photo", "video_frame")
    assert split_source_type("video_frame") == ("video_frame", None)
    said = describe_source_type("screen_photo/surveillance_still")
    assert "photo of a screen" in said and "surveillance_still" in said
    assert describe_source_type("phone_photo") == "phone_photo"
    with pytest.raises(InputError, match="name the original"):
        check_source_type("screen_photo", prohibited)
    with pytest.raises(InputError, match="only screen_photo, print_photo"):
        check_source_type("phone_photo/surveillance_still", prohibited)
    with pytest.raises(InputError, match="not one of"):
        check_source_type("screen_photo/polaroid", prohibited)
    with pytest.raises(InputError, match="once"):
        check_source_type("screen_photo/print_photo/video_frame", prohibited)
    with pytest.raises(ProbeRefused, match="prohibited"):  # a sketch on a screen is a sketch
        check_source_type("screen_photo/sketch", prohibited)


def _reference_peak_db(grey: np.ndarray) -> float:
    """The measure as first written: geometry rebuilt and each ring's median taken with
    ``np.median``, one ring at a time (the fast version must give exactly this)."""
    from leadguard.pipeline.screen import LOW_CUT

    n = min(grey.shape[:2])
    if n < 24:
        return float("nan")
    g = grey[:n, :n].astype(np.float64)
    window = np.hanning(n)
    g = (g - g.mean()) * np.outer(window, window)
    level = np.log10(np.fft.fftshift(np.abs(np.fft.fft2(g)) ** 2) + 1e-9)
    c = n // 2
    yy, xx = np.mgrid[0:n, 0:n]
    fy, fx = (yy - c) / n, (xx - c) / n
    radius = np.hypot(fx, fy)
    ring = np.round(radius * n).astype(int)
    band = (radius > LOW_CUT) & (radius < 0.5)
    near = 1.5 / n
    for k in (1, 2, 3):
        on_x, on_y = np.abs(np.abs(fx) - k / 8) < near, np.abs(np.abs(fy) - k / 8) < near
        band &= ~((on_x & (np.abs(fy) < near)) | (on_y & (np.abs(fx) < near)) | (on_x & on_y))
    medians = np.zeros(ring.max() + 1)
    for r in range(ring.max() + 1):
        if (ring == r).any():
            medians[r] = np.median(level[ring == r])
    return 10.0 * float((level - medians[ring])[band].max())


@pytest.mark.parametrize("side", [24, 25, 64, 111, 128, 200, 256])
def test_fast_peak_equals_the_ring_by_ring_median(side: int) -> None:
    from leadguard.pipeline.screen import periodic_peak_db

    rng = np.random.default_rng(side)
    for grey in (
        rng.integers(0, 256, (side, side)).astype(np.uint8),
        np.asarray(Image.fromarray(face_like(side)).convert("L").resize((side, side))),
    ):
        assert periodic_peak_db(grey) == _reference_peak_db(grey)
        assert periodic_peak_db(grey) == _reference_peak_db(grey)  # from the cached geometry
