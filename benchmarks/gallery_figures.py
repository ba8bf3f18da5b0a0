"""The gallery's own stranger figures on an enrolled workspace: probable duplicates found,
per-group FMR at the list threshold with exact counts and Clopper-Pearson intervals, with and
without the probable duplicates, and what the shift check does with and without them.

Usage: python benchmarks/gallery_figures.py -w WORKSPACE [--out results/gallery_figures.json]
(docs/evidence.md, "The gallery's own figures": utkface64 enrolled with SFace).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, machine
from leadguard.evidence import model as em
from leadguard.evidence.duplicates import DIFFERENT, StrangerFigures, stranger_figures
from leadguard.evidence.gallery_figures import gallery_shift, resolutions
from leadguard.evidence.gallery_pairs import ALL, measure_pairs
from leadguard.evidence.groups import subject_groups
from leadguard.evidence.shift import GalleryTail, compare
from leadguard.face_models import model_space
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace


def rows(figs: StrangerFigures, score: float) -> list[dict[str, Any]]:
    out = []
    for g in (ALL, *figs.groups()):
        r = figs.rate(score, g)
        lo, hi = r.ci
        out.append(
            {
                "group": g,
                "pairs": r.pairs,
                "at_or_above": r.count,
                "fmr": r.fmr,
                "ci95": [lo, hi],
                "measured": r.measured,
                "informative": r.informative,
                "words": r.words(),
            }
        )
    return out


def second_model(
    root: Path, ws: Workspace, figs: StrangerFigures, sample: int, unflagged: int
) -> dict[str, Any]:
    """Each flagged pair scored by a second model, against that model's own strangers (its
    scores of ``sample`` seeded random gallery images): the share of its stranger pairs at or
    above the flagged pair's score. A pair above its 1-in-10,000 stranger score is one that
    the second model also scores as the same person."""
    import numpy as np

    from leadguard.evaluation.templates import compute_templates

    other = Workspace.open(root)
    space = model_space(other.settings)
    from sqlalchemy import select

    from leadguard.storage.tables import FaceRecord, ImageRecord, TemplateRecord

    with ws.session() as s:
        q = (
            select(TemplateRecord.id, ImageRecord.source_path)
            .join(FaceRecord, TemplateRecord.face_id == FaceRecord.id)
            .join(ImageRecord, FaceRecord.image_id == ImageRecord.id)
            .where(TemplateRecord.space_key == model_space(ws.settings).key)
        )
        path_of = {int(i): str(p) for i, p in s.execute(q)}
    rng = np.random.default_rng(0)
    ids = sorted(path_of)
    pick = [ids[i] for i in rng.choice(len(ids), size=min(sample, len(ids)), replace=False)]
    flagged = [(d.template_a, d.template_b) for d in figs.duplicates]
    keys = {d.key for d in figs.duplicates}
    pp = figs.pairs
    below: list[tuple[int, int, float]] = []  # the highest pairs the rule did not flag
    for i in range(pp.top_score.size):
        a, b = int(pp.top_a[i]), int(pp.top_b[i])
        sa, sb = sorted((pp.subjects[a], pp.subjects[b]))
        if (sa, sb) not in keys and len(below) < unflagged:
            below.append((int(pp.template_ids[a]), int(pp.template_ids[b]), float(pp.top_score[i])))
    wanted = {*pick, *(t for p in flagged for t in p), *(t for a, b, _ in below for t in (a, b))}
    paths = [Path(path_of[i]) for i in wanted]
    acq = compute_templates(other, space, paths)

    def vec(i: int) -> Any:
        a = acq.get(Path(path_of[i]))
        return None if a is None or a.vector is None else a.vector

    ref = np.array([v for i in pick if (v := vec(i)) is not None], dtype=np.float32)
    sims = ref @ ref.T
    strangers = np.sort(sims[np.triu_indices(len(ref), 1)])[::-1]
    level = float(strangers[max(0, int(len(strangers) * 1e-4) - 1)])
    out = []
    for d in figs.duplicates:
        va, vb = vec(d.template_a), vec(d.template_b)
        if va is None or vb is None:
            out.append({"a": d.subject_a, "b": d.subject_b, "second_score": None})
            continue
        sc = float(np.dot(va, vb))
        share = float((strangers >= sc).mean())
        out.append(
            {"a": d.subject_a, "b": d.subject_b, "second_score": sc, "stranger_share": share}
        )
    confirmed = sum(1 for r in out if (r.get("second_score") or -1.0) >= level)
    nxt = []
    for a, b, sc in below:
        va, vb = vec(a), vec(b)
        nxt.append(
            {"score": sc, "second_score": None if va is None or vb is None else float(va @ vb)}
        )
    scored_next = [r for r in nxt if r["second_score"] is not None]
    next_confirmed = [r for r in scored_next if r["second_score"] >= level]
    return {
        "space": space.key,
        "stranger_pairs": len(strangers),
        "level_1e-4": level,
        "confirmed": confirmed,
        "scored": sum(1 for r in out if r.get("second_score") is not None),
        "pairs": out,
        "unflagged_next": {
            "pairs": len(below),
            "sface_score_range": [
                min((x[2] for x in below), default=None),
                max((x[2] for x in below), default=None),
            ],
            "scored": len(scored_next),
            "confirmed": len(next_confirmed),
            "confirmed_sface_scores": sorted((r["score"] for r in next_confirmed), reverse=True),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-w", "--workspace", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=RESULTS / "gallery_figures.json")
    ap.add_argument(
        "--second",
        type=Path,
        help="A workspace set to another face model: its templates of the flagged pairs' "
        "images, and of --sample random gallery images for its own stranger range.",
    )
    ap.add_argument("--sample", type=int, default=600)
    ap.add_argument("--next", type=int, default=100, help="Unflagged pairs also scored.")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    ws = Workspace.open(args.workspace)
    space = model_space(ws.settings)
    with ws.session() as s:
        data = repo.labelled_templates(s, space.key)
        verdicts = resolutions(s, space.key)
    groups = [subject_groups(sx, rc) for sx, rc in zip(data.sex, data.race, strict=True)]
    t0 = time.perf_counter()
    pairs = measure_pairs(data.vectors, list(data.subjects), groups, data.ids)
    seconds = time.perf_counter() - t0
    without = stranger_figures(pairs, verdicts)  # probable duplicates excluded
    counted = {d.key: (DIFFERENT, "counted") for d in without.duplicates}
    with_dups = stranger_figures(pairs, counted)  # everything counted
    stored = em.latest(ws, space.key)
    assert stored is not None, "no evidence model for this space"
    model = stored.model
    st = ws.settings
    base = model.gallery_threshold(st.target_fpir, len(data.ids), st.worst_group_threshold)
    t = base.threshold
    raw = compare(model, GalleryTail(dict(pairs.hists)), t)  # all pairs, nothing excluded
    robust_with = gallery_shift(model, with_dups, t)
    robust_without = gallery_shift(model, without, t)

    def shift(c: Any) -> dict[str, Any] | None:
        if c is None:
            return None
        return {
            "shifted": c.shifted,
            "group": c.group,
            "threshold": c.threshold,
            "note": c.support_note,
        }

    result = {
        "workspace_templates": len(data.ids),
        "space": space.key,
        "model": {"source": stored.source, "domain": model.domain},
        "seconds_measure_pairs": round(seconds, 2),
        "pairs": {
            "measured": pairs.measured_pairs,
            "possible": pairs.possible_pairs,
            "sampled": pairs.sampled,
        },
        "duplicates": {
            "found": len(without.duplicates),
            "complete": without.complete,
            "template_pairs_excluded": without.excluded_pairs,
            "cutoff_overall": min((d.cutoff for d in without.duplicates), default=None),
            "pairs": [
                {
                    "a": d.subject_a,
                    "b": d.subject_b,
                    "score": d.score,
                    "cutoff": d.cutoff,
                    "range": d.group,
                    "expected_strangers": d.expected_strangers,
                }
                for d in without.duplicates
            ],
        },
        "list_threshold": {"score": t, "statement": base.statement()},
        "shift": {
            "all_pairs_counted_old_rule": shift(raw),
            "duplicates_counted_robust_rule": shift(robust_with),
            "duplicates_excluded_robust_rule": shift(robust_without),
        },
        "at_threshold_without_duplicates": rows(without, t),
        "at_threshold_with_duplicates": rows(with_dups, t),
        "machine": machine(),
    }
    if args.second is not None:
        result["second_model"] = second_model(args.second, ws, without, args.sample, args.next)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=str))
    print(json.dumps({k: v for k, v in result.items() if k.startswith(("dup", "shift", "list"))},
                     indent=1, default=str)[:6000])  # fmt: skip


if __name__ == "__main__":
    main()
