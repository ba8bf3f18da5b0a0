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

import numpy as np

LOW_CUT = 0.08  # cycles/px: below this the face's own shape dominates the spectrum


def periodic_peak_db(grey: np.ndarray) -> float:
    """The highest spectral peak above its ring's median, in dB, of a square grey image."""
    n = min(grey.shape[:2])
    if n < 24:
        return float("nan")
    g = grey[:n, :n].astype(np.float64)
    window = np.hanning(n)
    g = (g - g.mean()) * np.outer(window, window)
    power = np.fft.fftshift(np.abs(np.fft.fft2(g)) ** 2)
    level = np.log10(power + 1e-9)
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
    if not band.any():
        return float("nan")
    sums = np.bincount(ring.ravel())
    medians = np.zeros(sums.size)
    flat_ring, flat_level = ring.ravel(), level.ravel()
    order = np.argsort(flat_ring, kind="stable")
    starts = np.concatenate(([0], np.cumsum(sums)))
    for i in range(sums.size):
        if sums[i]:
            medians[i] = np.median(flat_level[order[starts[i] : starts[i + 1]]])
    excess = level - medians[ring]
    return 10.0 * float(excess[band].max())
