"""A face warped onto the comparison canvas with its eyes at the canvas's eye positions
(``core.alignment``): dlib's 68 landmarks inside the face box the pipeline recorded (the
face that was compared), the eye centres from them, one similarity transform, bilinear
resampling. The same bytes and box give the same PNG."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from leadguard.core.alignment import CANVAS, Point, Similarity, eye_centres, eye_transform
from leadguard.core.types import Box, Detection
from leadguard.pipeline.compose import dlib_68_on_box
from leadguard.pipeline.decode import decode_image

LANDMARK_MODEL = "dlib 68-point model on the recorded face box"


@dataclass(frozen=True)
class AlignedFace:
    png: bytes  # CANVAS-sized RGB PNG
    landmarks: tuple[Point, ...]  # the 68 landmarks on the canvas
    eyes: tuple[Point, Point]  # the eye centres on the canvas (image-left first)
    source_eyes: tuple[Point, Point]  # the eye centres in the source image
    transform: Similarity  # source pixels -> canvas


def pil_coefficients(t: Similarity) -> tuple[float, float, float, float, float, float]:
    """PIL's AFFINE coefficients for ``t`` (pixel-index coordinates, as landmarks are):
    PIL maps each output point back to the input, in coordinates where pixel i spans
    [i, i + 1), so the inverse is shifted by half a pixel on both sides."""
    inv = t.inverse()
    a, b = inv.a, inv.b
    # inv(q - h) + h with h = (0.5, 0.5)
    tx = inv.tx - (a * 0.5 - b * 0.5) + 0.5
    ty = inv.ty - (b * 0.5 + a * 0.5) + 0.5
    return Similarity(a, b, tx, ty).affine()


def align_face(data: bytes, box: Box, source: str, max_pixels: int) -> AlignedFace:
    """``data``: the stored image bytes; ``box``: the face box recorded for them (decoded
    pixels, EXIF orientation applied, as the detector saw them)."""
    image = decode_image(data, source, max_pixels)
    points = dlib_68_on_box(image.pixels, Detection(box=box, score=0.0))
    left, right = eye_centres(points)
    t = eye_transform(left, right)
    img = Image.fromarray(image.pixels).transform(
        CANVAS, Image.Transform.AFFINE, pil_coefficients(t), resample=Image.Resampling.BILINEAR
    )
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    on_canvas = tuple(t((float(x), float(y))) for x, y in points)
    return AlignedFace(buf.getvalue(), on_canvas, (t(left), t(right)), (left, right), t)
