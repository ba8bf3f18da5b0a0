"""Sharpness and the unified quality score follow the image: on 50 real LFW faces, both fall
monotonically as Gaussian blur grows from sigma 0 to 10 (a sigma-9 probe once
scored sharper than the same probe at sigma 5, and was only warned)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from leadguard.core.config import Settings
from leadguard.pipeline.decode import decode_image, read_file
from leadguard.pipeline.measures import measure_face
from leadguard.quality.gate import assess, load_policy
from tests.conftest import LFW

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SIGMAS = tuple(range(11))


def faces(n: int) -> list[Path]:
    return sorted(LFW.glob("images/*/*_0001.jpg"))[: n * 10 : 10]


def test_sharpness_and_unified_fall_monotonically_with_blur(model) -> None:  # type: ignore[no-untyped-def]
    settings = Settings()
    policy = load_policy()
    assert policy.unified is not None
    checked = 0
    refused = np.zeros(len(SIGMAS))
    for path in faces(60):
        data = read_file(path, settings.max_image_bytes)
        pixels = decode_image(data, str(path), settings.max_image_pixels).pixels
        dets = model.detect(pixels)
        if not dets:
            continue
        det = max(dets, key=lambda d: d.box.width * d.box.height)
        raw, scores, unified = [], [], []
        for i, s in enumerate(SIGMAS):
            img = pixels if s == 0 else cv2.GaussianBlur(pixels, (0, 0), s)
            m = measure_face(np.ascontiguousarray(img), det, 1)
            raw.append(m["sharpness"].raw)
            scores.append(m["sharpness"].score)
            unified.append(policy.unified.score(m))
            refused[i] += assess(m, policy).decision == "refuse"
        assert np.all(np.diff(raw) < 0), (path.name, raw)
        assert np.all(np.diff(scores) <= 0), (path.name, scores)
        # while sharpness still registers detail, the unified score falls with it; beyond
        # (sharpness 0, refused by its floor) blur evens out burnt-out highlights and the
        # over-exposure measure may lift the unified score by a point (docs/quality.md)
        sharp = np.array(scores) > 0
        live = np.array(unified)[: int(np.argmin(sharp)) if not sharp.all() else len(SIGMAS)]
        assert np.all(np.diff(live) <= 0), (path.name, unified, scores)
        assert raw[9] < raw[5] and scores[9] <= scores[5], path.name  # sigma 9 vs sigma 5
        checked += 1
    assert checked >= 50
    share = refused / checked
    # measured FNMR passed 50 % at sigma 4.5 (docs/quality.md): refused from there on
    # measured FNMR passed 50 % at sigma 4.5 (docs/quality.md): from sigma 5 most probes are
    # refused, from sigma 9 (the finding) every one; a slight blur refuses nobody new
    by_sigma = share.round(2).tolist()
    assert np.all(np.diff(share) >= 0), by_sigma
    assert np.all(share[5:] >= 0.75) and np.all(share[9:] == 1.0), by_sigma
    assert share[2] == share[0], by_sigma
