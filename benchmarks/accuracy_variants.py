"""Which pipeline choices buy LFW View 2 accuracy? (the measurements behind docs/accuracy.md)

For every image in LFW View 2 this computes, with the default detector and landmarks, the raw
descriptor of the aligned chip and of its mirror image, once, and saves them. Then it scores
the 6,000 pairs with: cosine of the chip descriptor (the default), Euclidean distance of the
raw descriptor (dlib's own convention), and both on the mirror-averaged descriptor.

Usage: python benchmarks/accuracy_variants.py [--cache results/lfw_variants.npz]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from _common import LFW, RESULTS, save
from leadguard.core.config import Settings
from leadguard.core.errors import ImageError
from leadguard.evaluation import metrics as m
from leadguard.evaluation.protocols import lfw_pairs
from leadguard.pipeline.compose import FaceSelection, choose_face

_MODEL = None


def _init() -> None:
    global _MODEL
    from leadguard.face_models import create_model

    _MODEL = create_model(Settings())
    _MODEL.load()


def _describe(path: str) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    from leadguard.pipeline.decode import decode_image

    model = _MODEL
    img = decode_image(Path(path).read_bytes(), path, 10**9)
    try:
        face = choose_face(model.detect(img.pixels), img, FaceSelection(policy="central"))
    except ImageError:
        return path, None, None
    chip = model.chip(img.pixels, face)
    flipped = np.ascontiguousarray(chip[:, ::-1])
    a, b = model._descriptor.compute_face_descriptor([chip, flipped])
    return path, np.asarray(a, np.float32), np.asarray(b, np.float32)


def compute(paths: list[Path]) -> dict[str, tuple[np.ndarray | None, np.ndarray | None]]:
    with ProcessPoolExecutor(2, initializer=_init) as pool:
        return {p: (a, b) for p, a, b in pool.map(_describe, map(str, paths), chunksize=16)}


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, default=RESULTS / "lfw_variants.npz")
    args = ap.parse_args()
    pairs = lfw_pairs(LFW)
    paths = sorted({p for pr in pairs for p in (pr.probe, pr.reference)})
    if args.cache.exists():
        z = np.load(args.cache, allow_pickle=True)
        desc = z["desc"].item()
    else:
        t = time.perf_counter()
        desc = compute(paths)
        print(f"described {len(paths)} images in {time.perf_counter() - t:.0f} s")
        args.cache.parent.mkdir(exist_ok=True)
        np.savez(args.cache, desc=np.array(desc, dtype=object))
    mated = np.array([p.mated for p in pairs])
    folds = np.array([p.fold for p in pairs])

    def score(fn) -> np.ndarray:
        out = []
        for p in pairs:
            a, b = desc[str(p.probe)], desc[str(p.reference)]
            out.append(-np.inf if a[0] is None or b[0] is None else fn(a, b))
        return np.array(out)

    variants = {
        "cosine, chip (no mirroring)": lambda a, b: float(unit(a[0]) @ unit(b[0])),
        "-euclidean, raw chip (dlib convention)": lambda a, b: -float(np.linalg.norm(a[0] - b[0])),
        "cosine, mirror-averaged (default)": lambda a, b: float(
            unit(a[0] + a[1]) @ unit(b[0] + b[1])
        ),
        "-euclidean, mirror-averaged raw": lambda a, b: (
            -float(np.linalg.norm((a[0] + a[1]) / 2 - (b[0] + b[1]) / 2))
        ),
    }
    results = {}
    for name, fn in variants.items():
        r = m.tenfold_accuracy(score(fn), mated, folds)
        results[name] = {"mean": r["mean_accuracy"], "std": r["std_accuracy"]}
        print(f"{name:42s} {100 * r['mean_accuracy']:.2f}% ± {100 * r['std_accuracy']:.2f}")
    failed = sum(desc[str(p)][0] is None for p in paths)
    print(f"images without a face: {failed} of {len(paths)}")
    save("accuracy_variants", {"results": results, "images": len(paths), "no_face": failed})


if __name__ == "__main__":
    main()
