"""Fit an evidence model on one half of a labelled dataset's identities.

Identities (never images) are split by a seeded hash into a calibration half and a held-out
half, so that no person contributes to both the model and the figures that report on it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from leadguard.evidence.calibration import LrTable, fit_lr_table
from leadguard.evidence.distribution import ProbeTails, ScoreHistogram
from leadguard.evidence.groups import MIN_GROUP_COMPARISONS
from leadguard.evidence.model import EvidenceModel

Progress = Callable[[int, int], None]
TAIL_FMR = 3e-3  # per-probe tails are kept from the score where the pooled FMR is 3 in 1,000
MAX_IMAGES_PER_IDENTITY = 10  # mated pairs for calibration: no single person dominates
NONMATED_FOR_LR = 50_000
CHUNK = 2048
MIN_GROUP_MATED = 20  # fewer mated pairs within a group: no LR is stated for it
ELUB_STEP = 0.01  # lir's ELUB resolution (log10): an upper bound below it is LR 1


@dataclass(frozen=True)
class Labelled:
    """Unit templates with who they show and the demographic groups they belong to."""

    vectors: np.ndarray  # (n, d) float32
    identities: np.ndarray  # (n,) str
    groups: list[tuple[str, ...]]  # per image, e.g. ("F", "F/african")

    def subset(self, rows: np.ndarray) -> Labelled:
        return Labelled(self.vectors[rows], self.identities[rows], [self.groups[i] for i in rows])


def identity_half(identity: str, seed: int) -> int:
    """0 = calibration, 1 = held out. Stable across machines and runs."""
    return int(hashlib.sha256(f"{seed}:{identity}".encode()).hexdigest(), 16) % 2


def identity_digest(identities: set[str]) -> str:
    return hashlib.sha256("\n".join(sorted(identities)).encode()).hexdigest()


def split_by_identity(data: Labelled, seed: int) -> tuple[Labelled, Labelled]:
    half = np.array([identity_half(str(i), seed) for i in data.identities])
    return data.subset(np.flatnonzero(half == 0)), data.subset(np.flatnonzero(half == 1))


def check_disjoint(calibration: Labelled, evaluation: Labelled) -> None:
    """Refuse to report a model's quality on people it was fitted on."""
    shared = set(calibration.identities.tolist()) & set(evaluation.identities.tolist())
    if shared:
        raise ValueError(
            f"{len(shared)} identities are in both the calibration and the evaluation set "
            f"(e.g. {sorted(shared)[:3]}): the evaluation would flatter the model"
        )


def _row_blocks(data: Labelled) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """(first row, scores of rows against all, different-identity mask) per block."""
    x, ids = data.vectors, data.identities
    for r0 in range(0, len(x), CHUNK):
        block = x[r0 : r0 + CHUNK] @ x.T
        yield r0, block, ids[r0 : r0 + CHUNK, None] != ids[None, :]


def nonmated_histograms(
    data: Labelled, progress: Progress | None = None
) -> tuple[ScoreHistogram, dict[str, ScoreHistogram]]:
    """Every non-mated pair once, overall and within each group (both images in it)."""
    n = len(data.vectors)
    names = sorted({g for gs in data.groups for g in gs})
    member = {g: np.array([g in gs for gs in data.groups]) for g in names}
    overall = ScoreHistogram.empty()
    groups = {g: ScoreHistogram.empty() for g in names}
    cols = np.arange(n)
    for r0, block, diff in _row_blocks(data):
        rows = np.arange(r0, r0 + len(block))
        keep = diff & (cols[None, :] > rows[:, None])
        overall = overall.add(block[keep])
        for g in names:
            in_g = keep & member[g][rows][:, None] & member[g][None, :]
            if in_g.any():
                groups[g] = groups[g].add(block[in_g])
        if progress:
            progress(min(r0 + CHUNK, n), n)
    return overall, groups


@dataclass(frozen=True)
class TailPairs:
    """Non-mated pairs at or above a floor, by identity index (each pair once)."""

    a: np.ndarray
    b: np.ndarray
    scores: np.ndarray
    images_per_identity: np.ndarray


