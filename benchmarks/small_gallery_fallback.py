"""Small galleries: what the short-tail refusal (``tail.runs_off_scale``) does to strangers
and mates.

In a gallery of about 100 subjects the per-search tail is 25 scores; a heavy one gets a
large fitted shape and its threshold for the target can run to the end of the score scale
(1.0000), where nobody, a mate included, is listed. The search then refuses the fit and lists
at the gallery-size threshold instead. This script draws seeded galleries of ``--subjects``
people and compares the old rule (keep the fit's threshold) with the new one (the floor):

- LFW: one photo of each of ``--subjects`` people with two or more photos is the gallery;
  their second photos are mated searches; one photo of each person with a single photo is
  a search of a person not enrolled;
- utkface64 (no identity labels): ``--subjects`` photos are the gallery, every other photo a
  search of a person not enrolled (repeats of one person make some of these true matches).

Per target FPIR and rule: the share of non-enrolled searches listing anyone, FNIR of the
mated ones, and how many searches the refusal touched, pooled over ``--rounds`` galleries
(Clopper-Pearson intervals on searches, which share galleries: somewhat narrow).

    PYTHONPATH=src .venv/bin/python benchmarks/small_gallery_fallback.py -w WS \\
        [--subjects 105] [--rounds 20] [--out FILE]

WS: a workspace with the evidence model of its face model and the templates of both sets
cached (``leadguard eval evidence`` on LFW, then ``--searches`` on utkface64, as in
docs/evidence.md).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from leadguard.evaluation import protocols
from leadguard.evaluation.metrics import rate_ci
from leadguard.evaluation.templates import compute_templates
from leadguard.evidence import model as em
from leadguard.evidence import tail
from leadguard.face_models import model_space
from leadguard.storage.workspace import Workspace

log = logging.getLogger("small_gallery_fallback")
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
TARGETS = (0.01, 0.05)


def _vectors(ws: Workspace, manifest: Path) -> tuple[list[protocols.LabelledImage], np.ndarray]:
    images = protocols.read_labelled_manifest(manifest, ws.settings.source_roots)
    acq = compute_templates(ws, model_space(ws.settings), [im.path for im in images], None)
    kept = [im for im in images if acq[im.path].vector is not None]
    return kept, np.vstack([acq[im.path].vector for im in kept]).astype(np.float32)


def _listing(scores: np.ndarray, n: int, target: float, floor: float) -> tuple[float, float, bool]:
    """(old rule's listing score, new rule's, whether the refusal touched this search)."""
    need = tail.scores_needed(n)
    top = -np.partition(-scores, need - 1)[:need] if need < scores.size else scores
    fit = tail.fit_tail(top, n)
    if not isinstance(fit, tail.TailFit):
        return floor, floor, False
    own = fit.score_for(target)
    refused = tail.runs_off_scale(fit, own)
    return max(floor, own), floor if refused else max(floor, own), refused


def _tally(rows: list[tuple[float, float, float, bool, bool]]) -> dict[str, Any]:
    """rows: (score that must be listed or not, old listing, new listing, touched, mated)."""
    out: dict[str, Any] = {}
    for mated in (False, True):
        part = [r for r in rows if r[4] == mated]
        if not part:
            continue
        key = "fnir" if mated else "fpir"
        out[key] = {}
        for rule, i in (("old", 1), ("new", 2)):
            hits = sum((r[0] < r[i]) if mated else (r[0] >= r[i]) for r in part)
            lo, hi = rate_ci(hits, len(part))
            out[key][rule] = {"rate": hits / len(part), "ci": [lo, hi], "searches": len(part)}
        out[key]["touched"] = sum(r[3] for r in part)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-w", "--workspace", type=Path, required=True)
    ap.add_argument("--subjects", type=int, default=105)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ws = Workspace.open(args.workspace)
    stored = em.latest(ws, model_space(ws.settings).key)
    assert stored is not None, "no evidence model: run leadguard eval evidence first"
    worst = ws.settings.worst_group_threshold
    n = args.subjects
    floors = {t: stored.model.gallery_threshold(t, n, worst).threshold for t in TARGETS}
    lfw, lx = _vectors(ws, DATA / "lfw" / "manifest.csv")
    utk, ux = _vectors(ws, DATA / "utkface64" / "manifest.csv")
    by_id: dict[str, list[int]] = {}
    for i, im in enumerate(lfw):
        by_id.setdefault(im.identity, []).append(i)
    repeat = sorted(k for k, v in by_id.items() if len(v) >= 2)
    single = [v[0] for v in by_id.values() if len(v) == 1]
    rows: dict[str, dict[float, list[tuple[float, float, float, bool, bool]]]] = {
        "lfw": {t: [] for t in TARGETS},
        "utkface64": {t: [] for t in TARGETS},
    }
    rng = np.random.default_rng(0)
    for _ in range(args.rounds):
        people = rng.choice(len(repeat), n, replace=False)
        gal = lx[[by_id[repeat[p]][0] for p in people]]
        probes = [(lx[by_id[repeat[p]][1]], j) for j, p in enumerate(people)]
        probes += [(lx[i], -1) for i in rng.choice(single, 500, replace=False)]
        pick = rng.choice(len(utk), n, replace=False)
        chosen = set(pick.tolist())
        upro = [(ux[i], -1) for i in range(len(utk)) if i not in chosen]
        for name, g, ps in (("lfw", gal, probes), ("utkface64", ux[pick], upro)):
            scores = np.vstack([p for p, _ in ps]) @ g.T
            for row, (_, mate) in zip(scores, ps, strict=True):
                must = float(row[mate]) if mate >= 0 else float(row.max())
                for t in TARGETS:
                    old, new, touched = _listing(row, n, t, floors[t])
                    rows[name][t].append((must, old, new, touched, mate >= 0))
    result = {
        "subjects": n,
        "rounds": args.rounds,
        "floors": floors,
        "sets": {name: {str(t): _tally(r) for t, r in per.items()} for name, per in rows.items()},
    }
    text = json.dumps(result, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    log.info("%s", text)
    ws.close()


if __name__ == "__main__":
    main()
