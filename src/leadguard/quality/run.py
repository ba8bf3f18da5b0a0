"""``leadguard eval quality``: measures on LFW, unified score, EDC, degradations, policy."""

from __future__ import annotations

import csv
import itertools
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from leadguard.core.errors import EvidenceUnavailable
from leadguard.evaluation import report
from leadguard.evaluation.run import EvalResult, Progress, default_out, provenance, save_record
from leadguard.evaluation.templates import compute_templates, dataset_checksum
from leadguard.evidence import model as evidence_model
from leadguard.face_models import model_space
from leadguard.pipeline.measures import Measure
from leadguard.pipeline.worker import WorkerPool
from leadguard.quality import study
from leadguard.quality.gate import PROHIBITED_SOURCE_TYPES, Unified
from leadguard.storage.workspace import Workspace

POLICY_FILE = "quality-policy.toml"
YAW_BINS = (0.0, 10.0, 20.0, 30.0, 180.0)
MAX_PHOTOS = 10
DISTRACTORS = 1000


def _misses(scores: np.ndarray, threshold: float) -> np.ndarray:
    return ~(scores >= threshold)


def _measure_table(
    ws: Workspace, pool: WorkerPool, paths: list[Path], progress: Progress | None
) -> dict[Path, dict[str, Measure]]:
    jobs = [(study.read(p, ws), str(p)) for p in paths]
    results = study.run_pipeline(pool, jobs, True, progress)
    return {paths[r.position]: r.quality for r in results if not r.error_code}


def _pair_min(q: dict[Path, dict[str, Measure]], pairs: list[Any], name: str) -> np.ndarray:
    out = []
    for p in pairs:
        a, b = q.get(p.probe, {}).get(name), q.get(p.reference, {}).get(name)
        out.append(min(a.score if a else 0, b.score if b else 0))
    return np.array(out, dtype=np.float64)


def _unified(
    q: dict[Path, dict[str, Measure]],
    vec: dict[Path, np.ndarray | None],
    identity: dict[Path, str],
    names: list[str],
    seed: int,
    threshold: float,
) -> Unified:
    """Fit on calibration-half people: every pair of their measured photos (at most ten
    photos a person), labelled by whether its mated score fell below the threshold."""
    rng = np.random.default_rng(seed)
    by_id: dict[str, list[Path]] = {}
    for p, i in sorted(identity.items()):
        if vec.get(p) is not None and p in q and not study.held_out(i, seed):
            by_id.setdefault(i, []).append(p)
    xs, ys = [], []
    for members in by_id.values():
        if len(members) > MAX_PHOTOS:
            members = [members[k] for k in rng.choice(len(members), MAX_PHOTOS, replace=False)]
        for a in range(len(members)):
            for b in range(a + 1, len(members)):
                pa, pb = members[a], members[b]
                xs.append([min(_score(q[pa], n), _score(q[pb], n)) for n in names])
                ys.append(float(vec[pa] @ vec[pb]) < threshold)  # type: ignore[operator]
    if len(ys) < 50:
        raise ValueError(f"only {len(ys)} calibration pairs: too few to fit quality")
    return study.fit_unified(np.array(xs, dtype=np.float64), np.array(ys), names)


def _score(m: dict[str, Measure], name: str) -> int:
    return m[name].score if name in m else 0


def _yaw_bins(
    q: dict[Path, dict[str, Measure]], pairs: list[Any], misses: np.ndarray
) -> list[dict[str, Any]]:
    """FNMR by the larger |yaw| of a pair (a face without a pose counts as 90 degrees)."""

    def abs_yaw(path: Path) -> float:
        m = q.get(path, {}).get("yaw")
        return abs(m.raw) if m is not None else 90.0

    yaw = np.array([max(abs_yaw(p.probe), abs_yaw(p.reference)) for p in pairs])
    out = []
    for lo, hi in itertools.pairwise(YAW_BINS):
        sel = (yaw >= lo) & (yaw < hi)
        fnmr = float(misses[sel].mean()) if sel.any() else None
        out.append({"max_abs_yaw": [lo, hi], "pairs": int(sel.sum()), "fnmr": fnmr})
    return out


def _ceil5(x: float) -> int:
    """The next multiple of 5 strictly above x: a floor that catches a face scoring x."""
    return int(5 * math.floor(x / 5) + 5)


