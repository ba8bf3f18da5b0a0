"""Show that an evidence model's statements are true, on people it was not fitted on.

Three checks, all on the held-out identities: the likelihood ratios' calibration (Cllr,
Cllr-min, their difference), the open-set false positive identification rate predicted for
a gallery size against the rate measured by searching held-out galleries with held-out
people who are not enrolled (own draws and the BLUFR splits), and the expected number of
non-mated candidates above a threshold (N x FMR) against the number observed as the
gallery grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from leadguard.evaluation.metrics import cluster_mean_ci, rate_ci
from leadguard.evidence.chance import p_at_least_one
from leadguard.evidence.fit import Labelled, calibration_pairs, check_disjoint
from leadguard.evidence.model import EvidenceModel

GALLERY_SIZES = (250, 500, 1000, 2000)
TARGET_FPIRS = (0.01, 0.05)
REPEATS = 20
HELD_OUT_NONMATED = 200_000


def gallery_sizes(held_out_people: int) -> tuple[int, ...]:
    """The standard sizes that leave a quarter of the held-out people (at least 250) out of
    the gallery to search with; half the people when none does."""
    fit = tuple(s for s in GALLERY_SIZES if s <= held_out_people - max(held_out_people // 4, 250))
    return fit or (max(1, held_out_people // 2),)


@dataclass(frozen=True)
class LrCheck:
    cllr: float
    cllr_min: float
    mated_pairs: int
    nonmated_pairs: int
    llrs: np.ndarray
    labels: np.ndarray

    @property
    def cllr_cal(self) -> float:
        return self.cllr - self.cllr_min

    def summary(self) -> dict[str, Any]:
        return {
            "cllr": round(self.cllr, 5),
            "cllr_min": round(self.cllr_min, 5),
            "cllr_cal": round(self.cllr_cal, 5),
            "mated_pairs": self.mated_pairs,
            "nonmated_pairs": self.nonmated_pairs,
        }


def lr_check(model: EvidenceModel, calibration: Labelled, held_out: Labelled, seed: int) -> LrCheck:
    from lir.data.models import LLRData
    from lir.metrics import cllr, cllr_min

    check_disjoint(calibration, held_out)
    mated, imp = calibration_pairs(held_out, HELD_OUT_NONMATED, seed + 1)
    llrs = model.lr.transform(np.concatenate([mated, imp]))
    labels = np.concatenate([np.ones(mated.size, dtype=int), np.zeros(imp.size, dtype=int)])
    data = LLRData(features=llrs, labels=labels)
    return LrCheck(cllr(data), cllr_min(data), mated.size, imp.size, llrs, labels)


class _Draws:
    """Random open-set trials on held-out people: a gallery of one photo each of ``size``
    people, and one photo of every other person as a probe (nobody searched is enrolled)."""

    def __init__(self, data: Labelled, rng: np.random.Generator) -> None:
        self.data, self.rng = data, rng
        self.rows: dict[str, list[int]] = {}
        for i, ident in enumerate(data.identities.tolist()):
            self.rows.setdefault(ident, []).append(i)
        self.names = np.array(sorted(self.rows))
        self._pick()  # an unused first pick: the random stream the published figures used

    def _pick(self) -> dict[str, int]:
        return {n: int(self.rng.choice(self.rows[n])) for n in self.names}

    def draw(self, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(gallery vectors, probe vectors, the person each probe shows)."""
        pick = self._pick()
        enrolled = set(self.rng.choice(self.names, size, replace=False).tolist())
        gallery = self.data.vectors[[pick[n] for n in self.names if n in enrolled]]
        people = np.array([n for n in self.names if n not in enrolled])
        return gallery, self.data.vectors[[pick[n] for n in people]], people


def _search_trial(
    model: EvidenceModel,
    gallery: np.ndarray,
    probes: np.ndarray,
    people: np.ndarray,
    target: float,
) -> dict[str, Any]:
    """Non-mated searches of ``probes`` (showing ``people``) against ``gallery`` at the
    model's threshold for this gallery size."""
    g = model.gallery_threshold(target, len(gallery))
    scores = probes @ gallery.T
    return {
        "threshold": g.threshold,
        "predicted": g.predicted_fpir,
        "independent": p_at_least_one(g.fmr.fmr, len(gallery)),
        "returned_anyone": (scores >= g.threshold).any(axis=1),
        "people": people,
    }