def probe_tails(data: Labelled, floor: float) -> tuple[ProbeTails, TailPairs]:
    names, ident = np.unique(data.identities, return_inverse=True)
    per_probe: list[np.ndarray] = []
    comparisons: list[int] = []
    a: list[np.ndarray] = []
    b: list[np.ndarray] = []
    sc: list[np.ndarray] = []
    for r0, block, diff in _row_blocks(data):
        high = diff & (block >= floor)
        for row, mask, keep in zip(block, diff, high, strict=True):
            per_probe.append(row[keep])
            comparisons.append(int(mask.sum()))
        rows, cols = np.nonzero(high)
        upper = cols > rows + r0
        a.append(ident[rows[upper] + r0])
        b.append(ident[cols[upper]])
        sc.append(block[rows[upper], cols[upper]])
    pairs = TailPairs(
        np.concatenate(a),
        np.concatenate(b),
        np.concatenate(sc),
        np.bincount(ident, minlength=len(names)),
    )
    return ProbeTails.from_lists(floor, per_probe, comparisons, ident), pairs


def design_effects(
    pairs: TailPairs,
    hist: ScoreHistogram,
    replicates: int,
    seed: int,
    images: np.ndarray | None = None,
) -> dict[str, Any]:
    """How much wider than a binomial interval the FMR's interval is when people, not
    comparisons, are resampled (Kish's design effect), at FMRs 3e-3 down to 1e-6.

    The same people appear in many comparisons and a few look-alike pairs of people carry
    much of the tail, so the comparisons are not independent; the interval of every stated
    FMR is widened by this factor (effective comparisons = comparisons / effect).
    ``images`` (per identity; 0 = not in the group) restricts it to one demographic group.
    Where no level has ten comparisons to resample, the effect is the comparisons per pair
    of people (each pair of people then counts once)."""
    rng = np.random.default_rng(seed)
    n = (pairs.images_per_identity if images is None else images).astype(np.float64)
    members = np.flatnonzero(n > 0)
    inside = (n[pairs.a] > 0) & (n[pairs.b] > 0)
    order = np.argsort(-pairs.scores[inside])
    ea, eb = pairs.a[inside][order], pairs.b[inside][order]
    es = pairs.scores[inside][order]
    k = members.size
    people_pairs = k * (k - 1) / 2
    fallback = max(1.0, hist.comparisons / people_pairs) if people_pairs else 1.0
    out: dict[str, Any] = {"thresholds": [], "effects": [], "fallback": fallback}
    if k < 2 or es.size == 0:
        return out
    weights = np.zeros((replicates, n.size))
    weights[:, members] = rng.multinomial(k, np.full(k, 1.0 / k), size=replicates)
    hits_w = np.cumsum(weights[:, ea] * weights[:, eb], axis=1)
    pairs_w = ((weights @ n) ** 2 - (weights**2) @ (n**2)) / 2.0
    for level in (3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6):
        t = hist.threshold_for_fmr(level)
        count = hist.at_least(t)
        m = int(np.searchsorted(-es, -t, side="right"))  # entries with score >= t
        if count < 10 or m == 0 or t < float(es[-1]) or t in out["thresholds"]:
            continue
        p = count / hist.comparisons
        boot = hits_w[:, m - 1] / np.maximum(pairs_w, 1.0)
        effect = float(np.var(boot, ddof=1) / (p * (1 - p) / hist.comparisons))
        out["thresholds"].append(float(t))
        out["effects"].append(max(1.0, effect))
    return out


def group_images(data: Labelled, names: np.ndarray) -> dict[str, np.ndarray]:
    """Per group, each identity's number of images in it (identities indexed as ``names``)."""
    index = {n: i for i, n in enumerate(names.tolist())}
    out: dict[str, np.ndarray] = {}
    for ident, groups in zip(data.identities.tolist(), data.groups, strict=True):
        for g in groups:
            out.setdefault(g, np.zeros(names.size))[index[ident]] += 1
    return out


def capped_rows(data: Labelled, cap: int, rng: np.random.Generator) -> np.ndarray:
    by_id: dict[str, list[int]] = {}
    for i, ident in enumerate(data.identities.tolist()):
        by_id.setdefault(ident, []).append(i)
    rows: list[int] = []
    for members in by_id.values():
        pick = members if len(members) <= cap else rng.choice(members, cap, replace=False)
        rows.extend(int(r) for r in pick)
    return np.array(sorted(rows), dtype=np.int64)


