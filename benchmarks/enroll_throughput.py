"""Enrollment throughput against the model's own compute bound, on this machine.

compute bound = cores / (mean per-face time of detection + descriptor alone, one process)
pipeline bound = cores / (mean per-face time of decode + detection + descriptor + quality
                 measures, one process): what a perfect parallel enrollment could reach
throughput    = faces enrolled per second by ``leadguard enroll`` (all stages, all workers,
                worker start-up included), median of several runs into fresh workspaces.
Also measured: the bare model run in one process per core at once (no LeadGuard around
it), which shows how far the cores themselves fall short of perfect scaling.

With several ``--model`` names (registered face models) every model is measured in the same
run, enrollment runs interleaved, and the ratio of their median throughputs is reported.

Usage: python benchmarks/enroll_throughput.py [--images 800] [--runs 3] [--bound-images 150]
       [--model dlib-resnet --model sface]
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

from _common import LFW, lfw_paths, median, save, write_manifest
from leadguard.core.config import Settings
from leadguard.face_models import create_model
from leadguard.gallery.enroll import enroll
from leadguard.pipeline.compose import dlib_68_on_box
from leadguard.pipeline.decode import decode_image
from leadguard.pipeline.measures import measure_face
from leadguard.storage.workspace import Workspace


def stage_times(n: int, model_name: str = "dlib-resnet") -> np.ndarray:
    """(decode, detect with landmarks, descriptor, quality measures) seconds for each face in
    the first n LFW images, one process; images without a face are left out."""
    settings = Settings(face_model=model_name)
    model = create_model(settings)
    model.load()
    for path, _ in lfw_paths(10):  # load the 68-point model (quality measures) before timing
        warm = decode_image(path.read_bytes(), str(path), settings.max_image_pixels).pixels
        if found := model.detect(warm):
            dlib_68_on_box(warm, found[0])
            break
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
        t3 = time.perf_counter()
        measure_face(img.pixels, faces[0], len(faces), dlib_68_on_box, "dlib 68")
        rows.append((t1 - t0, t2 - t1, t3 - t2, time.perf_counter() - t3))
    return np.asarray(rows)


def per_face_times(n: int, model_name: str = "dlib-resnet") -> list[float]:
    """Detection + descriptor time of each face (the model's own compute), one process."""
    return stage_times(n, model_name)[:, 1:3].sum(axis=1).tolist()


def compute_bound(n: int, model_name: str = "dlib-resnet") -> dict[str, float]:
    stages = stage_times(n, model_name)
    per_face = stages[:, 1:3].sum(axis=1)
    t = float(per_face.mean())
    cores = os.cpu_count() or 1
    decode_ms, detect_ms, descriptor_ms, quality_ms = (float(x) for x in stages.mean(axis=0) * 1000)
    whole = float(stages.sum(axis=1).mean())
    return {
        "per_face_s": t,
        "per_face_median_s": float(np.median(per_face)),
        "decode_ms": decode_ms,
        "detect_ms": detect_ms,
        "descriptor_ms": descriptor_ms,
        "quality_measures_ms": quality_ms,
        "cores": cores,
        "bound_faces_per_s": cores / t,
        "pipeline_per_face_s": whole,
        "pipeline_bound_faces_per_s": cores / whole,
        "faces": int(per_face.size),
    }


def concurrent_bare_rate(n: int, model_name: str = "dlib-resnet") -> float:
    """Faces/s of the bare model with one process per core running at the same time."""
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(cores) as pool:
        runs = list(pool.map(per_face_times, [n] * cores, [model_name] * cores))
    return sum(len(r) / sum(r) for r in runs)


def enroll_run(n: int, model_name: str = "dlib-resnet") -> float:
    rows = lfw_paths(n, offset=0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = root / "m.csv"
        write_manifest(manifest, rows)
        ws = Workspace.init(
            root / "ws", multiple_faces="central", face_model=model_name, source_roots=[LFW]
        )
        report = enroll(ws, manifest)
        ws.close()
    if report.enrolled == 0:  # a throughput of nothing is a broken run, not a number
        raise SystemExit(f"nothing was enrolled: {report.failed[:1]}")
    return report.faces_per_second


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=800)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bound-images", type=int, default=150)
    ap.add_argument("--model", action="append", help="registered face model (repeatable)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    names = args.model or ["dlib-resnet"]
    results: dict[str, dict] = {}
    for name in names:
        bound = compute_bound(args.bound_images, name)
        print(
            f"[{name}] mean per face: decode {bound['decode_ms']:.1f} ms, detect+landmarks "
            f"{bound['detect_ms']:.1f} ms, descriptor {bound['descriptor_ms']:.1f} ms, "
            f"quality measures {bound['quality_measures_ms']:.1f} ms"
        )
        print(
            f"[{name}] per-face detect+descriptor: {bound['per_face_s'] * 1000:.1f} ms (mean of "
            f"{bound['faces']}); bound = {bound['bound_faces_per_s']:.2f} faces/s on "
            f"{bound['cores']} cores"
        )
        print(
            f"[{name}] whole pipeline per face (decode, detect, descriptor, quality measures): "
            f"{bound['pipeline_per_face_s'] * 1000:.1f} ms; at {bound['cores']} cores "
            f"{bound['pipeline_bound_faces_per_s']:.2f} faces/s"
        )
        bare = concurrent_bare_rate(args.bound_images, name)
        print(
            f"[{name}] bare model, one process per core at once: {bare:.2f} faces/s "
            f"({bare / bound['bound_faces_per_s']:.1%} of the bound)"
        )
        results[name] = {**bound, "bare_concurrent_faces_per_s": bare, "runs_faces_per_s": []}
    for i in range(args.runs):  # interleaved, so that load on the machine hits every model
        for name in names:
            r = enroll_run(args.images, name)
            results[name]["runs_faces_per_s"].append(r)
            print(f"[{name}] run {i + 1}: {r:.2f} faces/s")
    for name in names:
        res = results[name]
        med = median(res["runs_faces_per_s"])
        res["median_faces_per_s"] = med
        res["ratio_to_bound"] = med / res["bound_faces_per_s"]
        res["ratio_to_pipeline_bound"] = med / res["pipeline_bound_faces_per_s"]
        res["ratio_to_bare_concurrent"] = med / res["bare_concurrent_faces_per_s"]
        res["spread"] = float(np.ptp(res["runs_faces_per_s"]))
        print(
            f"[{name}] enrollment median {med:.2f} faces/s = {res['ratio_to_bound']:.1%} of the "
            f"compute bound, {res['ratio_to_bare_concurrent']:.1%} of the bare concurrent rate, "
            f"{res['ratio_to_pipeline_bound']:.1%} of the whole pipeline's"
        )
    payload: dict = {"images_per_run": args.images, "models": results}
    if len(names) > 1:
        base = results[names[0]]["median_faces_per_s"]
        payload["throughput_ratio_to_first"] = {
            n: results[n]["median_faces_per_s"] / base for n in names
        }
        for n in names[1:]:
            ratio = payload["throughput_ratio_to_first"][n]
            print(f"{n} / {names[0]} median throughput: {ratio:.2f}x")
    if len(names) == 1:
        payload = {"images_per_run": args.images, **results[names[0]]}
    out = save("enroll_throughput" if len(names) == 1 else "enroll_throughput_models", payload)
    print(f"saved {out}")


if __name__ == "__main__":
    main()
