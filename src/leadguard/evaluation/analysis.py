"""Metrics computed from score files alone (re-analysable without templates)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from leadguard.evaluation import metrics as m
from leadguard.evaluation.scores import read_rows, score_value

FMR_TARGETS = (1e-2, 1e-3, 1e-4)
FPIR_TARGETS = (1e-2, 1e-3)
CMC_RANKS = (1, 5, 20)
MIN_MATED_PER_GROUP = 30
MIN_NONMATED_PER_GROUP = 300


def load_verify(path: Path) -> dict[str, np.ndarray]:
    rows = list(read_rows(path))
    return {
        "score": np.array([score_value(r["score"]) for r in rows]),
        "mated": np.array([r["mated"] == "1" for r in rows]),
        "fold": np.array([int(r["fold"] or 0) for r in rows]),
        "kind": np.array([r["kind"] for r in rows]),
        "failed": np.array([bool(r["failure"]) for r in rows]),
        "probe_group": np.array([_group(r, "probe") for r in rows]),
        "reference_group": np.array([_group(r, "reference") for r in rows]),
    }


def _group(row: dict[str, str], side: str) -> str:
    sex, race = row.get(f"{side}_sex", ""), row.get(f"{side}_race", "")
    return f"{sex}/{race}" if sex and race else ""


def verification_metrics(data: dict[str, np.ndarray], tenfold: bool) -> dict[str, Any]:
    s, mated = data["score"], data["mated"]
    nonmated = ~mated & (data["kind"] != "nonmated_within_group")
    gen, imp = s[mated], s[nonmated]
    out: dict[str, Any] = {
        "mated_pairs": int(gen.size),
        "nonmated_pairs": int(imp.size),
        "pairs_with_a_failure_to_acquire": int(data["failed"].sum()),
        "eer": m.eer(gen, imp),
        "fnmr_at_fmr": [m.fnmr_at_fmr(gen, imp, t) for t in FMR_TARGETS],
    }
    if gen.size == 0:  # FMR and thresholds stand on the non-mated pairs; FNMR and EER cannot
        out["eer"] = {"eer": None, "threshold": None}
        for row in out["fnmr_at_fmr"]:
            row["fnmr"] = None
        out["note"] = (
            f"no mated pairs: FNMR and EER cannot be measured; FMR can "
            f"({int(imp.size)} non-mated pairs)"
        )
    if tenfold:
        out["lfw_10fold"] = m.tenfold_accuracy(s, mated, data["fold"])
    return out


def demographic_metrics(
    data: dict[str, np.ndarray], target_fmr: float, n_boot: int = 500
) -> dict[str, Any]:
    """NIST IR 8280 style: one threshold (overall FMR = target), per-group FMR and FNMR."""
    s, mated, kind = data["score"], data["mated"], data["kind"]
    overall_imp = s[kind == "nonmated"]
    t = m.threshold_at_fmr(overall_imp, target_fmr)
    groups: dict[str, dict[str, Any]] = {}
    same_group = data["probe_group"] == data["reference_group"]
    names = sorted({g for g in data["probe_group"] if g})
    for g in names:
        in_g = (data["probe_group"] == g) & same_group
        gen = s[in_g & mated]
        imp = s[in_g & (kind == "nonmated_within_group")]
        fmr_hits, fnmr_hits = int(np.sum(imp >= t)), int(np.sum(gen < t))
        groups[g] = {
            "mated_pairs": int(gen.size),
            "nonmated_pairs_within_group": int(imp.size),
            "fmr": m.fmr_at(imp, t) if imp.size else None,
            "fmr_ci_bootstrap": _ci(imp >= t, n_boot),
            "fmr_ci_exact": m.rate_ci(fmr_hits, int(imp.size)),
            "fnmr": m.fnmr_at(gen, t) if gen.size else None,
            "fnmr_ci_bootstrap": _ci(gen < t, n_boot),
            "fnmr_ci_exact": m.rate_ci(fnmr_hits, int(gen.size)),
            # FMR needs non-mated pairs, FNMR mated ones: each is judged on its own count
            "fmr_too_small": bool(imp.size < MIN_NONMATED_PER_GROUP),
            "fnmr_too_small": bool(gen.size < MIN_MATED_PER_GROUP),
            "too_small": bool(gen.size < MIN_MATED_PER_GROUP and imp.size < MIN_NONMATED_PER_GROUP),
        }
    measurable = [v["fmr"] for v in groups.values() if not v["fmr_too_small"] and v["fmr"]]
    lowest = min(measurable) if measurable else None
    for v in groups.values():
        ok = lowest and v["fmr"] is not None and not v["fmr_too_small"]
        v["fmr_ratio_to_lowest"] = (v["fmr"] / lowest) if ok else None
    return {
        "threshold": t,
        "target_overall_fmr": target_fmr,
        "overall_fmr": m.fmr_at(overall_imp, t),
        "overall_fnmr": m.fnmr_at(s[mated], t),
        "groups": groups,
        "min_pairs_rule": {
            "mated": MIN_MATED_PER_GROUP,
            "nonmated_within_group": MIN_NONMATED_PER_GROUP,
        },
    }


def _ci(hits: np.ndarray, n_boot: int) -> tuple[float, float]:
    return m.bootstrap_ci(hits.astype(float), lambda v: float(v.mean()), n_boot=n_boot)


def load_searches(path: Path) -> dict[int, m.Searches]:
    """Per split: the rank/score of each mate and the top score of each non-mated search."""
    per: dict[int, dict[tuple[str, bool, str], list[tuple[int, str, float]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for r in read_rows(path):
        key = (r["probe"], r["mated_search"] == "1", r["probe_identity"])
        per[int(r["split"])][key].append(
            (int(r["rank"]), r["candidate_identity"], score_value(r["score"]))
        )
    out = {}
    for split, searches in per.items():
        ranks, scores, tops = [], [], []
        for (_, mated, ident), cands in searches.items():
            cands = sorted(c for c in cands if c[0] >= 1)
            if mated:
                hit = next((c for c in cands if c[1] == ident), None)
                ranks.append(hit[0] if hit else 0)
                scores.append(hit[2] if hit else float("-inf"))
            else:
                tops.append(cands[0][2] if cands else float("-inf"))
        out[split] = m.Searches(np.array(ranks), np.array(scores), np.array(tops))
    return out


def identification_metrics(per_split: dict[int, m.Searches], list_length: int) -> dict[str, Any]:
    rows = []
    for split, s in sorted(per_split.items()):
        curve = m.cmc(s.mated_rank, max(CMC_RANKS))
        row: dict[str, Any] = {
            "split": split,
            "mated_searches": int(s.mated_rank.size),
            "nonmated_searches": int(s.nonmated_top.size),
            "cmc": {f"rank{r}": float(curve[r - 1]) for r in CMC_RANKS},
        }
        for target in FPIR_TARGETS:
            row[f"fnir_at_fpir_{target:g}"] = {
                "rank1": m.fnir_at_fpir(s, target, 1),
                f"rank{list_length}": m.fnir_at_fpir(s, target, list_length),
            }
        rows.append(row)

    def summary(values: list[float]) -> dict[str, float]:
        a = np.asarray(values, dtype=float)
        return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if a.size > 1 else 0.0}

    summ: dict[str, Any] = {
        f"rank{r}": summary([x["cmc"][f"rank{r}"] for x in rows]) for r in CMC_RANKS
    }
    for target in FPIR_TARGETS:
        k = f"fnir_at_fpir_{target:g}"
        for L in ("rank1", f"rank{list_length}"):
            summ[f"{k}_{L}"] = summary([x[k][L]["fnir"] for x in rows])
    return {"splits": rows, "summary": summ, "candidate_list_length": list_length}