def calibration_pairs(data: Labelled, nonmated: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mated scores (at most ten images per person) and a seeded sample of non-mated ones."""
    rng = np.random.default_rng(seed)
    capped = data.subset(capped_rows(data, MAX_IMAGES_PER_IDENTITY, rng))
    x, ids = capped.vectors, capped.identities
    iu = np.triu_indices(len(x), 1)
    same = ids[iu[0]] == ids[iu[1]]
    mated = np.einsum("ij,ij->i", x[iu[0][same]], x[iu[1][same]])
    a = rng.integers(0, len(data.vectors), nonmated * 2)
    b = rng.integers(0, len(data.vectors), nonmated * 2)
    ok = data.identities[a] != data.identities[b]
    a, b = a[ok][:nonmated], b[ok][:nonmated]
    imp = np.einsum("ij,ij->i", data.vectors[a], data.vectors[b])
    return mated.astype(np.float64), imp.astype(np.float64)


def all_pairs(data: Labelled, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mated scores (at most ten images per person) and every non-mated pair once."""
    capped = data.subset(capped_rows(data, MAX_IMAGES_PER_IDENTITY, np.random.default_rng(seed)))
    x, ids = capped.vectors, capped.identities
    iu = np.triu_indices(len(x), 1)
    same = ids[iu[0]] == ids[iu[1]]
    scores = np.einsum("ij,ij->i", x[iu[0]], x[iu[1]]).astype(np.float64)
    mated = scores[same]
    full = data.vectors @ data.vectors.T
    ju = np.triu_indices(len(data.vectors), 1)
    diff = data.identities[ju[0]] != data.identities[ju[1]]
    return mated, full[ju][diff].astype(np.float64)


def group_lr_bounds(lr: LrTable, data: Labelled, seed: int) -> dict[str, dict[str, Any]]:
    """Per group, the ELUB bounds of the pooled calibrator's LRs on the group's own
    calibration pairs (mated and non-mated within the group): how strong an LR that group's
    data can support. Groups with too few pairs get ``supported = False`` and no LR."""
    from lir.algorithms.bayeserror import elub

    out: dict[str, dict[str, Any]] = {}
    for g in sorted({g for gs in data.groups for g in gs}):
        rows = np.array([i for i, gs in enumerate(data.groups) if g in gs], dtype=np.int64)
        sub = data.subset(rows)
        if len(np.unique(sub.identities)) < 2:
            mated, imp = np.empty(0), np.empty(0)
        elif len(rows) * (len(rows) - 1) // 2 <= 2 * NONMATED_FOR_LR:
            mated, imp = all_pairs(sub, seed)  # a small group: every pair once, none repeated
        else:
            mated, imp = calibration_pairs(sub, NONMATED_FOR_LR, seed)
        entry: dict[str, Any] = {"mated": int(mated.size), "nonmated": int(imp.size)}
        ok = mated.size >= MIN_GROUP_MATED and imp.size >= MIN_GROUP_COMPARISONS
        entry["supported"] = bool(ok)
        if ok:
            llrs = np.interp(np.concatenate([mated, imp]), lr.grid, lr.llr)
            labels = np.concatenate([np.ones(mated.size), np.zeros(imp.size)])
            lo, hi = elub(llrs, labels)
            entry["bounds"] = [float(lo), float(hi)]
            # bounds collapsed to LR 1: within this group the LRs mislead, none is supported
            entry["supported"] = bool(hi >= ELUB_STEP)
            entry["collapsed"] = bool(hi < ELUB_STEP)
        out[g] = entry
    return out


def fit_model(
    space_key: str,
    calibration: Labelled,
    seed: int,
    bootstraps: int = 200,
    progress: Progress | None = None,
    domain: str = "lfw",
) -> EvidenceModel:
    overall, groups = nonmated_histograms(calibration, progress)
    if overall.comparisons == 0:
        raise ValueError("the calibration set holds no pair of different people")
    tails, pairs = probe_tails(calibration, overall.threshold_for_fmr(TAIL_FMR))
    deff = design_effects(pairs, overall, bootstraps, seed)
    names = np.unique(calibration.identities)
    group_deff = {
        g: design_effects(pairs, groups[g], bootstraps, seed, images)
        for g, images in group_images(calibration, names).items()
        if groups[g].comparisons >= MIN_GROUP_COMPARISONS
    }
    mated, imp = calibration_pairs(calibration, NONMATED_FOR_LR, seed)
    lr = fit_lr_table(mated, imp, bootstraps=bootstraps, seed=seed)
    group_lr = group_lr_bounds(lr, calibration, seed)
    people = {g: int((imgs > 0).sum()) for g, imgs in group_images(calibration, names).items()}
    ids = set(calibration.identities.tolist())
    meta = {
        "calibration": {
            "images": len(calibration.vectors),
            "identities": len(ids),
            "identity_digest": identity_digest(ids),
            "nonmated_pairs": overall.comparisons,
            "seed": seed,
        },
        "design_effect": deff,
        "group_design_effects": group_deff,
        "group_people": people,
        "group_lr": group_lr,
        "domain": domain,
    }
    return EvidenceModel(space_key, overall, groups, tails, lr, meta)
