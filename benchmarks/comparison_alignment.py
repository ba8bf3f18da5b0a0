"""How well the comparison view's alignment puts the eyes where the canvas says, on LFW
(docs/server.md, "The comparison view"): for each of N LFW images (the manifest's first N,
deterministic), the default model's largest face, aligned by ``pipeline.align`` (dlib's 68
landmarks in the box, eye centres, one similarity transform); then the real model run
again on the aligned 360 x 440 PNG, and the distance of the eye centres it finds from the
canvas's eye points (126, 180) and (234, 180), in canvas pixels and as a fraction of the
inter-eye distance (108 px). Not part of the test run.

    PYTHONPATH=src .venv/bin/python benchmarks/comparison_alignment.py --n 300
"""

from __future__ import annotations

import argparse
import logging
import math

from _common import lfw_paths, save
from leadguard.core.alignment import EYES, INTER_EYE, eye_centres
from leadguard.core.config import Settings
from leadguard.core.types import Detection
from leadguard.face_models import create_model
from leadguard.pipeline.align import align_face
from leadguard.pipeline.compose import dlib_68_on_box
from leadguard.pipeline.decode import decode_image

BUDGET = 50_000_000


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    model = create_model(Settings())  # the default model, as a fresh workspace has it
    model.load()
    errors: list[float] = []
    no_face = no_face_aligned = 0
    for path, _ in lfw_paths(args.n):
        data = path.read_bytes()
        img = decode_image(data, path.name, BUDGET)
        found = model.detect(img.pixels)
        if not found:
            no_face += 1
            continue
        aligned = align_face(data, found[0].box, path.name, BUDGET)
        out = decode_image(aligned.png, "aligned.png", BUDGET)
        again = model.detect(out.pixels)
        if not again:
            no_face_aligned += 1
            continue
        eyes = eye_centres(dlib_68_on_box(out.pixels, Detection(box=again[0].box, score=0.0)))
        errors.append(max(math.dist(g, w) for g, w in zip(eyes, EYES, strict=True)))
    result = {
        "images": args.n,
        "no_face_in_source": no_face,
        "no_face_on_aligned": no_face_aligned,
        "measured": len(errors),
        "eye_error_px": {
            "median": pct(errors, 0.5),
            "p95": pct(errors, 0.95),
            "max": max(errors),
            "under_4px": sum(e < 4 for e in errors) / len(errors),
        },
        "inter_eye_px": INTER_EYE,
    }
    e = result["eye_error_px"]
    print(
        f"{len(errors)} of {args.n} LFW images: the worse eye re-detected "
        f"{e['median']:.2f} px (median), {e['p95']:.2f} px (95th pct), {e['max']:.2f} px "
        f"(max) from its canvas point; inter-eye 108 px; {100 * e['under_4px']:.1f}% under 4 px"
    )
    print(f"saved {save('comparison_alignment', result)}")


if __name__ == "__main__":
    main()
