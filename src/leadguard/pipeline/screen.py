"""Screen and print patterns in the face region: moiré, scan lines and halftone dots.

A photo of a screen (or of a print) adds a periodic pattern to the face: the screen's pixel
grid beating against the camera's (moiré), a CRT's or an interlaced frame's scan lines, a
printer's halftone screen. A periodic pattern is a few sharp peaks in the 2-D power
spectrum; the face itself has a smooth spectrum that falls with frequency. The measure is
the height of the highest peak above the median power of its own frequency ring, in dB,
over the band from 0.08 cycles/px to Nyquist, on the face region at its native resolution
(resampling would smear or alias the pattern). The frequencies of JPEG's 8x8 blocks
(multiples of 1/8 cycle/px on either axis) are left out: blocking is the compression
measure's business.

The measure itself (``measures.screen_pattern``) scores it: 100 at a peak of 18 dB or
less (ordinary photos: LFW's median is about 15 dB), 0 at 30 dB or more (a screen grid at a
quarter of the face's contrast is about 40 dB).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

LOW_CUT = 0.08  # cycles/px: below this the face's own shape dominates the spectrum


@dataclass(frozen=True)
class _Geometry:
    """What depends only on the side n (computed once per side, not once per face): the
    window, each frequency's ring, the band, and the rings laid out for their medians."""

    window: np.ndarray  # (n, n) Hann window
    ring: np.ndarray  # (n*n,) ring of each frequency
    band: np.ndarray  # (n*n,) bool: in the measured band, JPEG harmonics left out
    # rings with an odd and with an even number of frequencies, each group as rows of one
    # width: a row holds its ring's frequencies (indices into the spectrum) padded on both
    # sides with as many entries of -inf (index n*n) as of +inf (index n*n + 1), so its
    # median sits at the same place in every row
    groups: tuple[tuple[np.ndarray, np.ndarray], ...]  # (rings, (rows x width) indices)
    rings: int


def _median_rows(
    ring_ids: list[int], members: list[np.ndarray], width: int, total: int
) -> np.ndarray:
    rows = np.empty((len(ring_ids), width), dtype=np.int32)
    for i, m in enumerate(members):
        pad = (width - m.size) // 2
        rows[i, :pad] = total  # -inf
        rows[i, pad : pad + m.size] = m
        rows[i, pad + m.size :] = total + 1  # +inf
    return rows


@lru_cache(maxsize=32)  # at most about 1 MB a side (n <= 256)
def _geometry(n: int) -> _Geometry:
    hann = np.hanning(n)
    c = n // 2
    yy, xx = np.mgrid[0:n, 0:n]
    fy, fx = (yy - c) / n, (xx - c) / n
    radius = np.hypot(fx, fy)
    ring = np.round(radius * n).astype(int)
    band = (radius > LOW_CUT) & (radius < 0.5)
    near = 1.5 / n
    for k in (1, 2, 3):  # JPEG block harmonics, on the axes and the diagonals
        on_x, on_y = np.abs(np.abs(fx) - k / 8) < near, np.abs(np.abs(fy) - k / 8) < near
        band &= ~((on_x & (np.abs(fy) < near)) | (on_y & (np.abs(fx) < near)) | (on_x & on_y))
    flat_ring = ring.ravel()
    order = np.argsort(flat_ring, kind="stable")
    sizes = np.bincount(flat_ring)
    starts = np.concatenate(([0], np.cumsum(sizes)))
    groups = []
    for parity in (1, 0):
        ids = [r for r in range(sizes.size) if sizes[r] and sizes[r] % 2 == parity]
        if not ids:
            continue
        width = max(int(sizes[r]) for r in ids)
        members = [order[starts[r] : starts[r + 1]] for r in ids]
        rows = _median_rows(ids, members, width, n * n)
        groups.append((np.asarray(ids, dtype=np.int32), rows))
    geo = _Geometry(np.outer(hann, hann), flat_ring, band.ravel(), tuple(groups), sizes.size)
    for arr in (geo.window, geo.ring, geo.band, *(x for g in groups for x in g)):
        arr.setflags(write=False)
    return geo


def _ring_medians(level: np.ndarray, geo: _Geometry) -> np.ndarray:
    """The median of ``level`` over each ring, as ``np.median`` gives it (the middle value,
    or the mean of the middle two), for all rings at once by partitioning padded rows."""
    padded = np.concatenate((level, [-np.inf, np.inf]))
    medians = np.zeros(geo.rings)
    for ids, rows in geo.groups:
        width = rows.shape[1]
        values = padded[rows]
        if width % 2:  # odd rings in rows of odd width: the middle entry
            mid = width // 2
            values.partition(mid, axis=1)
            medians[ids] = values[:, mid]
        else:  # even rings in rows of even width: the mean of the middle two
            lo, hi = width // 2 - 1, width // 2
            values.partition((lo, hi), axis=1)
            medians[ids] = (values[:, lo] + values[:, hi]) / 2
    return medians


def periodic_peak_db(grey: np.ndarray) -> float:
    """The highest spectral peak above its ring's median, in dB, of a square grey image."""
    n = min(grey.shape[:2])
    if n < 24:
        return float("nan")
    geo = _geometry(n)
    if not geo.band.any():
        return float("nan")
    g = grey[:n, :n].astype(np.float64)
    g = (g - g.mean()) * geo.window
    power = np.fft.fftshift(np.abs(np.fft.fft2(g)) ** 2)
    level = np.log10(power + 1e-9).ravel()
    excess = level - _ring_medians(level, geo)[geo.ring]
    return 10.0 * float(excess[geo.band].max())
