"""Open-set searches, scored three ways: what the per-search fit does against today's
gallery-size threshold, on people who are and are not enrolled (pure: arrays in, tables out).

Methods compared at each target FPIR:

- ``gallery_size``: today's threshold, read from the evidence model for the gallery's size;
- ``per_search``: the probe's own fitted tail alone (the gallery-size threshold only where
  the fit is refused);
- ``shipped``: the per-search threshold never below the gallery-size one (what a search lists).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadguard.evaluation.metrics import rate_ci
from leadguard.evidence.tail import TailFit, fit_tail, runs_off_scale, scores_needed

TARGETS = (0.001, 0.01, 0.05)
P_LEVELS = (0.001, 0.01, 0.05, 0.1, 0.2, 0.5)
METHODS = ("gallery_size", "per_search", "shipped")
# the shipped threshold never below the gallery's own shift check (``with_gallery_check``):
# what a search of the enrolled set lists; measured where the set is one gallery
CHECKED = "shipped_gallery_checked"
MIN_GROUP_SEARCHES = 300  # fewer searches: the group's row is shown but flagged
LIST_LENGTH = 20  # a mate counts as found only within the list's length


@dataclass
class Searches:
    """One row per search: its top score (the mate's score for enrolled people), the
    per-search p of that score, and each method's threshold per target."""

    source: str
    gallery: int  # subjects searched
    top: list[float] = field(default_factory=list)
    p_top: list[float] = field(default_factory=list)  # nan where the fit was refused
    mate_score: list[float] = field(default_factory=list)  # nan for non-enrolled probes
    mate_rank: list[int] = field(default_factory=list)  # 0 for non-enrolled probes
    groups: list[tuple[str, ...]] = field(default_factory=list)
    flagged: list[bool] = field(default_factory=list)  # a probable same-person top hit
    top_row: list[int] = field(default_factory=list)  # gallery row of a non-enrolled top hit
    # the top hit a second model also scores as the same person (``flag_by_second_model``)
    flagged_other: list[bool] = field(default_factory=list)
    thresholds: dict[tuple[str, float], list[float]] = field(default_factory=dict)

    def extend(self, other: Searches) -> None:
        self.top += other.top
        self.p_top += other.p_top
        self.mate_score += other.mate_score
        self.mate_rank += other.mate_rank
        self.groups += other.groups
        self.flagged += other.flagged
        self.top_row += other.top_row
        self.flagged_other += other.flagged_other
        for key, v in other.thresholds.items():
            self.thresholds.setdefault(key, []).extend(v)


def run_searches(
    source: str,
    gallery: np.ndarray,
    probes: np.ndarray,
    mates: np.ndarray,
    groups: Sequence[tuple[str, ...]],
    floor: Callable[[float], float],
    exclude_self: bool = False,
    flag_score: float | None = None,
) -> Searches:
    """Search every probe against the gallery (one template per subject).

    ``mates``: the gallery row of each probe's mate, -1 for a person not enrolled;
    ``floor(target)``: the gallery-size threshold; ``exclude_self``: probe i is gallery row
    i and is left out of its own search (each photo against a gallery of the others);
    ``flag_score``: a top stranger at or above it is flagged as a probable same person."""
    n = gallery.shape[0] - (1 if exclude_self else 0)
    need = scores_needed(n)
    out = Searches(source, n)
    floors = {t: floor(t) for t in TARGETS}
    for lo in range(0, probes.shape[0], 512):
        block = probes[lo : lo + 512] @ gallery.T
        for j, row in enumerate(block):
            i = lo + j
            if exclude_self:
                row = np.delete(row, i)
            top = -np.partition(-row, need - 1)[:need] if need < row.size else row
            fit = fit_tail(top, n)
            mate = int(mates[i])
            if exclude_self and mate > i:
                mate -= 1
            if mate >= 0:
                ms = float(row[mate])
                out.mate_score.append(ms)
                out.mate_rank.append(1 + int((row > ms).sum()))
                score = ms
            else:
                out.mate_score.append(float("nan"))
                out.mate_rank.append(0)
                score = float(top.max())
            hit = int(np.argmax(row)) if mate < 0 else -1
            out.top_row.append(hit + 1 if exclude_self and 0 <= i <= hit else hit)
            out.top.append(score)
            out.p_top.append(fit.search_p(score) if isinstance(fit, TailFit) else float("nan"))
            out.groups.append(tuple(groups[i]))
            out.flagged.append(flag_score is not None and mate < 0 and score >= flag_score)
            for t in TARGETS:
                own = fit.score_for(t) if isinstance(fit, TailFit) else None
                if isinstance(fit, TailFit) and own is not None and runs_off_scale(fit, own):
                    own = None  # refused as tail.decide refuses it
                values = {
                    "gallery_size": floors[t],
                    "per_search": floors[t] if own is None else own,
                    "shipped": floors[t] if own is None else max(floors[t], own),
                }
                for m, v in values.items():
                    out.thresholds.setdefault((m, t), []).append(v)
    return out


def methods_of(s: Searches) -> tuple[str, ...]:
    """The methods scored: the three always, the gallery-checked one where it was measured."""
    return METHODS + ((CHECKED,) if any(m == CHECKED for m, _ in s.thresholds) else ())


def with_gallery_check(s: Searches, raised: dict[float, float]) -> None:
    """Add the shipped threshold never below the gallery check's ``raised[target]``."""
    for t, floor in raised.items():
        s.thresholds[(CHECKED, t)] = [max(v, floor) for v in s.thresholds[("shipped", t)]]


def _rate(count: int, n: int) -> dict[str, Any]:
    lo, hi = rate_ci(count, n) if n else (float("nan"), float("nan"))
    return {"count": count, "searches": n, "rate": count / n if n else None, "ci95": [lo, hi]}


def _group_masks(s: Searches, keep: np.ndarray) -> list[tuple[str, np.ndarray]]:
    names = sorted({g for gs in s.groups for g in gs})
    out = [("all", keep)]
    for g in names:
        out.append((g, keep & np.array([g in gs for gs in s.groups], dtype=bool)))
    return out


def fpir_table(s: Searches) -> list[dict[str, Any]]:
    """Non-enrolled searches with a listed candidate, per target, method and probe group;
    where probable same-person top hits were flagged, also without them."""
    nonmated = np.array(s.mate_rank) == 0
    top = np.array(s.top)
    flagged = np.array(s.flagged, dtype=bool)
    subsets = [("all searches", nonmated)]
    if flagged.any():
        subsets.append(("without flagged same-person top hits", nonmated & ~flagged))
    other = np.array(s.flagged_other, dtype=bool)
    if other.any():
        subsets.append(
            ("without top hits the second model scores as the same person", nonmated & ~other)
        )
    rows = []
    for subset, keep in subsets:
        for group, mask in _group_masks(s, keep):
            n = int(mask.sum())
            if n == 0:
                continue
            for t in TARGETS:
                row: dict[str, Any] = {
                    "source": s.source,
                    "gallery": s.gallery,
                    "subset": subset,
                    "group": group,
                    "target_fpir": t,
                    "searches": n,
                    "enough_searches": n >= MIN_GROUP_SEARCHES,
                }
                for m in methods_of(s):
                    thr = np.array(s.thresholds[(m, t)])
                    row[m] = _rate(int((top[mask] >= thr[mask]).sum()), n)
                rows.append(row)
    return rows


def fnir_table(s: Searches) -> list[dict[str, Any]]:
    """Searches of enrolled people whose mate is not listed (below the method's threshold,
    or beyond the list's length), per target and method."""
    mated = np.array(s.mate_rank) > 0
    n = int(mated.sum())
    if n == 0:
        return []
    score = np.array(s.mate_score)[mated]
    rank = np.array(s.mate_rank)[mated]
    rows = []
    for t in TARGETS:
        row: dict[str, Any] = {"source": s.source, "target_fpir": t, "searches": n}
        for m in methods_of(s):
            thr = np.array(s.thresholds[(m, t)])[mated]
            found = (score >= thr) & (rank <= LIST_LENGTH)
            row[m] = _rate(int((~found).sum()), n)
        rows.append(row)
    return rows


def p_distribution(s: Searches) -> dict[str, Any]:
    """Under non-enrolled searches, the share of top scores whose per-search p is below each
    level: uniform means the share equals the level, conservative means below it."""
    nonmated = np.array(s.mate_rank) == 0
    p = np.array(s.p_top)[nonmated]
    fitted = p[np.isfinite(p)]
    return {
        "source": s.source,
        "searches": int(nonmated.sum()),
        "fit_refused": int((~np.isfinite(p)).sum()),
        "levels": [{"level": x, **_rate(int((fitted < x).sum()), fitted.size)} for x in P_LEVELS],
        "p_sorted_sample": np.sort(fitted)[:: max(1, fitted.size // 500)].round(5).tolist(),
    }


def flag_by_second_model(s: Searches, second: np.ndarray, usable: np.ndarray, score: float) -> None:
    """Flag each non-enrolled search whose top hit a second, independent model also scores at
    or above ``score`` against the probe (each photo against the others: probe i is gallery
    row i). ``second``: that model's unit templates, row for row; ``usable``: rows it
    could compute (a row it could not is never flagged). Unlike the first model's own
    flag, this one does not select on the score being judged."""
    flags = []
    for i, hit in enumerate(s.top_row):
        ok = hit >= 0 and bool(usable[i]) and bool(usable[hit])
        flags.append(ok and float(second[i] @ second[hit]) >= score)
    s.flagged_other = flags
