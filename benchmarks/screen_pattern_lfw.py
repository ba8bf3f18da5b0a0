"""How often the screen-pattern measure (moiré, scan lines) fires on ordinary photos:
LFW images through LeadGuard's own detection and measures, a random sample (seeded), and
the same faces re-photographed off a simulated screen (a sinusoidal pixel-grid pattern at
a random period of 3-6 px, angle and depth 0.15-0.3, then JPEG 85) as the hit rate.

Reported: the warning rate (score below the shipped policy's warn_below), the raw
quantiles in dB, and the hit rate on the simulated screen photos.

Usage: python benchmarks/screen_pattern_lfw.py [--n 400] [--seed 0]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import random

import numpy as np
from PIL import Image

from _common import LFW
from leadguard.core.config import Settings
from leadguard.face_models.dlib_backend import DlibFaceModel
from leadguard.pipeline.compose import FacePipeline, FaceSelection
from leadguard.quality.gate import load_policy

log = logging.getLogger("screen_pattern_lfw")


def screen_shot(data: bytes, rng: random.Random) -> bytes:
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.float64)
    yy, xx = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]]
    period, angle, depth = (
        rng.uniform(3, 6),
        np.radians(rng.uniform(0, 180)),
        rng.uniform(0.15, 0.3),
    )
    pattern = np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    out = np.clip(rgb * (1 - depth / 2 + depth / 2 * pattern[:, :, None]), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(out.astype(np.uint8)).save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with (LFW / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    rng = random.Random(args.seed)
    sample = rng.sample(rows, args.n)
    s = Settings()
    model = DlibFaceModel(s.detector_upsample, s.landmarks, s.chip_size, s.chip_padding, s.mirror)
    model.load()
    pipe = FacePipeline(model, s.min_face_size, s.max_image_pixels)
    warn = load_policy().rules["screen_pattern"].warn_below or 0
    plain: list[float] = []
    shot: list[float] = []
    plain_warn = shot_warn = 0
    for r in sample:
        data = (LFW / r["path"]).read_bytes()
        for variant, out in ((data, plain), (screen_shot(data, rng), shot)):
            try:
                m = pipe.measure(variant, r["path"], FaceSelection("central")).quality
            except Exception:  # no face found: not measured
                continue
            q = m["screen_pattern"]
            out.append(q.raw)
            if q.score < warn:
                if out is plain:
                    plain_warn += 1
                else:
                    shot_warn += 1
    result = {
        "sample": args.n,
        "seed": args.seed,
        "warn_below": warn,
        "lfw_measured": len(plain),
        "lfw_warned": plain_warn,
        "lfw_warning_rate": plain_warn / max(len(plain), 1),
        "lfw_raw_db_p50_p90_p99_max": [
            round(float(v), 1) for v in np.percentile(plain, [50, 90, 99, 100])
        ],
        "screen_measured": len(shot),
        "screen_warned": shot_warn,
        "screen_hit_rate": shot_warn / max(len(shot), 1),
        "screen_raw_db_p1_p10_p50": [round(float(v), 1) for v in np.percentile(shot, [1, 10, 50])],
    }
    log.info(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
