"""``leadguard eval evidence MANIFEST --searches``: open-set searches of people who are and
are not enrolled, scored with the per-search fit and with today's gallery-size threshold.

- With ``--blufr LFW``: each BLUFR split's gallery and probes, restricted to the people the
  evidence model was *not* fitted on (the seeded identity half it held out), so today's
  threshold is judged on people it never saw; probes of enrolled people give FNIR.
- Without: each photo of the manifest against a gallery of one photo of every other
  identity (utkface64: each photo against all the others), so no probe is enrolled. A top
  stranger scoring at or above the score that one in a million of the evidence model's
  stranger pairs reach is flagged as a probable same person (UTKFace repeats people under
  different file names); results are given with and without them. That flag selects on the
  score being judged; ``flag_with`` names a second model whose own evidence model's
  1-in-10,000 stranger score, reached by that model on the same pair, flags a probable same
  person independently of the first model's score (results also without those).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from leadguard.core.errors import EvidenceUnavailable, InputError
from leadguard.evaluation import protocols, report
from leadguard.evaluation.run import EvalResult, Progress, default_out, provenance, save_record
from leadguard.evaluation.templates import Acquired, compute_templates, dataset_checksum
from leadguard.evidence import model as em
from leadguard.evidence.fit import identity_half
from leadguard.evidence.groups import subject_groups
from leadguard.evidence.search_check import (
    TARGETS,
    Searches,
    flag_by_second_model,
    fnir_table,
    fpir_table,
    p_distribution,
    run_searches,
    with_gallery_check,
)
from leadguard.face_models import model_space
from leadguard.storage.workspace import Workspace

FLAG_FMR = 1e-6  # a top stranger above the score 1 in a million model strangers reach
SECOND_FLAG_FMR = 1e-4  # the second model's own score for 1 in 10,000 of its strangers


Floor = Callable[[float, int, bool], float]  # (target FPIR, gallery size, worst group) -> score


def _vectors(acq: dict[Path, Acquired], paths: list[Path]) -> np.ndarray:
    vs = [acq[p].vector for p in paths]
    return np.vstack([v for v in vs if v is not None]).astype(np.float32)


def _at(floor: Floor, n: int, worst: bool, target: float) -> float:
    return floor(target, n, worst)


def _groups(im: protocols.LabelledImage) -> tuple[str, ...]:
    return subject_groups(im.demographics.get("sex"), im.demographics.get("race"))


def _blufr(
    data: Path,
    by_path: dict[Path, protocols.LabelledImage],
    acq: dict[Path, Acquired],
    held: set[str],
    floor: Floor,
    worst_group: bool,
) -> Searches:
    out: Searches | None = None
    for sp in protocols.blufr_splits(data):
        gal = [(p, i) for p, i in sp.gallery if i in held and acq[p].vector is not None]
        row_of = {i: r for r, (_, i) in enumerate(gal)}
        probes = [
            (p, i) for p, i in sp.probes if i in held and p in acq and acq[p].vector is not None
        ]
        g = _vectors(acq, [p for p, _ in gal])
        x = _vectors(acq, [p for p, _ in probes])
        mates = np.array([row_of.get(i, -1) for _, i in probes])
        groups = [_groups(by_path[p]) if p in by_path else () for p, _ in probes]
        n = len(gal)
        s = run_searches(
            f"BLUFR (held-out people, split {sp.number})",
            g,
            x,
            mates,
            groups,
            partial(_at, floor, n, worst_group),
        )
        if out is None:
            out = s
            out.source = "BLUFR (held-out people, 10 splits)"
        else:
            out.extend(s)
    assert out is not None
    return out


def _each_against_others(
    images: list[protocols.LabelledImage],
    acq: dict[Path, Acquired],
    floor: Floor,
    worst_group: bool,
    flag_score: float,
) -> Searches:
    """Each photo against one photo of every other identity (its own identity left out)."""
    kept = [im for im in images if acq[im.path].vector is not None]
    first: dict[str, int] = {}
    for r, im in enumerate(kept):
        first.setdefault(im.identity, r)
    rows = sorted(first.values())
    if len(rows) != len(kept):
        raise InputError(
            f"{len(kept) - len(rows):,} photos share an identity with another: each photo "
            "against the others needs one photo per identity (for LFW give --blufr)"
        )
    x = _vectors(acq, [im.path for im in kept])
    n = len(kept) - 1
    return run_searches(
        "each photo against all the others",
        x,
        x,
        np.full(len(kept), -1),
        [_groups(im) for im in kept],
        partial(_at, floor, n, worst_group),
        exclude_self=True,
        flag_score=flag_score,
    )


def _gallery_check(
    model: em.EvidenceModel,
    images: list[protocols.LabelledImage],
    acq: dict[Path, Acquired],
    floor: Floor,
    worst: bool,
    searches: Searches,
) -> dict[str, Any]:
    """The set as one enrolled gallery: its own cross-subject pairs (probable duplicates
    excluded), and the shift check's raise of each target's gallery-size threshold, as a
    search of it would apply (``gallery_figures.gallery_shift``). Measured once on the whole
    set (each search's gallery lacks only its probe)."""
    from leadguard.evidence.duplicates import stranger_figures
    from leadguard.evidence.gallery_figures import gallery_shift, small
    from leadguard.evidence.gallery_pairs import measure_pairs

    kept = [im for im in images if acq[im.path].vector is not None]
    pairs = measure_pairs(
        _vectors(acq, [im.path for im in kept]),
        [im.identity for im in kept],
        [_groups(im) for im in kept],
    )
    figures = stranger_figures(pairs, {})
    out: dict[str, Any] = {
        "pairs": pairs.measured_pairs,
        "sampled": pairs.sampled,
        "probable_duplicates_excluded": len(figures.excluded),
        "raised": {},
    }
    if small(figures):
        out["note"] = "too few cross-subject pairs for a gallery check"
        return out
    n = len(kept) - 1
    raised: dict[float, float] = {}
    for t in TARGETS:
        base = floor(t, n, worst)
        check = gallery_shift(model, figures, base)
        raised[t] = check.threshold if check is not None and check.shifted else base
        out["raised"][f"{t:g}"] = {"gallery_size": base, "checked": raised[t]}
    with_gallery_check(searches, raised)
    return out


def _second_flag(
    ws: Workspace,
    other_model: str,
    images: list[protocols.LabelledImage],
    acq: dict[Path, Acquired],
    searches: Searches,
    progress: Progress | None,
) -> str:
    """Flag the top hits that ``other_model`` also scores at or above its own evidence
    model's 1-in-10,000 stranger score; its templates are cached in this workspace."""
    other_settings = ws.settings.model_copy(update={"face_model": other_model})
    other = model_space(other_settings)
    if other.key == model_space(ws.settings).key:
        raise InputError(f"{other_model!r} is the workspace's own model; name another one")
    stored = em.latest(ws, other.key)
    if stored is None:
        raise EvidenceUnavailable(f"no evidence model for {other_model!r}: it cannot flag")
    kept = [im for im in images if acq[im.path].vector is not None]
    second = compute_templates(
        Workspace(ws.root, other_settings), other, [im.path for im in kept], progress
    )
    usable = np.array([second[im.path].vector is not None for im in kept])
    dim = next((len(v) for a in second.values() if (v := a.vector) is not None), 1)
    x = np.stack(
        [
            np.asarray(second[im.path].vector if ok else np.zeros(dim), dtype=np.float32)
            for im, ok in zip(kept, usable, strict=True)
        ]
    )
    score = stored.model.nonmated.threshold_for_fmr(SECOND_FLAG_FMR)
    flag_by_second_model(searches, x, usable, score)
    return (
        f"separately, a top hit that {other_model} also scores at or above {score:.4f} (the "
        f"score 1 in {1 / SECOND_FLAG_FMR:,.0f} of its own evidence model's stranger pairs "
        f"reach; {other_model} computed {int(usable.sum()):,} of {len(kept):,} photos) is "
        "flagged by the second model"
    )


def evaluate_searches(
    ws: Workspace,
    manifest: Path,
    blufr: Path | None = None,
    out: Path | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    flag_with: str | None = None,
) -> EvalResult:
    space = model_space(ws.settings)
    if flag_with is not None and blufr is not None:
        raise InputError(
            "--flag-with flags same-person top hits of each photo against the "
            "others: give it without --blufr (BLUFR's identities are labelled)"
        )
    stored = em.latest(ws, space.key)
    if stored is None:
        raise EvidenceUnavailable(
            f"no evidence model for embedding space {space.key}: today's gallery-size "
            "threshold, which the per-search fit is compared with, cannot be set; run `leadguard "
            "eval evidence MANIFEST` first"
        )
    model = stored.model
    images = protocols.read_labelled_manifest(manifest, ws.settings.source_roots)
    paths = [im.path for im in images]
    if blufr is not None:
        paths += [p for sp in protocols.blufr_splits(blufr) for p, _ in (*sp.gallery, *sp.probes)]
    acq = compute_templates(ws, space, paths, progress)

    def floor(t: float, n: int, worst: bool) -> float:
        return model.gallery_threshold(t, max(n, 1), worst).threshold

    worst = ws.settings.worst_group_threshold
    flag_score = model.nonmated.threshold_for_fmr(FLAG_FMR)
    if blufr is not None:
        held = {im.identity for im in images if identity_half(im.identity, seed) == 1}
        searches = _blufr(blufr, {im.path: im for im in images}, acq, held, floor, worst)
        flag_note = None
    else:
        searches = _each_against_others(images, acq, floor, worst, flag_score)
        checked = _gallery_check(model, images, acq, floor, worst, searches)
        flag_note = (
            f"a top stranger scoring at or above {flag_score:.4f} (the score reached by 1 in "
            f"{1 / FLAG_FMR:,.0f} of the evidence model's stranger pairs) is flagged as a "
            "probable same person"
        )
        if flag_with is not None:
            flag_note += "; " + _second_flag(ws, flag_with, images, acq, searches, progress)
        else:
            flag_note += "; no second model was consulted"
    metrics: dict[str, Any] = {
        "source": searches.source,
        "evidence_model": stored.describe(),
        "worst_group_threshold": worst,
        "searches": len(searches.top),
        "gallery_subjects": searches.gallery,
        "flag_rule": flag_note,
        "flagged_searches": int(sum(searches.flagged)),
        "gallery_check": checked if blufr is None else None,
        "flagged_by_second_model": int(sum(searches.flagged_other)) if flag_with else None,
        "fpir": fpir_table(searches),
        "fnir": fnir_table(searches),
        "p_distribution": p_distribution(searches),
    }
    out = out or default_out(ws, "evidence-searches")
    out.mkdir(parents=True, exist_ok=True)
    figs = [_plot_p(out, metrics["p_distribution"])]
    extra = manifest.read_bytes() + f"searches seed={seed}".encode()
    prov = provenance(space, "evidence-searches", manifest, dataset_checksum(acq, extra), acq)
    prov["evidence_model_sha256"] = stored.sha256
    report.write_report(out, "LeadGuard per-search open-set check", prov, metrics, figs)
    rid = save_record(ws, prov, metrics, out, [])
    return EvalResult(rid, out, metrics)


def _plot_p(out: Path, dist: dict[str, Any]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    p = np.array(dist["p_sorted_sample"])
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if p.size:
        ax.plot(np.linspace(0, 1, p.size), p, ".", ms=3, label="non-enrolled searches")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="uniform")
    ax.set_xlabel("uniform quantile")
    ax.set_ylabel("per-search p of the top stranger")
    ax.set_title(f"{dist['source']}\n(below the line: anti-conservative)", fontsize=9)
    ax.legend(fontsize=8)
    name = "per-search-p.png"
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    plt.close(fig)
    return name
