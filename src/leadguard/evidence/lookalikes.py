"""Look-alike counts from the gallery: how many other enrolled people resemble a photo.

For every enrolled template ``t`` LeadGuard keeps, on a fixed grid of scores ``g_i``, how many
*other enrolled people* (subjects, not templates; never ``t``'s own subject) have at least one
template scoring ``>= g_i`` against ``t``. A candidate's count at its own score says how many
other enrolled people its photo resembles at least as closely as it resembles the probe: a
candidate with a generic face that resembles dozens of enrolled people is weaker evidence
than one that resembles nobody else at that level.

The grid (``GRID``) is uniform on Fisher's z scale (``atanh(score)``, as the per-search tail
fit and the likelihood ratios use): ``g_i = tanh(0.025 * i)`` for ``i = 12 .. 166``, rounded to
6 decimals, that is 155 points from 0.2913 to 0.9995. A cosine similarity's resolution
shrinks near 1 and this spacing follows it: neighbouring points are 0.019 apart at 0.5
(SFace's listing range, thresholds about 0.4 to 0.85 for galleries of 100 to 100,000), 0.004
at 0.92 and 0.002 at 0.96 (dlib-resnet's, about 0.94 to 0.99). Both models' open-set
listing ranges lie inside it; an investigation-mode list can reach below 0.2913 (SFace), where
a count is only a lower bound and says so.

Reading a count is conservative: the count is read at the grid point **at or below** the
candidate's score. The count can only fall as the score rises, so the figure stated is never
lower than the true count at the candidate's score (it may be higher, by the people who
score between the grid point and the candidate's score). Above the top point the top point's
count is read (same direction). Below the lowest point nothing is known beyond "at least the
count at the lowest point", and the statement says so.

The list's own figure (``near_top``) comes from the search's own scores, not from the stored
counts: how many other people in the gallery score within ``MARGIN_Z`` = 0.05 on Fisher's z
scale (two grid steps; about 0.004 at 0.96, 0.03 at 0.6) of the top-scoring person.

This module is pure (arrays in, arrays and statements out); ``leadguard.gallery.lookalikes``
keeps the counts in the database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

GRID_STEP_Z = 0.025
GRID_FIRST, GRID_LAST = 12, 166  # i of the lowest and highest point
GRID: npt.NDArray[np.float64] = np.round(
    np.tanh(GRID_STEP_Z * np.arange(GRID_FIRST, GRID_LAST + 1)), 6
)
GRID_NAME = f"fisher-z/{GRID_STEP_Z}/{GRID_FIRST}-{GRID_LAST}"  # stored with every row
POINTS = int(GRID.size)
MARGIN_Z = 0.05  # the list's "almost as high as the top" margin, on Fisher's z scale
COUNT_DTYPE = np.dtype("<u4")

Counts = npt.NDArray[np.int64]  # (rows, POINTS)


def positions(scores: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """How many grid points are at or below each score (0: below the grid; -inf too)."""
    return np.searchsorted(GRID, np.asarray(scores, dtype=np.float64), side="right").astype(
        np.int64
    )


def counts_from_best(best: npt.NDArray[np.float64]) -> Counts:
    """Counts per row from each row's best score per other subject (``best``: rows x
    subjects, ``-inf`` where a subject is not counted, e.g. the row's own)."""
    k = positions(best)
    rows = k.shape[0]
    flat = (np.arange(rows, dtype=np.int64)[:, None] * (POINTS + 1) + k).ravel()
    b = np.bincount(flat, minlength=rows * (POINTS + 1)).reshape(rows, POINTS + 1)
    at_or_above = np.cumsum(b[:, ::-1], axis=1)[:, ::-1]  # subjects with k >= column
    return at_or_above[:, 1:].astype(np.int64)  # count at point i: subjects with k > i


def band(k_lo: npt.NDArray[np.int64], k_hi: npt.NDArray[np.int64]) -> Counts:
    """Per column j of the (subjects x columns) positions: at each grid point i, the number
    of subjects with ``k_lo <= i < k_hi`` (the points a subject newly reaches, or leaves)."""
    cols = k_lo.shape[1]
    base = np.arange(cols, dtype=np.int64)[None, :] * (POINTS + 1)
    size = cols * (POINTS + 1)
    lo = np.bincount((base + k_lo).ravel(), minlength=size)
    hi = np.bincount((base + k_hi).ravel(), minlength=size)
    diff = (lo - hi).reshape(cols, POINTS + 1)
    return np.cumsum(diff, axis=1)[:, :POINTS]


