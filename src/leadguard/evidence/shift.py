"""Shift detection: the gallery's own non-mated score tail, kept cheaply and incrementally.

Every template added to the gallery is compared with a seeded sample of earlier templates of
other subjects (up to ``SAMPLE`` uniformly, and up to ``SAMPLE`` within its own recorded
sex/race group); the scores go into histograms, overall and per group. The tail is derived
data (like the vector index) and kept beside the index; it is rebuilt from the database when
templates were removed. When the gallery's tail is heavier than the evidence model allows
(the gallery's 95 % lower bound above the model's 95 % upper bound, at the operating threshold
or at the scores where the model's FMR is 1e-2, 1e-3 or 1e-4), the statements are not
validated for this gallery, and the threshold follows the gallery's own tail.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from zipfile import BadZipFile

import numpy as np

from leadguard.core.files import replace_file
from leadguard.evaluation.metrics import rate_ci
from leadguard.evidence.chance import rate_words
from leadguard.evidence.distribution import ScoreHistogram
from leadguard.evidence.groups import MIN_GROUP_COMPARISONS, group_design_effect, subject_groups
from leadguard.evidence.model import EvidenceModel
from leadguard.storage import queries as repo
from leadguard.storage.resident import Slot
from leadguard.storage.workspace import Workspace

log = logging.getLogger(__name__)
SAMPLE = 256  # earlier templates each new template is compared with (uniform; within group)
BLOCK = 256  # templates whose samples are drawn and scored together
MIN_TAIL_PAIRS = 2_000  # fewer sampled gallery pairs: no check is made
LEVELS = (1e-2, 1e-3, 1e-4)  # model FMRs at which the tails are compared, besides the threshold
ALL = "all"


@dataclass
class GalleryTail:
    hists: dict[str, ScoreHistogram] = field(default_factory=dict)
    template_count: int = 0
    last_id: int = 0

    def add(self, group: str, scores: np.ndarray) -> None:
        h = self.hists.get(group) or ScoreHistogram.empty()
        self.hists[group] = h.add(scores)

    def to_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {}
        for name, h in self.hists.items():
            arrays.update(h.sparse(name))
        meta = {"groups": sorted(self.hists), "count": self.template_count, "last": self.last_id}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> GalleryTail:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            hists = {g: ScoreHistogram.from_sparse(z, g) for g in meta["groups"]}
        return cls(hists, int(meta["count"]), int(meta["last"]))


TAIL: Slot[GalleryTail] = Slot("tail")  # resident per space, with its generation


def tail_path(ws: Workspace, space_key: str) -> Path:
    return ws.index_path(space_key).with_suffix(".gallery-tail.npz")


def _load(path: Path) -> GalleryTail | None:
    try:
        return GalleryTail.from_bytes(path.read_bytes()) if path.is_file() else None
    except (OSError, ValueError, KeyError, EOFError, BadZipFile) as exc:
        log.warning("gallery tail %s unreadable (%s); rebuilding it", path, exc)
        return None


def update_tail(tail: GalleryTail, data: repo.LabelledTemplates, seed: int = 0) -> GalleryTail:
    """Add the templates after ``tail.last_id`` (each against sampled earlier ones).

    Templates are taken in blocks of ``BLOCK``: each one still draws its own ``SAMPLE``
    earlier templates independently (uniformly, then within each of its groups), but the
    draws, the scores and the histogram counts of a block are computed together
    (benchmarks/gallery_tail.py)."""
    n = len(data.ids)
    start = int(np.searchsorted(data.ids, tail.last_id, side="right"))
    if start >= n:
        return tail
    x = data.vectors
    _, subj = np.unique(np.asarray(data.subjects, dtype=object).astype(str), return_inverse=True)
    groups = [subject_groups(s, r) for s, r in zip(data.sex, data.race, strict=True)]
    members: dict[str, np.ndarray] = {}
    for g in sorted({g for gs in groups for g in gs}):
        members[g] = np.array([i for i, gs in enumerate(groups) if g in gs], dtype=np.int64)
    rng = np.random.default_rng([seed, int(data.ids[start])])
    everyone = np.arange(n, dtype=np.int64)
    for lo in range(max(start, 1), n, BLOCK):
        hi = min(n, lo + BLOCK)
        _add_sampled(tail, ALL, rng, x, subj, everyone[lo:hi], everyone, everyone[lo:hi])
        for g, pool in members.items():  # the group's members in [lo, hi), and how many before
            first, last = np.searchsorted(pool, [lo, hi])
            if last > first:
                where = everyone[first:last]
                _add_sampled(tail, g, rng, x, subj, pool[first:last], pool, where)
    tail.template_count = n
    tail.last_id = int(data.ids[-1])
    return tail


def _add_sampled(
    tail: GalleryTail,
    group: str,
    rng: np.random.Generator,
    x: np.ndarray,
    subj: np.ndarray,
    rows: np.ndarray,
    pool: np.ndarray,
    earlier: np.ndarray,
) -> None:
    """Score each of ``rows`` against min(SAMPLE, e) of the first e = ``earlier`` members of
    ``pool`` (drawn uniformly with replacement), keeping only pairs of different subjects."""
    keep = earlier > 0
    rows, earlier = rows[keep], earlier[keep]
    if rows.size == 0:
        return
    draws = rng.integers(0, earlier[:, None], size=(rows.size, SAMPLE))
    valid = np.arange(SAMPLE)[None, :] < np.minimum(earlier, SAMPLE)[:, None]
    picks = pool[draws]
    valid &= subj[picks] != subj[rows][:, None]
    near = x.take(picks.ravel(), axis=0).reshape(*picks.shape, x.shape[1])
    scores = np.matmul(near, x[rows][:, :, None])[:, :, 0]
    if valid.any():
        tail.add(group, scores[valid])


def gallery_tail(
    ws: Workspace, space_key: str, table: tuple[int, ...] | None = None
) -> GalleryTail:
    """The gallery's tail, brought up to date with the database (incrementally when only
    templates were added; rebuilt when any were removed).

    ``table``: the gallery generation the caller has just read (``repo.templates_stamp``).
    With it, a long-lived workspace object (the server's) keeps the tail it last agreed on
    and uses it as it is while the generation and the tail file are unchanged: no per-search
    count of the templates table."""
    path = tail_path(ws, space_key)
    if table is not None:
        held = ws.resident.get(TAIL, space_key, (_mtime(path), table))
        if held is not None:
            return held
    tail = _load(path)
    with ws.session() as s:
        summary = repo.template_id_summary(s, space_key)
        current = tail is not None and (
            summary["count"] == tail.template_count and summary["id_max"] == tail.last_id
        )
        if not current:
            data = repo.labelled_templates(s, space_key)
    if not current:
        if (
            tail is None
            or summary["count"] < tail.template_count
            or (summary["id_max"] < tail.last_id)
        ):
            tail = GalleryTail()
        tail = update_tail(tail, data)
        replace_file(path, tail.to_bytes())  # a search or enrollment may be reading it
    assert tail is not None
    if table is not None:
        ws.resident.put(TAIL, space_key, (_mtime(path), table), tail)
    return tail


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


@dataclass(frozen=True)
class ShiftCheck:
    shifted: bool
    group: str  # where the gallery's tail is heaviest beyond the model ("all" = overall)
    score: float
    gallery_count: int
    gallery_pairs: int
    model_upper: float
    threshold: float  # the score at which the gallery's own tail has the model's stated FMR
    pairs_checked: int
    support_note: str | None = None  # the raise was limited for want of distinct subjects
    base: float | None = None  # the threshold checked (gallery_figures.gallery_shift sets it)

    @property
    def gallery_rate(self) -> float:
        return self.gallery_count / self.gallery_pairs if self.gallery_pairs else 0.0

    def statement(self) -> str:
        who = "all groups" if self.group == ALL else self.group
        return (
            f"this gallery's own strangers ({who}, {self.gallery_pairs:,} pairs) reach "
            f"a score of {self.score:.4f} at a rate of {rate_words(self.gallery_rate)}, more than "
            f"the evidence model's 95 % upper bound of {rate_words(self.model_upper)}: the "
            "model's statements are not validated for this gallery"
        ) + self._threshold_words()

    def _threshold_words(self) -> str:
        """What the check did to the threshold: a raise is said only where there was one."""
        if self.base is None or self.threshold > self.base:
            raised = f" to {self.threshold:.4f}" if self.base is not None else ""
            return (
                f", and the threshold is raised{raised}, where the gallery's own, heavier tail "
                "has the model's stated rate"
            ) + (f"; {self.support_note}" if self.support_note else "")
        if self.support_note:
            return f"; the threshold is not raised: {self.support_note}"
        return (
            f"; the threshold {self.base:.4f} is not raised: at it, this gallery's own strangers "
            "are no more frequent than the model states"
        )


def compare(model: EvidenceModel, tail: GalleryTail, threshold: float) -> ShiftCheck | None:
    """The first place where the gallery's tail is significantly heavier than the model's 95 %
    upper bound; an unshifted check when none is (None: too few sampled pairs to check)."""
    overall = tail.hists.get(ALL)
    if overall is None or overall.comparisons < MIN_TAIL_PAIRS:
        return None
    levels = sorted({threshold, *(model.nonmated.threshold_for_fmr(f) for f in LEVELS)})
    pairs: list[tuple[str, ScoreHistogram, ScoreHistogram | None]] = [
        (ALL, overall, model.nonmated)
    ]
    pairs += [
        (g, h, model.groups.get(g))
        for g, h in sorted(tail.hists.items())
        if g != ALL and h.comparisons >= MIN_TAIL_PAIRS
    ]
    checked = 0
    worst: ShiftCheck | None = None
    for g, gal, mod in pairs:
        if mod is None or mod.comparisons < MIN_GROUP_COMPARISONS:
            continue
        for s in levels:
            deff = model.design_effect(s) if g == ALL else group_design_effect(model, g, s)
            m_upper = rate_ci(mod.at_least(s) / deff, mod.comparisons / deff)[1]
            count = gal.at_least(s)
            g_lower = rate_ci(count, gal.comparisons)[0]
            checked += 1
            if g_lower > m_upper:
                stated = model.nonmated.at_least(threshold) / model.nonmated.comparisons
                t = max(threshold, gal.threshold_for_fmr(stated))
                c = ShiftCheck(True, g, s, count, gal.comparisons, m_upper, t, checked)
                if worst is None or c.threshold > worst.threshold:
                    worst = c
    if worst is not None:
        return worst
    return ShiftCheck(
        False,
        ALL,
        threshold,
        overall.at_least(threshold),
        overall.comparisons,
        0.0,
        threshold,
        checked,
    )


def check_shift(
    ws: Workspace, model: EvidenceModel, threshold: float, table: tuple[int, ...] | None = None
) -> ShiftCheck | None:
    return compare(model, gallery_tail(ws, model.space_key, table), threshold)
