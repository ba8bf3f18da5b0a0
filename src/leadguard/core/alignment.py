"""Eye alignment for the comparison view: the similarity transform (scale, rotation,
translation) that puts two eye centres at fixed places of a fixed canvas, so that a probe
and a candidate drawn on that canvas have the same inter-eye distance and angle.

Pure geometry; the pixels are warped in ``pipeline.align``."""

from __future__ import annotations

import math
from dataclasses import dataclass

Point = tuple[float, float]

CANVAS = (360, 440)  # width, height of an aligned face in pixels
EYES: tuple[Point, Point] = ((126.0, 180.0), (234.0, 180.0))  # image-left, image-right eye
INTER_EYE = EYES[1][0] - EYES[0][0]  # 108 px on the canvas
# dlib's 68-point layout: the two eyes' six points each (0-based)
EYE_POINTS_68 = (range(36, 42), range(42, 48))


def eye_centres(points: list[tuple[int, int]] | tuple[tuple[int, int], ...]) -> tuple[Point, Point]:
    """The centres of the two eyes (image-left first) from dlib's 68 landmarks."""
    if len(points) != 68:
        raise ValueError(f"eye centres need the 68-point landmarks, not {len(points)} points")
    centres = []
    for idx in EYE_POINTS_68:
        xs = [points[i][0] for i in idx]
        ys = [points[i][1] for i in idx]
        centres.append((sum(xs) / len(xs), sum(ys) / len(ys)))
    a, b = sorted(centres)
    return a, b


@dataclass(frozen=True)
class Similarity:
    """(x, y) -> (a*x - b*y + tx, b*x + a*y + ty): uniform scale sqrt(a²+b²), rotation
    atan2(b, a)."""

    a: float
    b: float
    tx: float
    ty: float

    def __call__(self, p: Point) -> Point:
        x, y = p
        return (self.a * x - self.b * y + self.tx, self.b * x + self.a * y + self.ty)

    @property
    def scale(self) -> float:
        return math.hypot(self.a, self.b)

    @property
    def degrees(self) -> float:
        return math.degrees(math.atan2(self.b, self.a))

    def inverse(self) -> Similarity:
        d = self.a * self.a + self.b * self.b
        if d == 0:
            raise ValueError("a transform of scale 0 has no inverse")
        a, b = self.a / d, -self.b / d
        return Similarity(a, b, -(a * self.tx - b * self.ty), -(b * self.tx + a * self.ty))

    def affine(self) -> tuple[float, float, float, float, float, float]:
        """The six coefficients of this map in PIL's AFFINE order (x' = c0 x + c1 y + c2,
        y' = c3 x + c4 y + c5)."""
        return (self.a, -self.b, self.tx, self.b, self.a, self.ty)


def eye_transform(left: Point, right: Point, to: tuple[Point, Point] = EYES) -> Similarity:
    """The similarity that maps the two source eyes onto ``to`` exactly."""
    sx, sy = right[0] - left[0], right[1] - left[1]
    dx, dy = to[1][0] - to[0][0], to[1][1] - to[0][1]
    d = sx * sx + sy * sy
    if d == 0:
        raise ValueError("the two eye centres coincide: no alignment is possible")
    # (a + ib) * (sx + i sy) = dx + i dy
    a = (dx * sx + dy * sy) / d
    b = (dy * sx - dx * sy) / d
    tx = to[0][0] - (a * left[0] - b * left[1])
    ty = to[0][1] - (b * left[0] + a * left[1])
    return Similarity(a, b, tx, ty)


def fraction_of_inter_eye(p: Point, q: Point, inter_eye: float = INTER_EYE) -> float:
    """The distance between two points of an aligned face as a fraction of its inter-eye
    distance (a measurement that does not depend on image resolution)."""
    return math.dist(p, q) / inter_eye
