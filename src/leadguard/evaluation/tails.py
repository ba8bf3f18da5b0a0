"""Per-group non-mated score tails of two face models on one labelled set of strangers.

For a set such as ``utkface64`` (every photo its own identity, labelled by sex and race) each
model's threshold is set where its FMR over *all* non-mated pairs of the set equals a target
(1e-3, 1e-4); at that threshold every sex x race group's within-group FMR is measured with a
Clopper-Pearson interval. The same real person recurs in such sets and dominates the extreme
tail, so a pair that the *other* model also puts at or above its own threshold for the same
target ("probable same person") is flagged, and every rate is reported both with and without
the flagged pairs. The pure part (``group_tails``) works on template arrays; ``evaluate_tails``
computes the templates (cached per space in the workspace) and stores an accuracy record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from leadguard.core.errors import InputError
from leadguard.evaluation import metrics as m
from leadguard.evaluation import protocols, report
from leadguard.evaluation.run import EvalResult, provenance, save_record
from leadguard.evaluation.templates import compute_templates, dataset_checksum
from leadguard.face_models import model_space
from leadguard.storage.workspace import Workspace

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
TARGETS = (1e-3, 1e-4)
# Below this FMR a set whose people recur (utkface64: SOURCE.txt) gives upper bounds only.
SUPPORTED_FMR = 1e-3
MIN_GROUP = 50  # images a group needs for a row


def _upper(scores: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Scores of every pair i < j of different identities, row by row (no index arrays), as
    float64: a threshold from ``threshold_at_fmr`` is a float64 just above a score, which a
    float32 comparison would round back onto it."""
    parts = []
    for i in range(scores.shape[0] - 1):
        row = scores[i, i + 1 :]
        parts.append(row[ids[i + 1 :] != ids[i]])
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)


def _rate(count: int, n: int) -> dict[str, Any]:
    lo, hi = m.rate_ci(count, n)
    return {"count": count, "pairs": n, "fmr": count / n if n else None, "ci95": [lo, hi]}


def group_tails(
    names: tuple[str, str],
    vectors: tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]],
    identities: Sequence[str],
    groups: Sequence[str],
    targets: Sequence[float] = TARGETS,
) -> dict[str, Any]:
    """Per-group FMR of each model at its own thresholds for overall FMR ``targets``, with
    the pairs the other model also scores at or above its threshold flagged.

    ``vectors`` are both models' unit-norm templates of the same images (row i = image i)."""
    ids = np.asarray(identities)
    grp = np.asarray(groups)
    scores = [v @ v.T for v in vectors]
    overall = [_upper(s, ids) for s in scores]
    thresholds = {t: [m.threshold_at_fmr(o, t) for o in overall] for t in targets}
    members = {
        g: np.flatnonzero(grp == g) for g in sorted(set(groups)) if g and np.sum(grp == g) > 0
    }
    levels = []
    for t in targets:
        th = thresholds[t]
        by_model: dict[str, Any] = {}
        for k in (0, 1):
            other = 1 - k
            rows: dict[str, Any] = {}
            for g, idx in members.items():
                if idx.size < MIN_GROUP:
                    continue
                sub_ids = ids[idx]
                own = _upper(scores[k][np.ix_(idx, idx)], sub_ids)
                oth = _upper(scores[other][np.ix_(idx, idx)], sub_ids)
                hit = own >= th[k]
                flagged = int(np.sum(hit & (oth >= th[other])))
                count, n = int(hit.sum()), int(own.size)
                rows[g] = {
                    "images": int(idx.size),
                    **_rate(count, n),
                    "flagged_same_person": flagged,
                    "without_flagged": _rate(count - flagged, n - flagged),
                }
            by_model[names[k]] = {
                "threshold": th[k],
                "overall": _rate(int(np.sum(overall[k] >= th[k])), int(overall[k].size)),
                "overall_flagged": int(
                    np.sum((overall[k] >= th[k]) & (overall[other] >= th[other]))
                ),
                "groups": rows,
                "with_flagged": _spread(rows, lambda r: r),
                "without_flagged": _spread(rows, lambda r: r["without_flagged"]),
            }
        levels.append(
            {
                "target_fmr": t,
                "supported": t >= SUPPORTED_FMR,
                "note": (
                    "estimate"
                    if t >= SUPPORTED_FMR
                    else f"below {SUPPORTED_FMR:g} repeats of one person dominate this set's "
                    "tail: upper bounds, not estimates"
                ),
                "models": by_model,
            }
        )
    return {
        "models": list(names),
        "images": int(ids.size),
        "pairs_overall": int(overall[0].size),
        "levels": levels,
        "interval": "Clopper-Pearson on pairs (treats pairs as independent; they share people)",
    }


