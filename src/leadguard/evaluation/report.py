"""Report folders: matplotlib PNG plots, metrics.json and report.html."""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from leadguard.evaluation import metrics as m


def pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_verification(out: Path, genuine: np.ndarray, impostor: np.ndarray) -> list[str]:
    plt = pyplot()
    c = m.error_curve(genuine, impostor)
    names = []
    # a rate of 0 cannot be drawn on a log axis (and was not measured as a rate): leave it out
    shown = (c.fmr > 0) & (c.fnmr > 0)
    fmr, fnmr, tmr = c.fmr[shown], c.fnmr[shown], 1 - c.fnmr[shown]
    for name, ys, ylabel, log_y in (
        ("det", fnmr, "FNMR (false non-match rate)", True),
        ("roc", tmr, "true match rate (1 - FNMR)", False),
    ):
        fig, ax = plt.subplots(figsize=(5, 4))
        (ax.loglog if log_y else ax.semilogx)(fmr, ys)
        ax.set_xlabel("FMR (false match rate)")
        ax.set_ylabel(ylabel)
        ax.set_title(name.upper())
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / f"{name}.png", dpi=110)
        names.append(f"{name}.png")
        plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4))
    bins = np.linspace(-0.2, 1.0, 121)
    ax.hist(
        impostor[np.isfinite(impostor)],
        bins=bins,
        alpha=0.6,
        density=True,
        label="different people",
    )
    ax.hist(genuine[np.isfinite(genuine)], bins=bins, alpha=0.6, density=True, label="same person")
    ax.set_xlabel("score (cosine similarity)")
    ax.set_ylabel("density")
    ax.legend()
    ax.set_title("Score distributions")
    fig.tight_layout()
    fig.savefig(out / "scores.png", dpi=110)
    names.append("scores.png")
    plt.close(fig)
    return names


def plot_cmc(out: Path, curves: list[np.ndarray]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
    for i, curve in enumerate(curves):
        ax.plot(np.arange(1, curve.size + 1), curve, alpha=0.6, label=f"split {i + 1}")
    ax.set_xlabel("rank")
    ax.set_ylabel("share of mated searches with the mate at or above the rank")
    ax.set_title("CMC")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "cmc.png", dpi=110)
    plt.close(fig)
    return "cmc.png"


def plot_groups(out: Path, groups: dict[str, dict[str, Any]]) -> str:
    """FMR and FNMR per group with intervals; groups too small to say anything are left to
    the table (their intervals span most of [0, 1] and would hide the rest)."""
    plt = pyplot()
    names = [g for g, v in groups.items() if not v["too_small"]]
    fig, axes = plt.subplots(1, 2, figsize=(10, max(3, 0.35 * len(names) + 1.5)))
    for ax, key in zip(axes, ("fmr", "fnmr"), strict=True):
        vals = [groups[g][key] or 0.0 for g in names]
        lo = [groups[g][f"{key}_ci_exact"][0] for g in names]
        hi = [groups[g][f"{key}_ci_exact"][1] for g in names]
        err = [
            [max(v - a, 0) for v, a in zip(vals, lo, strict=True)],
            [max(b - v, 0) for v, b in zip(vals, hi, strict=True)],
        ]
        ax.barh(names, vals, xerr=err, color="tab:blue", capsize=3)
        ax.set_xlim(0, max([*hi, 1e-6]) * 1.1)
        ax.set_xlabel(key.upper() + " (95% exact interval)")
    axes[0].set_title("False match rate within group")
    axes[1].set_title("False non-match rate")
    fig.tight_layout()
    fig.savefig(out / "groups.png", dpi=110)
    plt.close(fig)
    return "groups.png"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "n/a"
        return f"{v:.6g}"
    return html.escape(str(v))


def _table(d: dict[str, Any], prefix: str = "") -> list[str]:
    rows = []
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            rows += _table(v, name + ".")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for i, item in enumerate(v):
                rows += _table(item, f"{name}[{i}].")
        else:
            rows.append(f"<tr><td>{html.escape(name)}</td><td>{_fmt(v)}</td></tr>")
    return rows


def write_report(
    out: Path, title: str, provenance: dict[str, Any], metrics: dict[str, Any], plots: list[str]
) -> Path:
    (out / "metrics.json").write_text(
        json.dumps({"provenance": provenance, "metrics": metrics}, indent=2, default=str)
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
        "td{padding:2px 8px;border-bottom:1px solid #ddd;font-size:13px}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        "<p>Scores are similarities (higher = more alike). These are measured error rates of "
        "the model on this dataset, not a statement about any one search.</p>",
        "<h2>Provenance</h2><table>",
        *_table(provenance),
        "</table>",
        "<h2>Plots</h2>",
        *[f"<img src='{html.escape(p)}' alt='{html.escape(p)}'>" for p in plots],
        "<h2>Metrics</h2><table>",
        *_table(metrics),
        "</table></body></html>",
    ]
    path = out / "report.html"
    path.write_text("\n".join(parts))
    return path
