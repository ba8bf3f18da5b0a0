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


def stage_times(n: int) -> np.ndarray:
    """(decode, detect with landmarks, descriptor) seconds for each face in the first n LFW
    images, one process; images without a face are left out."""
    settings = Settings()
    model = create_model(settings)
    model.load()
    rows = []
    for path, _ in lfw_paths(n):
        data = path.read_bytes()
        t0 = time.perf_counter()
        img = decode_image(data, str(path), settings.max_image_pixels)
        t1 = time.perf_counter()
        faces = model.detect(img.pixels)
        t2 = time.perf_counter()
        if not faces:
            continue
        model.embed(img.pixels, faces[0])
        rows.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
    return np.asarray(rows)


def per_face_times(n: int) -> list[float]:
    """Detection + descriptor time of each face (the model's own compute), one process."""
    return stage_times(n)[:, 1:].sum(axis=1).tolist()


def compute_bound(n: int) -> dict[str, float]:
    stages = stage_times(n)
    per_face = stages[:, 1:].sum(axis=1)
    t = float(per_face.mean())
    cores = os.cpu_count() or 1
    decode_ms, detect_ms, descriptor_ms = (float(x) for x in stages.mean(axis=0) * 1000)
    return {
        "per_face_s": t,
        "per_face_median_s": float(np.median(per_face)),
        "decode_ms": decode_ms,
        "detect_ms": detect_ms,
        "descriptor_ms": descriptor_ms,
        "cores": cores,
        "bound_faces_per_s": cores / t,
        "faces": int(per_face.size),
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
        f"mean per face: decode {bound['decode_ms']:.1f} ms, detect+landmarks "
        f"{bound['detect_ms']:.1f} ms, descriptor (chip and mirror) {bound['descriptor_ms']:.1f} ms"
    )
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
