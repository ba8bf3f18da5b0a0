"""Choose the per-search tail's size on the people the evidence model was fitted on.

The BLUFR splits restricted to the *calibration* half of LFW's people (seeded identity
split; `eval evidence --searches --blufr` reports on the other half): for each tail share,
the share of non-enrolled searches whose top stranger gets p below 0.01 / 0.05, and the
share of enrolled searches whose mate's p is not below them (FNIR of the fit alone).

    .venv/bin/python benchmarks/tail_tuning.py -w WS [--per-split 300]
"""

from __future__ import annotations

import argparse
import json
import logging

import numpy as np

from leadguard.evaluation import protocols
from leadguard.evaluation.templates import compute_templates
from leadguard.evidence import tail
from leadguard.evidence.fit import identity_half
from leadguard.face_models import model_space
from leadguard.storage.workspace import Workspace

log = logging.getLogger("tail_tuning")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-w", "--workspace", required=True)
    ap.add_argument("--lfw", default="../shared/datasets/lfw")
    ap.add_argument("--per-split", type=int, default=300)
    ap.add_argument("--shares", default="0.02,0.05,0.1")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    from pathlib import Path

    ws = Workspace.open(Path(a.workspace))
    lfw = Path(a.lfw)
    splits = protocols.blufr_splits(lfw)
    paths = [p for sp in splits for p, _ in (*sp.gallery, *sp.probes)]
    acq = compute_templates(ws, model_space(ws.settings), paths, None)
    rng = np.random.default_rng(a.seed)
    rows = []
    cases = []  # (scores row, mate index or -1)
    for sp in splits:
        gal = [
            (p, i)
            for p, i in sp.gallery
            if identity_half(i, a.seed) == 0 and acq[p].vector is not None
        ]
        row_of = {i: r for r, (_, i) in enumerate(gal)}
        probes = [
            (p, i)
            for p, i in sp.probes
            if identity_half(i, a.seed) == 0 and acq[p].vector is not None
        ]
        pick = rng.choice(len(probes), size=min(a.per_split, len(probes)), replace=False)
        g = np.vstack([acq[p].vector for p, _ in gal]).astype(np.float32)
        for j in pick:
            p, i = probes[j]
            cases.append((g @ acq[p].vector.astype(np.float32), row_of.get(i, -1)))
    tail.PRECISE_EXCEEDANCES = 0  # the share alone sets the tail's size here
    for share in [float(x) for x in a.shares.split(",")]:
        tail.TAIL_SHARE = share
        for min_exc in (15, 25):
            tail.MIN_EXCEEDANCES = min_exc
            p_non, p_mate = [], []
            for scores, mate in cases:
                n = scores.size
                top = np.sort(scores)[::-1][: tail.scores_needed(n)]
                fit = tail.fit_tail(top, n)
                if not isinstance(fit, tail.TailFit):
                    continue
                s = float(scores[mate]) if mate >= 0 else float(top[0])
                rank = int((scores > s).sum()) + 1
                (p_mate if mate >= 0 else p_non).append(fit.search_p(s) if rank <= 20 else 1.0)
            pn, pm = np.array(p_non), np.array(p_mate)
            row = {
                "tail_share": share,
                "min_exceedances": min_exc,
                "non_enrolled": pn.size,
                "enrolled": pm.size,
            }
            for t in (0.01, 0.05):
                row[f"fpir@{t}"] = float((pn < t).mean())
                row[f"fnir@{t}"] = float((pm >= t).mean())
            rows.append(row)
            log.info("%s", row)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