def _degradations(
    ws: Workspace,
    pool: WorkerPool,
    data: Path,
    seed: int,
    people: int,
    threshold: float,
) -> list[dict[str, Any]]:
    """Held-out people with two photos: photo 2 degraded and searched against photo 1 of
    each of them plus one photo of up to 1,000 other held-out people."""
    with (data / "manifest.csv").open() as fh:
        listed = list(csv.DictReader(fh))
    by_id: dict[str, list[Path]] = {}
    for row in listed:
        if study.held_out(row["identity"], seed):
            by_id.setdefault(row["identity"], []).append(data / row["path"])
    for photos in by_id.values():
        photos.sort()
    names = sorted(by_id)
    rng = np.random.default_rng(seed)
    twice = [n for n in names if len(by_id[n]) >= 2]
    chosen = sorted(rng.choice(twice, min(people, len(twice)), replace=False).tolist())
    others = [n for n in names if n not in set(chosen)]
    distract = sorted(rng.choice(others, min(DISTRACTORS, len(others)), replace=False).tolist())
    probes = [by_id[n][1] for n in chosen]
    gallery_paths = [by_id[n][0] for n in [*chosen, *distract]]
    vec = study.vectors(ws, gallery_paths)
    dim = model_space(ws.settings).dim
    gallery = np.vstack(
        [v if v is not None else np.zeros(dim, np.float32) for v in (vec[p] for p in gallery_paths)]
    )
    originals = [study.read(p, ws) for p in probes]
    clean = study.run_pipeline(
        pool, [(b, str(p)) for b, p in zip(originals, probes, strict=True)], False
    )
    ied = [
        c.quality["inter_eye_distance"].raw if "inter_eye_distance" in c.quality else 40.0
        for c in clean
    ]
    boxes = [c.detection.box if c.detection else None for c in clean]
    out = []
    todo = [(k, lvl) for k, (_, levels) in study.DEGRADATIONS.items() for lvl in levels[1:]]
    for kind, level in [("clean", 0.0), *todo]:
        if kind == "clean":
            results = clean
        else:
            jobs = [
                (
                    study.degrade(originals[i], kind, level, ied[i], boxes[i]),
                    f"{p}#{kind}{level}",
                )
                for i, p in enumerate(probes)
            ]
            results = study.run_pipeline(pool, jobs, False)
        mated: list[float] = []
        rank1: list[bool] = []
        measures: dict[str, list[int]] = {n: [] for n, _ in study.DEGRADATIONS.values()}
        for i in range(len(probes)):
            r = results[i]
            for n in measures:
                if n in r.quality:
                    measures[n].append(r.quality[n].score)
            if r.vector is None:
                mated.append(-np.inf)
                rank1.append(False)
                continue
            s = gallery @ r.vector
            mated.append(float(s[i]))
            rank1.append(int(np.argmax(s)) == i)
        m = np.array(mated)
        out.append(
            {
                "kind": kind,
                "level": level,
                "faces": len(probes),
                "failures_to_acquire": int(np.sum(~np.isfinite(m))),
                "fnmr": float(np.mean(_misses(m, threshold))),
                "rank1": float(np.mean(rank1)),
                "median_score": {
                    n: float(np.median(v)) if v else None for n, v in measures.items()
                },
            }
        )
    return out


def _floors(deg: list[dict[str, Any]], clean_fnmr: float) -> dict[str, dict[str, int | None]]:
    """Per degraded measure: warn below the median score at the first level whose FNMR is
    at least twice the clean rate; refuse below it at the first level reaching 50 %, unless
    that floor would refuse the median probe of a milder level (FNMR under 50 %): then the
    measure does not separate the failing level from working ones and no floor is set."""
    out: dict[str, dict[str, int | None]] = {}
    for kind, (name, _) in study.DEGRADATIONS.items():
        rows = [r for r in deg if r["kind"] == kind]
        warn = next((r for r in rows if r["fnmr"] >= max(2 * clean_fnmr, 0.02)), None)
        at = next((i for i, r in enumerate(rows) if r["fnmr"] >= 0.5), None)
        floor = None if at is None else _ceil5(rows[at]["median_score"][name])
        if floor is not None and any(r["median_score"][name] < floor for r in rows[:at]):
            floor = None
        out[name] = {
            "warn_below": _ceil5(warn["median_score"][name]) if warn else None,
            "refuse_below": floor,
        }
    return out


