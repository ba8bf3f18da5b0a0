"""Shared helpers for benchmark scripts (not part of the test run)."""

from __future__ import annotations

import argparse
import csv
import json
import logging
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from leadguard.core.config import SETTINGS_FILE, Settings
from leadguard.storage.workspace import Workspace

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lfw"
RESULTS = Path(__file__).resolve().parent / "results"


def lfw_paths(n: int, offset: int = 0) -> list[tuple[Path, str]]:
    """The first n images of the LFW manifest after offset (deterministic)."""
    with (LFW / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))[offset : offset + n]
    return [(LFW / r["path"], r["identity"]) for r in rows]


def write_manifest(path: Path, rows: list[tuple[Path, str]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "subject_id"])
        w.writerows([str(p), s] for p, s in rows)


def machine() -> dict[str, str]:
    import os

    model = ""
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            named = (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
            model = next(named, "")
    return {
        "cpu_count": str(os.cpu_count()),
        "cpu_model": model,
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
    }


def save(name: str, payload: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    payload = {"measured_at": datetime.now(UTC).isoformat(), "machine": machine(), **payload}
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(payload, indent=2))
    return out


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def timed(fn: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return median(times)


def new_workspace(root: Path, backend: str) -> Workspace:
    """A fresh workspace whose settings file names the index backend (a keyword given to
    ``Workspace.init`` lasts only for that object; a server opens the workspace again)."""
    ws = Workspace.init(root, index_backend=backend)
    if backend != Settings().index_backend:
        with open(root / SETTINGS_FILE, "a") as fh:
            fh.write(f'index_backend = "{backend}"\n')
    return ws


def sweep(
    name: str,
    sizes: list[int],
    repeats: int,
    measure: Callable[[int, int, str], dict],
    line: Callable[[int, dict], str],
) -> None:
    """The benchmarks' main loop: parse --sizes/--repeats (defaults given) and --backend (the
    workspace's index_backend, the default one unless given), measure each gallery size,
    print one line each, save the results as ``name`` (``name_backend`` for a backend other
    than the default)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=sizes)
    ap.add_argument("--repeats", type=int, default=repeats)
    default = Settings().index_backend
    ap.add_argument("--backend", default=default, choices=["compressed", "faiss-flat"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    for n in args.sizes:
        r = measure(n, args.repeats, args.backend)
        rows.append(r)
        print(line(n, r))
    suffix = "" if args.backend == default else f"_{args.backend}"
    out = save(
        name + suffix, {"repeats": args.repeats, "index_backend": args.backend, "results": rows}
    )
    print(f"saved {out}")
