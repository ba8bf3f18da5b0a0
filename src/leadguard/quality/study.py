"""``leadguard eval quality``: does quality predict error, and where should the gate sit?

1. Every image of LFW View 2 is measured. A unified score (linear model of the measure
   scores predicting a face's mated comparison score) is fitted on the calibration half of
   the people (the evidence model's identity split) and judged on the held-out half.
2. Error-versus-discard (EDC): FNMR of held-out mated pairs at one fixed threshold (FMR
   1e-3 of the evidence model) as the lowest-quality share of pairs is discarded
   (pair quality = the lower of the two).
3. Controlled degradations of held-out faces (blur, down-scaling, JPEG, darkening) and
   measured yaw: the matching measure, FNMR and mated rank-1 at each level.
4. A policy file: warning bands where FNMR is at least twice the clean rate, refusal floors
   where a degradation's FNMR reaches 50 %; written beside the report.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter

from leadguard.core.types import Box
from leadguard.evaluation import protocols
from leadguard.evaluation.templates import compute_templates
from leadguard.evidence.fit import identity_half
from leadguard.face_models import model_space
from leadguard.pipeline.decode import read_file
from leadguard.pipeline.worker import Result, Task, WorkerPool
from leadguard.quality.gate import Unified
from leadguard.storage.workspace import Workspace

Progress = Callable[[int, int], None]
DISCARD = tuple(round(x, 2) for x in np.arange(0.0, 0.51, 0.05))
DEGRADATIONS: dict[str, tuple[str, tuple[float, ...]]] = {
    # name: (matching measure, levels; the first is the untouched photo)
    "blur": ("sharpness", (0.0, 1.0, 2.0, 3.0, 4.5)),
    "downscale": ("inter_eye_distance", (0.0, 30.0, 22.0, 16.0, 12.0)),
    "jpeg": ("compression", (0.0, 30.0, 15.0, 8.0, 4.0)),
    "darken": ("under_exposure", (0.0, 0.5, 0.3, 0.18, 0.1)),
    "crop": ("in_frame", (0.0, 0.15, 0.3, 0.45, 0.6)),  # share of the face cut off (left)
}


def degrade(data: bytes, kind: str, level: float, ied: float, box: Box | None = None) -> bytes:
    """One controlled degradation of an image, re-encoded losslessly (JPEG: at ``level``).
    ``crop`` cuts the image at ``level`` of the way across the face ``box``."""
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if level and kind == "crop" and box is not None:
        cut = max(0, min(img.width - 8, round(box.left + level * box.width)))
        img = img.crop((cut, 0, img.width, img.height))
    elif level:
        if kind == "blur":
            img = img.filter(ImageFilter.GaussianBlur(level))
        elif kind == "downscale":
            s = min(1.0, level / max(ied, 1.0))
            img = img.resize((max(8, round(img.width * s)), max(8, round(img.height * s))))
        elif kind == "darken":
            img = ImageEnhance.Brightness(img).enhance(level)
    buf = io.BytesIO()
    if kind == "jpeg" and level:
        img.save(buf, format="JPEG", quality=int(level))
    else:
        img.save(buf, format="PNG")
    return buf.getvalue()


@dataclass(frozen=True)
class Measured:
    scores: dict[str, int]
    raws: dict[str, float]
    vector: np.ndarray | None


def worker_pool(ws: Workspace) -> WorkerPool:
    """One pool (model loaded once per worker) for every pass of a quality study."""
    return WorkerPool(ws.settings, model_space(ws.settings).key, ws.settings.effective_workers())


def run_pipeline(
    pool: WorkerPool,
    jobs: list[tuple[bytes, str]],
    measure_only: bool,
    progress: Progress | None = None,
) -> list[Result]:
    """Results in the order of ``jobs`` (LFW's centred-face convention)."""
    out: list[Result | None] = [None] * len(jobs)

    def tasks() -> Iterator[Task]:
        for i, (data, source) in enumerate(jobs):
            yield Task(i, data, source, "central", measure_only)

    for n, r in enumerate(pool.map(tasks()), start=1):
        out[r.position] = r
        if progress:
            progress(n, len(jobs))
    return [r for r in out if r is not None]


def fit_unified(features: np.ndarray, missed: np.ndarray, names: list[str]) -> Unified:
    """Logistic regression (scikit-learn, classes weighted equally) of "this mated pair fell
    below the threshold" on the pair's measure scores (the lower of its two faces).

    Every score is oriented so that higher is better, so a measure whose fitted weight says
    the opposite is a confound of this data set (e.g. blurred photos show no JPEG blocking):
    it is dropped and the rest refitted, until every weight says "better score, fewer
    misses"."""
    from sklearn.linear_model import LogisticRegression

    if missed.all() or not missed.any():
        raise ValueError("the calibration pairs need both hits and misses to fit quality")
    keep = list(range(len(names)))
    while True:
        x = features[:, keep]
        mean, std = x.mean(axis=0), x.std(axis=0)
        std[std == 0] = 1.0
        fit = LogisticRegression(class_weight="balanced", C=1.0, max_iter=1000)
        fit.fit((x - mean) / std, missed.astype(int))
        coef = fit.coef_[0]
        wrong = [k for k, c in zip(keep, coef, strict=True) if c > 0]
        if not wrong:
            break
        keep = [k for k in keep if k not in wrong]
        if not keep:
            raise ValueError("no quality measure predicts fewer misses on these pairs")
    w = coef / std  # back to raw 0-100 scores
    b = float(fit.intercept_[0] - np.sum(coef * mean / std))
    return Unified(b, {names[k]: float(v) for k, v in zip(keep, w, strict=True) if v != 0.0})


def edc(quality: np.ndarray, mated_scores: np.ndarray, threshold: float) -> list[dict[str, Any]]:
    order = np.argsort(quality, kind="stable")
    miss = (mated_scores < threshold)[order]
    out = []
    for f in DISCARD:
        keep = miss[round(f * len(miss)) :]
        out.append({"discarded": f, "fnmr": float(keep.mean()) if keep.size else None})
    return out


def warn_band(scores: np.ndarray, misses: np.ndarray, overall: float) -> int | None:
    """The highest score s (step 5) such that pairs below s have FNMR >= 2x overall, with at
    least 20 pairs below; None when no such band exists."""
    best = None
    for s in range(5, 100, 5):
        below = scores < s
        if below.sum() >= 20 and misses[below].mean() >= 2 * overall:
            best = s
    return best


def load_pairs(data: Path) -> list[protocols.Pair]:
    return [p for p in protocols.lfw_pairs(data) if p.mated]


def read(path: Path, ws: Workspace) -> bytes:
    return read_file(path, ws.settings.max_image_bytes)


def vectors(ws: Workspace, paths: list[Path]) -> dict[Path, np.ndarray | None]:
    acq = compute_templates(ws, model_space(ws.settings), paths)
    return {p: a.vector for p, a in acq.items()}


def held_out(identity: str, seed: int = 0) -> bool:
    return identity_half(identity, seed) == 1


def plot_edc(out: Path, edc_curves: dict[str, list[dict[str, Any]]], overall: float) -> str:
    from leadguard.evaluation.report import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name in ("unified", "sharpness", "inter_eye_distance", "yaw", "compression"):
        if name in edc_curves:
            pts = [(r["discarded"], r["fnmr"]) for r in edc_curves[name] if r["fnmr"] is not None]
            ax.plot(*zip(*pts, strict=True), marker="o", ms=3, label=name)
    ax.axhline(overall, color="grey", lw=0.8, ls="--", label="discarding at random")
    ax.set_xlabel("share of lowest-quality pairs discarded")
    ax.set_ylabel("FNMR at the fixed threshold")
    ax.set_title("Error versus discard (held-out LFW View 2 mated pairs)")
    ax.legend(fontsize=8)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "edc.png", dpi=110)
    plt.close(fig)
    return "edc.png"


def plot_degradations(out: Path, rows: list[dict[str, Any]]) -> str:
    from leadguard.evaluation.report import pyplot

    plt = pyplot()
    clean = next(r for r in rows if r["kind"] == "clean")
    fig, axes = plt.subplots(1, len(DEGRADATIONS), figsize=(13, 3.6))
    for ax, (kind, (measure, levels)) in zip(axes, DEGRADATIONS.items(), strict=True):
        sel = [clean, *[r for r in rows if r["kind"] == kind]]
        x = list(range(len(sel)))
        ax.plot(x, [r["fnmr"] for r in sel], marker="o", label="FNMR")
        ax.plot(x, [r["rank1"] for r in sel], marker="s", label="rank-1")
        ax.plot(
            x,
            [(r["median_score"][measure] or 0) / 100 for r in sel],
            marker="^",
            label=f"{measure} score / 100",
        )
        ax.set_xticks(x, [str(v) for v in levels], fontsize=8)
        ax.set_title(kind)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "degradations.png", dpi=110)
    plt.close(fig)
    return "degradations.png"
