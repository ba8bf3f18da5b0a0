"""Likelihood ratios a list would *show*, on pairs of different people, per group.

For every pair of different people whose sex and race are both recorded, the LR a list shows
when one is the probe and the other the candidate (``validated_search_lr``: none unless both
sex/race groups are validated), and the share of those pairs whose shown LR is above 100.
Per probe group: pairs within the group, and all pairs with a probe of the group. A group
whose pairs are too few for 0 of them to bound the share below 0.1 % (95 %, Clopper-Pearson
on pairs; about 3,000 pairs) is marked "too small to measure".

LFW: the held-out half of the people (the evidence model's validation half, seed 0; the
validation that decides which groups may show an LR was made on these same people, so this
is a check of the rule, not an independent test). utkface64 (``--all``): every image, one
identity each; the same person recurs under different file names, so pairs scoring at or
above the score 1 in a million of the model's stranger pairs reach are also counted apart.

    PYTHONPATH=src .venv/bin/python benchmarks/lr_shown.py -w WS [--manifest M] [--all]
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
from leadguard.evidence.fit import identity_half
from leadguard.evidence.groups import subject_groups
from leadguard.evidence.lr_validity import LR_TARGET, STRONG_LOG10, fine_groups
from leadguard.evidence.search_lr import validated_search_lr
from leadguard.face_models import model_space
from leadguard.storage.workspace import Workspace

log = logging.getLogger("lr_shown")


def _row(count: int, pairs: int) -> dict[str, Any]:
    hi = rate_ci(count, pairs)[1] if pairs else None
    return {
        "pairs": pairs,
        "shown_over_100": count,
        "share": count / pairs if pairs else None,
        "upper95": hi,
        "measurable": pairs > 0 and rate_ci(0, pairs)[1] <= LR_TARGET,
        "within_target": hi is not None and count / pairs <= LR_TARGET,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-w", "--workspace", required=True)
    ap.add_argument("--manifest", default="../shared/datasets/lfw/manifest.csv")
    ap.add_argument("--all", action="store_true", help="every image, not LFW's held-out half")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the rows as JSON here")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    ws = Workspace.open(Path(a.workspace))
    space = model_space(ws.settings)
    stored = em.latest(ws, space.key)
    assert stored is not None, "no evidence model for this space"
    model = stored.model
    images = protocols.read_labelled_manifest(Path(a.manifest), ws.settings.source_roots)
    images = [
        im
        for im in images
        if fine_groups(subject_groups(im.demographics.get("sex"), im.demographics.get("race")))
        and (a.all or identity_half(im.identity, a.seed) == 1)
    ]
    acq = compute_templates(ws, space, [im.path for im in images], None)
    kept = [im for im in images if acq[im.path].vector is not None]
    x = np.vstack([acq[im.path].vector for im in kept]).astype(np.float32)
    ids = np.array([im.identity for im in kept])
    groups = [
        subject_groups(im.demographics.get("sex"), im.demographics.get("race")) for im in kept
    ]
    fine = np.array([fine_groups(g)[0] for g in groups])
    full = {f: g for f, g in zip(fine, groups, strict=True)}
    names = sorted(set(fine.tolist()))
    flag = model.nonmated.threshold_for_fmr(1e-6)
    # the LR a list shows for a probe of group p and a candidate of group c: its bounds
    shown: dict[tuple[str, str], tuple[float, float] | None] = {}
    for p in names:
        for c in names:
            lr = validated_search_lr(model, 0.5, full[p], full[c], 100, 100)
            shown[(p, c)] = lr.bounds if lr.llr is not None else None
    s = x @ x.T
    out: dict[str, Any] = {"manifest": a.manifest, "images": len(kept), "groups": []}
    for p in names:
        rows = np.flatnonzero(fine == p)
        entry: dict[str, Any] = {
            "group": p,
            "images": int(rows.size),
            "people": len(set(ids[rows])),
        }
        counts = {"within": [0, 0, 0, 0], "all": [0, 0, 0, 0]}  # pairs, over, pairs-flag, over-flag
        for c in names:
            cols = np.flatnonzero(fine == c)
            sc = s[np.ix_(rows, cols)]
            diff = ids[rows][:, None] != ids[cols][None, :]
            if p == c:
                diff &= np.triu(np.ones_like(diff, dtype=bool), 1)
            v = sc[diff].astype(np.float64)
            b = shown[(p, c)]
            over = (
                np.zeros(v.size, dtype=bool)
                if b is None
                else np.clip(np.interp(v, model.lr.grid, model.lr.llr), *b) > STRONG_LOG10
            )
            keep = v < flag
            for key in ("within", "all") if p == c else ("all",):
                counts[key][0] += v.size
                counts[key][1] += int(over.sum())
                counts[key][2] += int(keep.sum())
                counts[key][3] += int((over & keep).sum())
        entry["lr_shown_within_group"] = shown[(p, p)] is not None
        for key, (n, k, n2, k2) in counts.items():
            entry[key] = _row(k, n)
            entry[f"{key}_without_probable_same_person"] = _row(k2, n2)
        out["groups"].append(entry)
        log.info(
            "%s: %d images; within %s; all %s",
            p,
            rows.size,
            entry["within"],
            entry["all"],
        )
    text = json.dumps(out, indent=1)
    if a.out:
        Path(a.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