def _spread(rows: dict[str, Any], pick: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """Worst group, lowest non-zero group and their ratio; groups with no false match are
    listed with their upper bound (a zero is not a measured rate)."""
    rates = {g: pick(r) for g, r in rows.items() if pick(r)["pairs"]}
    if not rates:
        return {}
    worst = max(rates, key=lambda g: rates[g]["fmr"])
    nonzero = {g: r["fmr"] for g, r in rates.items() if r["count"] > 0}
    best = min(nonzero, key=lambda g: nonzero[g]) if nonzero else None
    return {
        "worst_group": worst,
        "worst_fmr": rates[worst]["fmr"],
        "lowest_nonzero_group": best,
        "lowest_nonzero_fmr": nonzero[best] if best else None,
        "worst_to_lowest_nonzero": (
            rates[worst]["fmr"] / nonzero[best] if best and nonzero[best] > 0 else None
        ),
        "groups_with_no_false_match": sorted(g for g, r in rates.items() if r["count"] == 0),
    }


def _vec(v: npt.NDArray[np.float32] | None) -> npt.NDArray[np.float32]:
    assert v is not None  # only images both models acquired
    return v.astype(np.float32)


def evaluate_tails(
    ws: Workspace,
    manifest: Path,
    other_model: str,
    out: Path,
    targets: Sequence[float] = TARGETS,
    progress: Progress | None = None,
) -> EvalResult:
    """Both models' templates of the manifest's images (the workspace's model and
    ``other_model``), ``group_tails`` on the images both acquired, a report and a record."""
    images = protocols.read_labelled_manifest(manifest, ws.settings.source_roots)
    paths = [im.path for im in images]
    own = model_space(ws.settings)
    other_settings = ws.settings.model_copy(update={"face_model": other_model})
    other_ws = Workspace(ws.root, other_settings)  # same database: its template cache
    other = model_space(other_settings)
    if other.key == own.key:
        raise InputError(f"{other_model!r} is the workspace's own model; name another one")
    acq = [compute_templates(ws, own, paths, progress), compute_templates(other_ws, other, paths)]
    both = [im for im in images if all(a[im.path].vector is not None for a in acq)]
    vecs = [np.stack([_vec(a[im.path].vector) for im in both]) for a in acq]
    groups = [
        f"{im.demographics.get('sex', '')}/{im.demographics.get('race', '')}"
        if im.demographics.get("sex") and im.demographics.get("race")
        else ""
        for im in both
    ]
    names = (ws.settings.face_model, other_model)
    metrics = group_tails(names, (vecs[0], vecs[1]), [im.identity for im in both], groups, targets)
    metrics["failures_to_acquire"] = {
        n: sum(a[p].vector is None for p in dict.fromkeys(paths))
        for n, a in zip(names, acq, strict=True)
    }
    metrics["spaces"] = {names[0]: own.key, names[1]: other.key}
    out.mkdir(parents=True, exist_ok=True)
    checksum = dataset_checksum(acq[0], manifest.read_bytes() + other.key.encode())
    prov = provenance(own, "group-tails", manifest, checksum, acq[0])
    report.write_report(out, "LeadGuard per-group non-mated tails", prov, metrics, [])
    rid = save_record(ws, prov, metrics, out, [out / "metrics.json"])
    return EvalResult(rid, out, metrics)
