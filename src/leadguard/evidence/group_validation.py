"""Per-group validation on held-out people: stated vs observed FMR at the operating
thresholds, misleading likelihood ratios, and what the worst-group threshold costs.

Every figure comes from people the model never saw (``fit.check_disjoint``). Observed rates
are counts of held-out within-group non-mated pairs (Clopper-Pearson on pairs: the same
people appear in many pairs, so these intervals are narrower than they should be).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leadguard.evaluation.metrics import rate_ci
from leadguard.evidence.fit import MAX_IMAGES_PER_IDENTITY, Labelled, capped_rows
from leadguard.evidence.groups import MIN_GROUP_COMPARISONS
from leadguard.evidence.model import EvidenceModel
from leadguard.evidence.search_lr import search_lr

MIN_HELD_OUT_PAIRS = 300  # fewer held-out within-group non-mated pairs: no row


def _within(data: Labelled, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(non-mated scores, mated scores) of every pair of these rows, each pair once."""
    x, ids = data.vectors[rows], data.identities[rows]
    s = x @ x.T
    iu = np.triu_indices(len(rows), 1)
    same = ids[iu[0]] == ids[iu[1]]
    sc = s[iu]
    return sc[~same].astype(np.float64), sc[same].astype(np.float64)


def _llr_as_stated(model: EvidenceModel, group: str, scores: np.ndarray) -> np.ndarray | None:
    """The log10 LR a list would state for a candidate of this group (None: withheld)."""
    probe = search_lr(model, 0.5, (group,), 2, 2)
    if probe.bounds is None:
        return None
    return np.clip(np.interp(scores, model.lr.grid, model.lr.llr), *probe.bounds)


def group_validation(
    model: EvidenceModel, held_out: Labelled, sizes: list[int], seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    capped = held_out.subset(capped_rows(held_out, MAX_IMAGES_PER_IDENTITY, rng))
    thresholds = []
    for n in sizes:
        base = model.gallery_threshold(0.01, n)
        strict = model.gallery_threshold(0.01, n, worst_group=True)
        thresholds.append((n, base.threshold, strict.threshold, strict.binding_group))
    _, mated_all = _within(capped, np.arange(len(capped.vectors)))
    cost = [
        {
            "gallery": n,
            "threshold": round(t0, 4),
            "worst_group_threshold": round(t1, 4),
            "binding_group": g,
            "fnir_at_threshold": float(np.mean(mated_all < t0)) if mated_all.size else None,
            "fnir_at_worst_group_threshold": float(np.mean(mated_all < t1))
            if mated_all.size
            else None,
            "mated_pairs": int(mated_all.size),
        }
        for n, t0, t1, g in thresholds
    ]
    rows: list[dict[str, Any]] = []
    names = sorted({g for gs in capped.groups for g in gs})
    for g in names:
        members = np.array([i for i, gs in enumerate(capped.groups) if g in gs], dtype=np.int64)
        nonmated, mated = _within(capped, members)
        if nonmated.size < MIN_HELD_OUT_PAIRS:
            continue
        hist = model.groups.get(g)
        adequate = hist is not None and hist.comparisons >= MIN_GROUP_COMPARISONS
        row: dict[str, Any] = {
            "group": g,
            "held_out_nonmated_pairs": int(nonmated.size),
            "held_out_mated_pairs": int(mated.size),
            "calibration_nonmated_pairs": hist.comparisons if hist else 0,
            "at_thresholds": [],
        }
        for n, t0, t1, _ in thresholds:
            for kind, t in (("average", t0), ("worst_group", t1)):
                st = model.group_standing(g, t)
                obs = int(np.sum(nonmated >= t))
                row["at_thresholds"].append(
                    {
                        "gallery": n,
                        "threshold_kind": kind,
                        "threshold": round(t, 4),
                        "stated_fmr": st.fmr.fmr if st.fmr else None,
                        "stated_upper": st.upper if adequate else None,
                        "observed_fmr": obs / nonmated.size,
                        "observed_ci95": list(rate_ci(obs, nonmated.size)),
                        "observed_within_stated_upper": (obs / nonmated.size) <= st.upper,
                    }
                )
        pooled = np.clip(np.interp(nonmated, model.lr.grid, model.lr.llr), *model.lr.bounds)
        pooled_m = np.clip(np.interp(mated, model.lr.grid, model.lr.llr), *model.lr.bounds)
        row["pooled_lr"] = {
            "nonmated_lr_over_1": float(np.mean(pooled > 0)),
            "nonmated_lr_over_100": float(np.mean(pooled > 2)),
            "mated_lr_under_1": float(np.mean(pooled_m < 0)) if mated.size else None,
        }
        stated = _llr_as_stated(model, g, nonmated)
        stated_m = _llr_as_stated(model, g, mated) if mated.size else None
        row["stated_lr"] = (
            None
            if stated is None
            else {
                "nonmated_lr_over_1": float(np.mean(stated > 0)),
                "nonmated_lr_over_100": float(np.mean(stated > 2)),
                "mated_lr_under_1": float(np.mean(stated_m < 0)) if stated_m is not None else None,
            }
        )
        rows.append(row)
    return {"groups": rows, "worst_group_threshold_cost": cost}
