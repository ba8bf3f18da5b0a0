"""Score-level fusion of SFace and dlib on a seeded subset of LFW View 2 (issue 24, item 5).

Indicative only: the issue's rule (fusion is offered only if it beats SFace alone on BLUFR
FNIR at FPIR 1 % and on worst-group FMR at the same overall FMR) needs BLUFR and per-group
tails, which need dlib templates of all of LFW and utkface64 (hours on this machine). This
measures verification on --folds folds of View 2 chosen with --seed: each model's score is
normalised on its own non-mated scores (z-score, parameters from the other folds when
there are several, from the same fold when there is one), the two are summed, and SFace,
dlib and the fusion are compared at the same operating points.

Usage: python benchmarks/fusion_subset.py [--folds 1] [--seed 24]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import numpy as np

from _common import LFW, save
from leadguard.evaluation.protocols import lfw_pairs
from leadguard.evaluation.templates import compute_templates
from leadguard.face_models import model_space
from leadguard.storage.workspace import Workspace


def scores(model: str, pairs: list, root: Path) -> np.ndarray:
    ws = Workspace.init(root / model, face_model=model, source_roots=[LFW])
    space = model_space(ws.settings)
    acq = compute_templates(ws, space, [p for pair in pairs for p in (pair.probe, pair.reference)])
    ws.close()
    out = []
    for pair in pairs:
        a, b = acq[pair.probe].vector, acq[pair.reference].vector
        out.append(float(np.dot(a, b)) if a is not None and b is not None else -np.inf)
    return np.asarray(out)


def operating_points(s: np.ndarray, mated: np.ndarray) -> dict[str, float]:
    mates, strangers = s[mated], s[~mated]
    out: dict[str, float] = {}
    for fmr in (0.01, 0.0):  # threshold = the highest stranger score kept below the rate
        k = int(np.floor(fmr * strangers.size))
        thr = np.sort(strangers)[::-1][k] if k < strangers.size else -np.inf
        out[f"fnmr_at_fmr_{fmr:g}"] = float(np.mean(mates <= thr))
    ts = np.unique(s[np.isfinite(s)])
    acc = max(float(np.mean((s > t) == mated)) for t in ts)
    out["best_threshold_accuracy"] = acc  # optimistic (threshold chosen on the same pairs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=1)
    ap.add_argument("--seed", type=int, default=24)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    folds = sorted(np.random.default_rng(args.seed).choice(10, args.folds, replace=False).tolist())
    pairs = [p for p in lfw_pairs(LFW) if p.fold in folds]
    mated = np.asarray([p.mated for p in pairs])
    fold_of = np.asarray([p.fold for p in pairs])
    with tempfile.TemporaryDirectory() as tmp:
        raw = {m: scores(m, pairs, Path(tmp)) for m in ("sface", "dlib-resnet")}
    z = {}
    for m, s in raw.items():
        zs = np.empty_like(s)
        for f in folds:
            ref = (fold_of != f) if len(folds) > 1 else (fold_of == f)
            nm = s[ref & ~mated & np.isfinite(s)]
            zs[fold_of == f] = (s[fold_of == f] - nm.mean()) / nm.std()
        z[m] = zs
    fused = z["sface"] + z["dlib-resnet"]
    result = {
        "folds": folds,
        "pairs": len(pairs),
        "mated": int(mated.sum()),
        "failures_to_acquire": {m: int(np.sum(~np.isfinite(s))) for m, s in raw.items()},
        "sface": operating_points(raw["sface"], mated),
        "dlib-resnet": operating_points(raw["dlib-resnet"], mated),
        "fusion (z-sum)": operating_points(np.where(np.isfinite(fused), fused, -np.inf), mated),
    }
    for k, v in result.items():
        print(k, v)
    print(f"saved {save('fusion_subset', result)}")


if __name__ == "__main__":
    main()
