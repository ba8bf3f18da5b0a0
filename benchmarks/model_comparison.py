"""Open-set limits of each face model, from its evidence model, side by side.

For each model: the open-set threshold at FPIR 1 % by gallery size (read from the evidence
model the workspace holds for the model's space; the default dlib space uses the shipped
one), the largest gallery for which FPIR 1 % can still be verified (some measured non-mated
comparison reaches the threshold), and the miss rate at each of these thresholds: the share
of mated pairs of a fixed LFW sample (the same images for every model) scoring below it.
That is the FNMR of one comparison, a lower bound of the open-set FNIR at that threshold (a
search also misses when the mate is not the top candidate).

Usage: python benchmarks/model_comparison.py --workspace dlib-resnet=WS1 --workspace sface=WS2
       [--identities 150] [--per-identity 4]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import logging
from pathlib import Path

import numpy as np
from scipy.stats import beta

from _common import LFW, save
from leadguard.evaluation.templates import compute_templates
from leadguard.evidence import model as evidence_model
from leadguard.face_models import create_model
from leadguard.storage.workspace import Workspace

SIZES = (50, 1_000, 10_000, 100_000, 1_000_000)
TARGET = 0.01


def sample(identities: int, per_identity: int) -> list[tuple[Path, str]]:
    """The first identities (manifest order) with at least two images, up to per_identity
    images each."""
    by_id: dict[str, list[Path]] = {}
    with (LFW / "manifest.csv").open() as fh:
        for r in csv.DictReader(fh):
            by_id.setdefault(r["identity"], []).append(LFW / r["path"])
    chosen = [(k, v) for k, v in by_id.items() if len(v) >= 2][:identities]
    return [(p, k) for k, paths in chosen for p in paths[:per_identity]]


def largest_verifiable(model: evidence_model.EvidenceModel) -> int:
    """The largest gallery size (on a 1 % grid) whose FPIR-1 % threshold is measurable."""
    n, last = 2, 1
    while n < 10**9:
        if not model.gallery_threshold(TARGET, n).measurable:
            break
        last, n = n, int(n * 1.01) + 1
    return last


def clopper_pearson(k: int, n: int) -> tuple[float, float]:
    lo = 0.0 if k == 0 else float(beta.ppf(0.025, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(0.975, k + 1, n - k))
    return lo, hi


def measure(name: str, root: Path, rows: list[tuple[Path, str]]) -> dict:
    ws = Workspace.open(root, face_model=name)
    space = create_model(ws.settings).space
    stored = evidence_model.latest(ws, space.key)
    if stored is None:
        raise SystemExit(f"{root}: no evidence model for {name} (space {space.key})")
    em = stored.model
    by_size = {}
    for n in SIZES:
        t = em.gallery_threshold(TARGET, n)
        by_size[n] = {"threshold": t.threshold, "method": t.method, "verifiable": t.measurable}
    limit = largest_verifiable(em)
    t_limit = em.gallery_threshold(TARGET, limit).threshold
    acquired = compute_templates(ws, space, [p for p, _ in rows])
    vecs = {p: a.vector for p, a in acquired.items() if a.vector is not None}
    scores = []
    for who, group in itertools.groupby(rows, key=lambda r: r[1]):
        paths = [p for p, _ in group if p in vecs]
        for a, b in itertools.combinations(paths, 2):
            scores.append(float(vecs[a] @ vecs[b]))
        del who
    s = np.asarray(scores)
    for t in by_size.values():
        k = int((s < t["threshold"]).sum())
        t["fnmr"] = k / s.size
        t["fnmr_ci95"] = clopper_pearson(k, int(s.size))
    misses = int((s < t_limit).sum())
    return {
        "space": space.key,
        "evidence_model": stored.describe(),
        "thresholds_fpir_0.01": by_size,
        "largest_verifiable_gallery": limit,
        "threshold_there": t_limit,
        "mated_pairs": int(s.size),
        "failures_to_acquire": len(rows) - len(vecs),
        "fnmr_there": misses / s.size,
        "fnmr_there_ci95": clopper_pearson(misses, int(s.size)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", action="append", required=True, help="MODEL=WORKSPACE")
    ap.add_argument("--identities", type=int, default=150)
    ap.add_argument("--per-identity", type=int, default=4)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = sample(args.identities, args.per_identity)
    results = {}
    for item in args.workspace:
        name, _, root = item.partition("=")
        res = measure(name, Path(root), rows)
        results[name] = res
        print(f"[{name}] space {res['space']}")
        for n, t in res["thresholds_fpir_0.01"].items():
            ok = "" if t["verifiable"] else " (cannot be verified)"
            print(
                f"[{name}]   gallery {n:>9,}: threshold {t['threshold']:.4f} {t['method']}{ok}; "
                f"mated pairs below it {t['fnmr']:.2%} [{t['fnmr_ci95'][0]:.2%}, "
                f"{t['fnmr_ci95'][1]:.2%}]"
            )
        lo, hi = res["fnmr_there_ci95"]
        print(
            f"[{name}] largest gallery where FPIR 1 % can be verified: "
            f"{res['largest_verifiable_gallery']:,} (threshold {res['threshold_there']:.4f}); "
            f"mated pairs below it: {res['fnmr_there']:.2%} [{lo:.2%}, {hi:.2%}] of "
            f"{res['mated_pairs']}"
        )
    out = save("model_comparison", {"images": len(rows), "models": results})
    print(f"saved {out}")


if __name__ == "__main__":
    main()