def _pool(
    rows: list[dict[str, Any]], model: EvidenceModel, size: int, target: float
) -> dict[str, Any]:
    anyone = np.concatenate([r["returned_anyone"] for r in rows])
    measured, lo, hi = cluster_mean_ci(anyone, np.concatenate([r["people"] for r in rows]))
    t = float(np.median([r["threshold"] for r in rows]))
    return {
        "gallery_size": size,
        "target_fpir": target,
        "threshold": round(t, 4),
        "predicted_fpir": round(float(np.mean([r["predicted"] for r in rows])), 5),
        "predicted_fpir_ci": [round(v, 5) for v in model.tails.fpir_ci(t, size)],
        "independence_fpir": round(float(np.mean([r["independent"] for r in rows])), 5),
        "measured_fpir": round(measured, 5),
        "measured_fpir_ci": [round(lo, 5), round(hi, 5)],
        "searches": int(anyone.size),
    }


def agree(row: dict[str, Any]) -> bool:
    """Predicted and measured FPIR intervals overlap."""
    p_lo, p_hi = row["predicted_fpir_ci"]
    m_lo, m_hi = row["measured_fpir_ci"]
    return bool(p_lo <= m_hi and m_lo <= p_hi)


def fpir_by_gallery_size(
    model: EvidenceModel,
    held_out: Labelled,
    sizes: tuple[int, ...] = GALLERY_SIZES,
    targets: tuple[float, ...] = TARGET_FPIRS,
    repeats: int = REPEATS,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Galleries of one photo per held-out person; one photo of each other held-out person
    searched against it (none of them is enrolled)."""
    draws = _Draws(held_out, np.random.default_rng(seed))
    out = []
    for size in sizes:
        if size >= len(draws.names):
            continue
        trials: dict[float, list[dict[str, Any]]] = {t: [] for t in targets}
        for _ in range(repeats):
            gal, probes, people = draws.draw(size)
            for t in targets:
                trials[t].append(_search_trial(model, gal, probes, people, t))
        out += [_pool(trials[t], model, size, t) for t in targets]
    for row in out:
        row["agree"] = agree(row)
    return out


def counts_by_gallery_size(
    model: EvidenceModel,
    held_out: Labelled,
    fmr: float = 1e-4,
    sizes: tuple[int, ...] = GALLERY_SIZES,
    repeats: int = REPEATS,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean number of non-mated gallery photos at or above one fixed threshold per search,
    against the prediction N x FMR(threshold)."""
    t = model.nonmated.threshold_for_fmr(fmr)
    at = model.fmr(t)
    draws = _Draws(held_out, np.random.default_rng(seed + 7))
    points = []
    for size in sizes:
        if size >= len(draws.names):
            continue
        total, searches = 0, 0
        for _ in range(repeats):
            gal, probes, _ = draws.draw(size)
            total += int((probes @ gal.T >= t).sum())
            searches += len(probes)
        lo, hi = rate_ci(total, searches * size)
        points.append(
            {
                "gallery_size": size,
                "predicted": round(size * at.fmr, 5),
                "predicted_ci": [round(size * at.ci[0], 5), round(size * at.ci[1], 5)],
                "measured": round(total / searches, 5),
                "measured_ci": [round(size * lo, 5), round(size * hi, 5)],
                "searches": searches,
            }
        )
    return {"threshold": t, "fmr": at.fmr, "points": points}


def blufr_fpir(
    model: EvidenceModel,
    splits: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    targets: tuple[float, ...] = TARGET_FPIRS,
) -> list[dict[str, Any]]:
    """BLUFR open-set splits, restricted to held-out people: each split's gallery, and its
    probes (with the people they show) of people not in that gallery."""
    out = []
    for t in targets:
        rows = [_search_trial(model, g, p, w, t) for g, p, w in splits if len(g) and len(p)]
        size = int(np.median([len(g) for g, _, _ in splits]))
        row = _pool(rows, model, size, t)
        row["splits"] = len(rows)
        row["agree"] = agree(row)
        out.append(row)
    return out
