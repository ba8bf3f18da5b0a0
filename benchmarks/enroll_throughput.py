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

Stage by stage, old against new (``--compare``; docs/performance.md): the per-face CPU time
of each stage (the worker's hash, decode, detect, quality measures, descriptor), one
process, and enrollment runs, for up to three versions in the same run, their blocks
interleaved so that the shared machine's load falls on all of them:
  before    the code under ``--baseline-src`` (a ``src`` folder of an older version, e.g.
            ``git archive main src | tar -x -C /tmp/base``), run in child processes
  chunk 1   this version with workers taking one image at a time
  chunk K   this version as it runs (``--chunk``, default ``pipeline.worker.CHUNK``): each
            worker takes K images and runs them stage by stage, one chip per inference run
            (``sface_batch = 1``, the default)
  chunk K, batch B   the same with B chips per inference run (``sface_batch = B``)
Stage times are CPU time (``time.process_time``), which another job on the machine disturbs
less than wall time; enrollment rates are wall time, as a user sees them.

Usage: python benchmarks/enroll_throughput.py [--images 800] [--runs 3] [--bound-images 150]
       [--model dlib-resnet --model sface]
       python benchmarks/enroll_throughput.py --compare --model sface [--baseline-src DIR]
       [--images 400] [--runs 3] [--bound-images 150] [--stage-runs 3] [--chunk 8] [--batch 8]
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import subprocess
import sys
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


STAGES = ("hash", "decode", "detect", "measures", "descriptor")


def _pipeline_stage_rows(n: int, model_name: str, chunk: int) -> np.ndarray:
    """CPU seconds of each stage for each face of the first n LFW images, one process, in
    the worker's order: per image the worker's hash (none where the sender's digest is
    passed on), decode, detect, quality measures, descriptor; with chunk > 1 (and a version
    that has ``embed_many``) the descriptors of each chunk's faces run together and each
    face is charged an equal share."""
    from leadguard.pipeline import decode as dec
    from leadguard.pipeline.decode import sha256_bytes

    settings = Settings(face_model=model_name)  # sface_batch from LEADGUARD_SFACE_BATCH
    model = create_model(settings)
    model.load()
    takes_digest = "sha256" in inspect.signature(dec.decode_image).parameters
    many = getattr(model, "embed_many", None) if chunk > 1 else None
    for path, _ in lfw_paths(10):  # warm: the 68-point model, the first inference runs
        warm = decode_image(path.read_bytes(), str(path), settings.max_image_pixels).pixels
        if found := model.detect(warm):
            model.embed(warm, found[0])
            dlib_68_on_box(warm, found[0])
            break
    datas = [p.read_bytes() for p, _ in lfw_paths(n)]
    clock = time.process_time
    rows: list[list[float]] = []
    for start in range(0, len(datas), max(chunk, 1)):
        group: list[tuple[np.ndarray, object, list[float]]] = []
        for data in datas[start : start + max(chunk, 1)]:
            digest = sha256_bytes(data)  # the main process's (not a worker stage)
            t0 = clock()
            if not takes_digest:
                sha256_bytes(data)  # the old worker hashed again, then decode_image did
            t1 = clock()
            if takes_digest:
                img = dec.decode_image(data, "x", settings.max_image_pixels, sha256=digest)
            else:
                img = dec.decode_image(data, "x", settings.max_image_pixels)
            t2 = clock()
            faces = model.detect(img.pixels)
            t3 = clock()
            if not faces:
                continue
            if many is None:  # one image at a time: the descriptor before the measures
                model.embed(img.pixels, faces[0])
                t4 = clock()
                measure_face(img.pixels, faces[0], len(faces), dlib_68_on_box, "dlib 68")
                rows.append([t1 - t0, t2 - t1, t3 - t2, clock() - t4, t4 - t3])
            else:
                measure_face(img.pixels, faces[0], len(faces), dlib_68_on_box, "dlib 68")
                t4 = clock()
                row = [t1 - t0, t2 - t1, t3 - t2, t4 - t3, 0.0]
                group.append((img.pixels, faces[0], row))
        if group:
            t0 = clock()
            many([(px, det) for px, det, _ in group])
            share = (clock() - t0) / len(group)
            for _, _, row in group:
                row[4] = share
                rows.append(row)
    return np.asarray(rows)


def _child(args: argparse.Namespace) -> None:
    """One measurement in this process, printed as one JSON line (the comparison's child)."""
    if args.child == "stages":
        rows = _pipeline_stage_rows(args.bound_images, args.model[0], args.chunk)
        print(json.dumps({"stages_ms": (rows.mean(axis=0) * 1000).tolist(), "faces": len(rows)}))
    else:
        _set_chunk(args.chunk)
        print(json.dumps({"faces_per_s": enroll_run(args.images, args.model[0])}))


def _set_chunk(chunk: int) -> None:
    try:
        from leadguard.pipeline import worker
    except ImportError:  # pragma: no cover
        return
    if hasattr(worker, "CHUNK"):
        worker.CHUNK = chunk


def _measure(version: str, kind: str, args: argparse.Namespace, chunk: int, batch: int = 1) -> dict:
    """A child process of this script on the version's code: 'before' on --baseline-src,
    the others on this checkout's src; ``batch``: SFace chips per inference run."""
    src = args.baseline_src if version == "before" else Path(__file__).resolve().parents[1] / "src"
    env = {
        **os.environ,
        "PYTHONPATH": f"{src}{os.pathsep}{Path(__file__).resolve().parent}",
    }
    if version != "before":  # (an older version may not know the setting)
        env["LEADGUARD_SFACE_BATCH"] = str(batch)
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--model",
        args.model[0],
        "--chunk",
        str(chunk),
        "--images",
        str(args.images),
        "--bound-images",
        str(args.bound_images),
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{version} {kind} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(args: argparse.Namespace) -> None:
    from leadguard.pipeline.worker import CHUNK

    chunk = args.chunk or CHUNK
    versions = {"chunk 1": (1, 1), f"chunk {chunk}": (chunk, 1)}
    if args.batch > 1:
        versions[f"chunk {chunk}, batch {args.batch}"] = (chunk, args.batch)
    if args.baseline_src:
        versions = {"before": (1, 1), **versions}
    stages: dict[str, list[list[float]]] = {v: [] for v in versions}
    rates: dict[str, list[float]] = {v: [] for v in versions}
    for i in range(args.stage_runs):  # interleaved blocks: the same load on every version
        for v, k in versions.items():
            res = _measure(v, "stages", args, *k)
            stages[v].append(res["stages_ms"])
            print(
                f"[{v}] stages run {i + 1}: "
                + ", ".join(f"{s} {x:.2f}" for s, x in zip(STAGES, res["stages_ms"], strict=True))
                + f" ms ({res['faces']} faces)"
            )
    for i in range(args.runs):
        for v, k in versions.items():
            r = _measure(v, "enroll", args, *k)["faces_per_s"]
            rates[v].append(r)
            print(f"[{v}] enrollment run {i + 1}: {r:.2f} faces/s")
    cores = os.cpu_count() or 1
    report: dict = {
        "model": args.model[0],
        "images_per_run": args.images,
        "bound_images": args.bound_images,
        "cores": cores,
        "versions": {},
    }
    for v in versions:
        med = np.median(np.asarray(stages[v]), axis=0)  # per stage, median of the runs
        total = float(med.sum())
        core = float(med[2] + med[4])
        report["versions"][v] = {
            "stages_ms_median": dict(zip(STAGES, med.tolist(), strict=True)),
            "stages_ms_runs": stages[v],
            "per_face_ms": total,
            "pipeline_bound_faces_per_s": cores * 1000 / total,
            "detect_descriptor_bound_faces_per_s": cores * 1000 / core,
            "enroll_runs_faces_per_s": rates[v],
            "enroll_median_faces_per_s": median(rates[v]),
        }
        rep = report["versions"][v]
        print(
            f"[{v}] median stages: "
            + ", ".join(f"{s} {x:.2f}" for s, x in rep["stages_ms_median"].items())
            + f" ms; per face {total:.1f} ms -> pipeline bound "
            + f"{rep['pipeline_bound_faces_per_s']:.1f}"
            f" faces/s; enrollment median {rep['enroll_median_faces_per_s']:.2f} faces/s"
        )
    first = next(iter(versions))
    for v in versions:
        rep = report["versions"][v]
        base = report["versions"][first]
        rep["enroll_ratio_to_first"] = (
            rep["enroll_median_faces_per_s"] / base["enroll_median_faces_per_s"]
        )
        rep["per_face_ratio_to_first"] = rep["per_face_ms"] / base["per_face_ms"]
        rep["enroll_ratio_runs_to_first"] = [
            a / b for a, b in zip(rates[v], rates[first], strict=True)
        ]
        print(
            f"[{v}] / [{first}]: enrollment {rep['enroll_ratio_to_first']:.3f}x (run by run "
            + ", ".join(f"{x:.3f}" for x in rep["enroll_ratio_runs_to_first"])
            + f"), per-face CPU {rep['per_face_ratio_to_first']:.3f}x"
        )
    out = save("enroll_throughput_compare", report)
    print(f"saved {out}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=800)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bound-images", type=int, default=150)
    ap.add_argument("--model", action="append", help="registered face model (repeatable)")
    ap.add_argument("--compare", action="store_true", help="stage by stage, old against new")
    ap.add_argument("--baseline-src", type=Path, help="src folder of the version to compare")
    ap.add_argument("--chunk", type=int, default=0, help="images a worker takes at once")
    ap.add_argument("--stage-runs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8, help="also chunks with this many chips a run")
    ap.add_argument("--child", choices=["stages", "enroll"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.child:
        _child(args)
        return
    if args.compare:
        args.model = args.model or ["sface"]
        compare(args)
        return
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