def group_max(
    scores: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], axis: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The maximum of ``scores`` over the rows (axis 0) or columns (axis 1) sharing a label:
    (the distinct labels in ascending order, the maxima)."""
    order = np.argsort(labels, kind="stable")
    sorted_labels = labels[order]
    if sorted_labels.size == 0:
        shape = (0, scores.shape[1]) if axis == 0 else (scores.shape[0], 0)
        return sorted_labels, np.empty(shape)
    starts = np.flatnonzero(np.r_[True, sorted_labels[1:] != sorted_labels[:-1]])
    taken = scores[order] if axis == 0 else scores[:, order]
    return sorted_labels[starts], np.maximum.reduceat(taken, starts, axis=axis)


def to_bytes(counts: npt.ArrayLike) -> bytes:
    arr = np.asarray(counts)
    if arr.shape != (POINTS,) or (arr < 0).any():
        raise ValueError("a look-alike row holds one non-negative count per grid point")
    return arr.astype(COUNT_DTYPE).tobytes()


def from_bytes(blob: bytes) -> Counts:
    arr = np.frombuffer(blob, dtype=COUNT_DTYPE).astype(np.int64)
    if arr.shape != (POINTS,):
        raise ValueError(f"a look-alike row of {arr.size} counts, not {POINTS}")
    return arr


@dataclass(frozen=True)
class Lookalikes:
    """One candidate's look-alike count, read at the grid point at or below its score."""

    score: float
    kept: bool  # a row is kept for the candidate's photo
    others: int | None = None  # other enrolled people at or above ``grid_point``
    grid_point: float | None = None  # the point read (the lowest one when below the grid)
    below_grid: bool = False  # the score is below the lowest point: ``others`` is a floor

    def line(self) -> str:
        if not self.kept or self.others is None or self.grid_point is None:
            return (
                "Look-alikes in the gallery: no count is kept for this candidate's gallery "
                "photo (enrolled before counts were kept, or not rebuilt since: `leadguard "
                "gallery rebuild` computes them), so how many other enrolled people it "
                "resembles is not stated."
            )
        who = _people(self.others)
        if self.below_grid and self.others == 0:
            return (
                "Look-alikes in the gallery: not counted at this score: "
                f"{self.score:.4f} is below {self.grid_point:.4f}, the lowest score at which "
                "counts are kept, so how many other enrolled people this candidate's gallery "
                "photo resembles as closely as it resembles the probe is not known."
            )
        if self.below_grid:
            return (
                f"Look-alikes in the gallery: this candidate's gallery photo resembles at least "
                f"{who} at least as closely as it resembles the probe (score "
                f"{self.score:.4f} is below {self.grid_point:.4f}, the lowest score at which "
                "counts are kept, so this is only a lower bound)."
            )
        return (
            f"Look-alikes in the gallery: this candidate's gallery photo resembles {who} at "
            f"least as closely as it resembles the probe (counted at score "
            f"{self.grid_point:.4f}, the grid point at or below its score {self.score:.4f}, "
            "so the count may be too high but never too low)."
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kept": self.kept,
            "other_people_at_or_above": self.others,
            "read_at_score": self.grid_point,
            "lower_bound_only": self.below_grid,
            "grid": GRID_NAME,
            "statement": self.line(),
        }


def read(score: float, row: Counts | None) -> Lookalikes:
    """The count for a candidate of ``score`` from its photo's row (None: no row kept)."""
    if row is None:
        return Lookalikes(score, False)
    i = int(positions([score])[0]) - 1  # the grid point at or below the score
    if i < 0:
        return Lookalikes(score, True, int(row[0]), float(GRID[0]), True)
    return Lookalikes(score, True, int(row[i]), float(GRID[i]))


@dataclass(frozen=True)
class NearTop:
    """How many other people of the search score within the margin of the top one."""

    top: float
    floor: float  # the lowest score within the margin
    others: int
    complete: bool  # False: every score read was within the margin (the count is a floor)

    def line(self) -> str:
        at_least = "" if self.complete else "at least "
        verb = "score" if self.others > 1 else "scores"
        return (
            f"Near the top: {at_least}{_people(self.others).replace('other enrolled', 'other')} "
            f"in the gallery {verb} almost as high as the top candidate (within "
            f"{self.top - self.floor:.4f} of its {self.top:.4f}, that is at or above "
            f"{self.floor:.4f}: {MARGIN_Z} on Fisher's z scale)."
        )


def near_top(scores: Sequence[float], subjects: int) -> NearTop | None:
    """From the search's best score per subject (best first; at most ``subjects`` of them):
    the other subjects within ``MARGIN_Z`` of the top. None for an empty search."""
    if not scores:
        return None
    top = float(scores[0])
    floor = math.tanh(math.atanh(min(max(top, -1 + 1e-9), 1 - 1e-9)) - MARGIN_Z)
    within = sum(1 for x in scores[1:] if x >= floor)
    complete = within < len(scores) - 1 or len(scores) >= subjects
    return NearTop(top, floor, within, complete)


def _people(n: int) -> str:
    if n == 0:
        return "no other enrolled person"
    return f"{n:,} other enrolled {'person' if n == 1 else 'people'}"