def policy_toml(
    rules: dict[str, dict[str, int | None]], unified: Unified, prov: dict[str, Any]
) -> str:
    lines = [
        "# LeadGuard quality gate policy, written by `leadguard eval quality` from measured",
        "# error (docs/quality.md). Scores are 0-100 (higher = better). A probe scoring below",
        "# a refuse_below floor is refused; below warn_below it is searched with a warning",
        "# that travels with the candidate list.",
        f"# command: {prov['command']}",
        f"# measured: {prov['created_at']}  dataset checksum: {prov['dataset_checksum']}",
        "",
        "[provenance]",
        "prohibited_source_types = [" + ", ".join(f'"{t}"' for t in PROHIBITED_SOURCE_TYPES) + "]",
        "",
    ]
    for name in sorted(rules):
        r = {k: v for k, v in rules[name].items() if v is not None}
        if not r or name == "unified":
            continue
        lines.append(f"[measures.{name}]")
        lines += [f"{k} = {v}" for k, v in sorted(r.items())]
        lines.append("")
    u = {k: v for k, v in rules.get("unified", {}).items() if v is not None}
    lines.append("[unified]")
    lines += [f"{k} = {v}" for k, v in sorted(u.items())]
    lines += [
        "",
        "[unified.model]  # logistic: chance that a mated comparison misses the threshold",
        f"intercept = {unified.intercept!r}",
        "",
        "[unified.model.weights]",
        *[f"{n} = {w!r}" for n, w in sorted(unified.weights.items())],
        "",
    ]
    return "\n".join(lines)


def evaluate_quality(
    ws: Workspace,
    data: Path,
    out: Path | None = None,
    seed: int = 0,
    people: int = 150,
    progress: Progress | None = None,
) -> EvalResult:
    space = model_space(ws.settings)
    stored = evidence_model.latest(ws, space.key)
    if stored is None:
        raise EvidenceUnavailable(f"no evidence model for space {space.key}: no fixed threshold")
    threshold = stored.model.nonmated.threshold_for_fmr(1e-3)
    pairs = study.load_pairs(data)
    identity = {}
    for p in pairs:
        identity[p.probe] = p.probe_identity
        identity[p.reference] = p.reference_identity
    paths = sorted(identity)
    with study.worker_pool(ws) as pool:
        q = _measure_table(ws, pool, paths, progress)
        deg = _degradations(ws, pool, data, seed, people, threshold)
    acq = compute_templates(ws, space, paths)
    vec = {p: a.vector for p, a in acq.items()}
    # "landmarks" records where the points came from; it is not a quality measure
    names = sorted({n for m in q.values() for n in m} - {"landmarks"})
    unified = _unified(q, vec, identity, names, seed, threshold)
    for m in q.values():
        u = unified.score(m)
        m["unified"] = Measure("unified", float(u), "score", u, "unified quality")

    held = [p for p in pairs if study.held_out(p.probe_identity, seed)]
    scores = np.array(
        [
            float(a @ b)
            if (a := vec.get(p.probe)) is not None and (b := vec.get(p.reference)) is not None
            else -np.inf
            for p in held
        ]
    )
    misses = _misses(scores, threshold)
    overall = float(misses.mean())
    edc = {n: study.edc(_pair_min(q, held, n), scores, threshold) for n in [*names, "unified"]}
    rules: dict[str, dict[str, int | None]] = {
        n: {"warn_below": study.warn_band(_pair_min(q, held, n), misses, overall)}
        for n in [*names, "unified"]
    }
    clean = next(r for r in deg if r["kind"] == "clean")
    for name, fl in _floors(deg, clean["fnmr"]).items():
        bands = [b for b in (fl["warn_below"], rules[name]["warn_below"]) if b is not None]
        rules[name] = {"warn_below": max(bands, default=None), "refuse_below": fl["refuse_below"]}
    rules["single_face"] = {"warn_below": 50}  # a fact, not a level: several faces in the probe
    # a fact about the capture, not an error level: a periodic pattern above ordinary photos'
    # (docs/quality.md, "Photos of a screen or a print")
    rules["screen_pattern"] = {"warn_below": 50}
    metrics: dict[str, Any] = {
        "threshold": threshold,
        "threshold_rule": "pooled FMR 1e-3 of the evidence model's calibration half",
        "held_out_mated_pairs": len(held),
        "fnmr_all_held_out_pairs": overall,
        "unified_model": {"intercept": unified.intercept, "weights": unified.weights},
        "edc": edc,
        "yaw_bins": _yaw_bins(q, held, misses),
        "degradations": deg,
        "policy_rules": rules,
        "images_measured": len(q),
        "images_not_measured": len(paths) - len(q),
    }
    out = out or default_out(ws, "quality")
    out.mkdir(parents=True, exist_ok=True)
    extra = (data / "protocols" / "pairs.txt").read_bytes() + f"seed={seed}".encode()
    prov = provenance(space, "quality", data, dataset_checksum(acq, extra), acq)
    prov["created_at"] = datetime.now(UTC).isoformat()
    (out / POLICY_FILE).write_text(policy_toml(rules, unified, prov))
    figs = [study.plot_edc(out, edc, overall), study.plot_degradations(out, deg)]
    report.write_report(out, "LeadGuard quality: EDC, degradations, policy", prov, metrics, figs)
    rid = save_record(ws, prov, metrics, out, [out / POLICY_FILE])
    return EvalResult(rid, out, metrics)
