"""FNIR at equal *measured* FPIR: today's gallery-size threshold against per-search tail fits.

`eval evidence --searches` compares the methods at the same *target* FPIR, which mixes two
things: how well each method's stated probability is calibrated (the per-search p is
conservative on LFW, so at a target of 1 % it lists far less often) and how well it
separates mates from strangers. This script sweeps the target (160 values from 1e-4 to 0.95),
measures FPIR and FNIR at each (BLUFR splits, one identity half: ``--half 0`` is the evidence
model's calibration half, for choosing; ``--half 1`` the held-out half, for reporting), and
gives each method's FNIR at the largest target whose measured FPIR is at most a level.

Variants are ``shipped`` (evidence/tail.py as it is) or ``SHARE:CENSORED:MODE[:PRECISE]``
(MODE ``gpd`` = shape >= 0, ``exp`` = shape 0): the tail share fitted, the top scores
censored, and the scores wanted for a steady fit in a small gallery (tail.PRECISE_EXCEEDANCES,
default 0: the share alone). Each is run alone and with the gallery-size floor. For each
variant with the floor, the FNIR difference from the gallery-size threshold at each level gets
a 95 % interval from 300 Poisson bootstrap replicates over the probe people (a person's
several searches share one weight: they are not independent, so resampling searches alone gave
intervals too narrow). MODE ``lrt[CRIT]`` fixes the shape at 0 unless the likelihood ratio of the
free fit (shape >= 0) over the exponential exceeds CRIT (default 2.71, the 5 % point of the
one-sided boundary test).

    PYTHONPATH=src .venv/bin/python benchmarks/tail_fnir_at_fpir.py -w WS --half 1 \\
        --variants 0.1:3:gpd,0.25:3:gpd [--per-split 300] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from leadguard.evaluation import protocols
from leadguard.evaluation.templates import compute_templates
from leadguard.evidence import model as em
from leadguard.evidence import tail
from leadguard.evidence.fit import identity_half
from leadguard.face_models import model_space
from leadguard.storage.workspace import Workspace

log = logging.getLogger("tail_fnir_at_fpir")
TARGETS = np.geomspace(1e-4, 0.95, 160)
LEVELS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05)
REPLICATES = 300
KEEP = 600  # best scores kept per search (enough for any tail share used here)
LIST_LENGTH = 20


def _loglik(fit: tail.TailFit, top: np.ndarray) -> float:
    """The censored log-likelihood of a fit on the scores it was fitted on (fit scale)."""
    z = np.sort(tail.to_fit_scale(top, fit.transform))[::-1]
    kept = z[fit.censored : fit.censored + fit.used]
    y, yc, sc, xi = kept - fit.threshold, float(kept[0] - fit.threshold), fit.scale, fit.shape
    if xi < 1e-9:
        return float(-y.size * np.log(sc) - y.sum() / sc - fit.censored * yc / sc)
    logf = -np.log(sc) - (1 / xi + 1) * np.log1p(xi * y / sc)
    return float(logf.sum() - fit.censored / xi * np.log1p(xi * yc / sc))


def pretest(free: tail.TailFit, fixed: tail.TailFit, top: np.ndarray, crit: float) -> tail.TailFit:
    """The free fit (shape >= 0) where the likelihood ratio over the exponential exceeds
    ``crit``, else the exponential."""
    if free.shape < 1e-9:
        return fixed
    return free if 2 * (_loglik(free, top) - _loglik(fixed, top)) > crit else fixed


def _fit(variant: str, top: np.ndarray, n: int) -> tail.TailFit | tail.TailRefused:
    if variant == "shipped":
        return tail.fit_tail(top, n)
    share, censored, mode, *precise = variant.split(":")
    if mode.startswith("lrt"):  # shape 0 unless the likelihood ratio rejects it
        crit = float(mode[3:] or 2.71)
        free = _fit(":".join([share, censored, "gpd", *precise]), top, n)
        if not isinstance(free, tail.TailFit):
            return free
        fixed = _fit(":".join([share, censored, "exp", *precise]), top, n)
        assert isinstance(fixed, tail.TailFit)
        return pretest(free, fixed, top, crit)
    names = ("TAIL_SHARE", "EXCLUDED_TOP", "MAX_EXCEEDANCES", "PRECISE_EXCEEDANCES")
    old = [getattr(tail, k) for k in names]
    new = (float(share), int(censored), KEEP, int(precise[0]) if precise else 0)
    for k, v in zip(names, new, strict=True):
        setattr(tail, k, v)
    try:
        return tail.fit_tail(top, n, exponential=mode == "exp")
    finally:
        for k, v in zip(names, old, strict=True):
            setattr(tail, k, v)


def _at(fp: np.ndarray, fn: np.ndarray, level: float) -> float | None:
    ok = fp <= level
    return float(fn[ok].min()) if ok.any() else None


def _levels(hit: np.ndarray, mated: np.ndarray, w: np.ndarray) -> np.ndarray:
    """FNIR at each level of measured FPIR, the searches weighted by ``w``; ``hit``: searches
    x targets, True where the search lists its top stranger (non-mated) or its mate."""
    fp = (hit[~mated] * w[~mated, None]).sum(0) / w[~mated].sum()
    fn = 1.0 - (hit[mated] * w[mated, None]).sum(0) / w[mated].sum()
    return np.array([fn[fp <= x].min() if (fp <= x).any() else np.nan for x in LEVELS])


def _difference(
    hit: np.ndarray, base: np.ndarray, mated: np.ndarray, person: np.ndarray
) -> dict[str, Any]:
    """FNIR of ``hit`` minus FNIR of ``base`` at each level, with a bootstrap interval over
    people: ``person`` numbers each search's probe person, and all of one person's searches
    share one Poisson weight."""
    rng = np.random.default_rng(1)
    one = np.ones(mated.size)
    point = _levels(hit, mated, one) - _levels(base, mated, one)
    people = int(person.max()) + 1
    reps = []
    for _ in range(REPLICATES):
        w = rng.poisson(1.0, people).astype(np.float64)[person]
        reps.append(_levels(hit, mated, w) - _levels(base, mated, w))
    lo, hi = np.nanpercentile(np.array(reps), [2.5, 97.5], axis=0)
    return {str(x): [float(point[j]), float(lo[j]), float(hi[j])] for j, x in enumerate(LEVELS)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-w", "--workspace", required=True)
    ap.add_argument("--lfw", default="../shared/datasets/lfw")
    ap.add_argument("--half", type=int, choices=(0, 1), default=1)
    ap.add_argument("--per-split", type=int, default=0, help="probes a split (0: all)")
    ap.add_argument("--variants", default="0.1:3:gpd")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    ws = Workspace.open(Path(a.workspace))
    space = model_space(ws.settings)
    stored = em.latest(ws, space.key)
    assert stored is not None, "no evidence model for this space"
    model = stored.model
    splits = protocols.blufr_splits(Path(a.lfw))
    paths = [p for sp in splits for p, _ in (*sp.gallery, *sp.probes)]
    acq = compute_templates(ws, space, paths, None)
    rng = np.random.default_rng(a.half)
    tops: list[np.ndarray] = []
    ns, score, rank, who = [], [], [], []
    for sp in splits:
        ok = [(p, i) for p, i in sp.gallery if acq[p].vector is not None]
        gal = [(p, i) for p, i in ok if identity_half(i, a.seed) == a.half]
        row_of = {i: r for r, (_, i) in enumerate(gal)}
        probes = [
            (p, i)
            for p, i in sp.probes
            if identity_half(i, a.seed) == a.half and acq[p].vector is not None
        ]
        if a.per_split and len(probes) > a.per_split:
            probes = [probes[j] for j in rng.choice(len(probes), a.per_split, replace=False)]
        g = np.vstack([acq[p].vector for p, _ in gal]).astype(np.float32)
        x = np.vstack([acq[p].vector for p, _ in probes]).astype(np.float32)
        s = x @ g.T
        for j, (_, i) in enumerate(probes):
            r, m = s[j], row_of.get(i, -1)
            tops.append(np.sort(r)[::-1][: min(KEEP, r.size)])
            ns.append(r.size)
            score.append(float(r[m]) if m >= 0 else float(r.max()))
            rank.append(1 + int((r > r[m]).sum()) if m >= 0 else 0)
            who.append(i)
    sc, rk, nn = np.array(score), np.array(rank), np.array(ns)
    mated = rk > 0
    person = np.unique(np.array(who), return_inverse=True)[1]
    log.info("%d searches, %d of enrolled people", sc.size, int(mated.sum()))

    def hits(thr: np.ndarray) -> np.ndarray:
        return (sc[:, None] >= thr) & ((~mated) | (rk <= LIST_LENGTH))[:, None]

    def curve(thr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        hit = hits(thr)
        return hit[~mated].mean(0), 1.0 - hit[mated].mean(0)

    floors = {
        n: np.array([model.gallery_threshold(t, int(n), True).threshold for t in TARGETS])
        for n in np.unique(nn)
    }
    floor = np.vstack([floors[n] for n in nn])
    curves = {"gallery_size": curve(floor)}
    differences: dict[str, Any] = {}
    for v in [x for x in a.variants.split(",") if x]:
        t0 = time.time()
        own = np.empty_like(floor)
        for k, top in enumerate(tops):
            f = _fit(v, top, int(nn[k]))
            own[k] = [f.score_for(t) for t in TARGETS] if isinstance(f, tail.TailFit) else floor[k]
        curves[v] = curve(own)
        curves[f"{v}+floor"] = curve(np.maximum(own, floor))
        differences[f"{v}+floor"] = _difference(
            hits(np.maximum(own, floor)), hits(floor), mated, person
        )
        log.info("%s fitted in %.0f s", v, time.time() - t0)
    out: dict[str, Any] = {
        "half": a.half,
        "searches": int(sc.size),
        "nonenrolled": int((~mated).sum()),
        "targets": TARGETS.tolist(),
        "curves": {},
        "fnir_minus_gallery_size": differences,
    }
    i1 = int(np.argmin(abs(TARGETS - 0.01)))
    for name, (fp, fn) in curves.items():
        at = {str(x): _at(fp, fn, x) for x in LEVELS}
        out["curves"][name] = {"fpir": fp.tolist(), "fnir": fn.tolist(), "fnir_at_fpir": at}
        log.info(
            "%-20s target 1 %%: FPIR %.4f FNIR %.4f; FNIR at FPIR <= %s",
            name,
            fp[i1],
            fn[i1],
            {k: None if v is None else round(v, 4) for k, v in at.items()},
        )
    text = json.dumps(out)
    if a.out:
        Path(a.out).write_text(text)
    print(json.dumps({k: v["fnir_at_fpir"] for k, v in out["curves"].items()}, indent=1))
    print(json.dumps({"fnir_minus_gallery_size [point, 2.5 %, 97.5 %]": differences}, indent=1))


if __name__ == "__main__":
    main()
