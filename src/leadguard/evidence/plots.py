"""Plots of the evidence validation: ECE, predicted vs measured FPIR, N x FMR, LR curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from leadguard.evaluation.report import pyplot
from leadguard.evidence.calibration import LrTable
from leadguard.evidence.validate import LrCheck


def _save(fig: Any, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=110)
    pyplot().close(fig)
    return name


def plot_ece(out: Path, check: LrCheck) -> str:
    from lir.data.models import LLRData
    from lir.plotting.expected_calibration_error import plot_ece as lir_ece

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    lir_ece(LLRData(features=check.llrs, labels=check.labels), log_prior_odds_range=(-4, 3), ax=ax)
    ax.set_title("Empirical cross-entropy, held-out people")
    return _save(fig, out, "ece.png")


def plot_lr(out: Path, lr: LrTable) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    lo, hi = lr.bounds
    ax.plot(lr.grid, np.clip(lr.llr, lo, hi), label="log10 LR")
    ax.fill_between(
        lr.grid, np.clip(lr.low, lo, hi), np.clip(lr.high, lo, hi), alpha=0.3, label="95 % interval"
    )
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("score (cosine similarity)")
    ax.set_ylabel("log10 likelihood ratio")
    ax.set_title("Calibrated likelihood ratio (ELUB-bounded)")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return _save(fig, out, "lr.png")


def plot_fpir(out: Path, rows: list[dict[str, Any]]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for source, marker in (("own draws", "o"), ("BLUFR", "s")):
        sel = [r for r in rows if r.get("source") == source]
        if not sel:
            continue
        x = np.array([r["predicted_fpir"] for r in sel])
        y = np.array([r["measured_fpir"] for r in sel])
        xerr = np.abs(np.array([r["predicted_fpir_ci"] for r in sel]).T - x)
        yerr = np.abs(np.array([r["measured_fpir_ci"] for r in sel]).T - y)
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt=marker, capsize=3, label=source)
    top = max((max(r["measured_fpir_ci"][1], r["predicted_fpir_ci"][1]) for r in rows), default=0.1)
    top *= 1.1
    ax.plot([0, top], [0, top], color="grey", lw=0.8, label="agreement")
    ax.set_xlabel("predicted FPIR (calibration people)")
    ax.set_ylabel("measured FPIR (held-out people)")
    ax.set_title("Open-set threshold: predicted vs measured")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return _save(fig, out, "fpir.png")


def plot_counts(out: Path, counts: dict[str, Any]) -> str:
    plt = pyplot()
    pts = counts["points"]
    n = np.array([p["gallery_size"] for p in pts])
    fig, ax = plt.subplots(figsize=(5.5, 4))
    grid = np.linspace(0, n.max() * 1.05, 50)
    ax.plot(grid, grid * counts["fmr"], label="predicted: N x FMR")
    y = np.array([p["measured"] for p in pts])
    yerr = np.abs(np.array([p["measured_ci"] for p in pts]).T - y)
    ax.errorbar(n, y, yerr=yerr, fmt="o", capsize=3, label="measured, held-out people")
    ax.set_xlabel("gallery size (enrolled people, one photo each)")
    ax.set_ylabel("non-mated candidates at or above threshold, per search")
    ax.set_title(f"Chance candidates above {counts['threshold']:.4f}")
    ax.legend()
    ax.grid(True, alpha=0.3)
    return _save(fig, out, "counts.png")
