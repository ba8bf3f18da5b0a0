"""Enrollment throughput against the model's own compute bound, on this machine.

compute bound = cores / (mean per-face time of detection + descriptor alone, one process)
throughput    = faces enrolled per second by ``leadguard enroll`` (all stages, all workers,
                worker start-up included), median of several runs into fresh workspaces.
Also measured: the bare model run in one process per core at once (no LeadGuard around
it), which shows how far the cores themselves fall short of perfect scaling.

Usage: python benchmarks/enroll_throughput.py [--images 800] [--runs 3] [--bound-images 150]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from _common import lfw_paths, median, save, write_manifest
from leadguard.backends import create_model
from leadguard.config import Settings
from leadguard.enroll import enroll
from leadguard.pipeline.decode import decode_image
from leadguard.workspace import Workspace


def per_face_times(n: int) -> list[float]:
    """Detection + descriptor time of each face in the first n LFW images, one process."""
    settings = Settings()
    model = create_model(settings)
    model.load()
    images = []
    for path, _ in lfw_paths(n):
        images.append(decode_image(path.read_bytes(), str(path), settings.max_image_pixels))
    per_face = []
    for img in images:
        t0 = time.perf_counter()
        faces = model.detect(img.pixels)
        if not faces:
            continue
        model.embed(img.pixels, faces[0])
        per_face.append(time.perf_counter() - t0)
    return per_face


def compute_bound(n: int) -> dict[str, float]:
    per_face = per_face_times(n)
    t = float(np.mean(per_face))
    cores = os.cpu_count() or 1
    return {
        "per_face_s": t,
        "per_face_median_s": median(per_face),
        "cores": cores,
        "bound_faces_per_s": cores / t,
        "faces": len(per_face),
    }


def concurrent_bare_rate(n: int) -> float:
    """Faces/s of the bare model with one process per core running at the same time."""
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(cores) as pool:
        runs = list(pool.map(per_face_times, [n] * cores))
    return sum(len(r) / sum(r) for r in runs)


def enroll_run(n: int) -> float:
    rows = lfw_paths(n, offset=0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = root / "m.csv"
        write_manifest(manifest, rows)
        ws = Workspace.init(root / "ws", multiple_faces="central")
        report = enroll(ws, manifest)
        ws.close()
    return report.faces_per_second


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=800)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bound-images", type=int, default=150)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    bound = compute_bound(args.bound_images)
    print(
        f"per-face detect+descriptor: {bound['per_face_s'] * 1000:.1f} ms (mean of "
        f"{bound['faces']}); bound = {bound['bound_faces_per_s']:.2f} faces/s on "
        f"{bound['cores']} cores"
    )
    bare = concurrent_bare_rate(args.bound_images)
    print(
        f"bare model, one process per core at once: {bare:.2f} faces/s "
        f"({bare / bound['bound_faces_per_s']:.1%} of the bound)"
    )
    rates = []
    for i in range(args.runs):
        r = enroll_run(args.images)
        rates.append(r)
        print(f"run {i + 1}: {r:.2f} faces/s")
    med = median(rates)
    ratio = med / bound["bound_faces_per_s"]
    print(
        f"enrollment median {med:.2f} faces/s = {ratio:.1%} of the compute bound, "
        f"{med / bare:.1%} of the bare concurrent model rate"
    )
    out = save(
        "enroll_throughput",
        {
            "images_per_run": args.images,
            "runs_faces_per_s": rates,
            "median_faces_per_s": med,
            **bound,
            "ratio_to_bound": ratio,
            "bare_concurrent_faces_per_s": bare,
            "ratio_to_bare_concurrent": med / bare,
            "spread": float(np.ptp(rates)),
        },
    )
    print(f"saved {out}")


if __name__ == "__main__":
    main()
