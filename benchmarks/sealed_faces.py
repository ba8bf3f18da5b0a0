"""How the sealed-probe screen (services/casework/sealed_faces.py) does on real faces.

An urgent search is refused where its probe scores at or above the evidence model's
open-set threshold (a gallery of the W waiting probes, the workspace's target FPIR) against
a waiting request's probe. On LFW people of the evidence model's held-out half
(``identity_half(identity, 0) == 1``), for W waiting probes (each the first photo of a
person with at least two), this measures:

- caught, a copy: the waiting probe at 90 % of its size, JPEG quality 70;
- caught, another photo: each other photo of a waiting person (at most 3 a person);
- refused in error: the first photo of each held-out person who is not waiting.

Rates with 95 % Clopper-Pearson intervals. A photo whose face the pipeline cannot take
(no face, several faces) is left out and counted.

Usage: PYTHONPATH=src .venv/bin/python benchmarks/sealed_faces.py [--waiting 1 10 50]
       [--strangers 1000] [--seed 7]
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from _common import LFW, save
from leadguard.core.errors import LeadGuardError
from leadguard.evaluation.metrics import rate_ci
from leadguard.evidence import model as evidence_model
from leadguard.evidence.fit import identity_half
from leadguard.pipeline.compose import FacePipeline, FaceSelection
from leadguard.services.context import Context
from leadguard.storage.workspace import Workspace

log = logging.getLogger("sealed_faces")


def copy_of(path: Path) -> bytes:
    img = Image.open(path).convert("RGB")
    img = img.resize((img.width * 9 // 10, img.height * 9 // 10), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def refused(bank: np.ndarray, threshold: float, v: np.ndarray | None) -> bool | None:
    """Whether the screen refuses this template (None: no usable face)."""
    return None if v is None else bool((bank @ v >= threshold).any())


def share(verdicts: list[bool | None]) -> dict[str, Any]:
    hits, n = sum(x is True for x in verdicts), sum(x is not None for x in verdicts)
    lo, hi = rate_ci(hits, n) if n else (0.0, 1.0)
    return {"hits": hits, "n": n, "rate": hits / n if n else None, "ci95": [lo, hi]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--waiting", type=int, nargs="+", default=[1, 10, 50])
    ap.add_argument("--strangers", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    people: dict[str, list[Path]] = {}
    with (LFW / "manifest.csv").open() as fh:
        for r in csv.DictReader(fh):
            if identity_half(r["identity"], 0) == 1:
                people.setdefault(r["identity"], []).append(LFW / r["path"])
    rng = np.random.default_rng(a.seed)
    names = sorted(people)
    rng.shuffle(names)
    repeated = [n for n in names if len(people[n]) >= 2]
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(Workspace.init(Path(tmp) / "ws"))
        model = ctx.face_model()
        stored = evidence_model.latest(ctx.ws, model.space.key)
        assert stored is not None, "the default model ships an evidence model"
        pipe = FacePipeline(model, ctx.settings.min_face_size, ctx.settings.max_image_pixels)
        skipped = 0

        def template(data: bytes, name: str) -> np.ndarray | None:
            nonlocal skipped
            try:
                return pipe.process(data, name, FaceSelection("reject")).template.vector
            except LeadGuardError:
                skipped += 1
                return None

        target = ctx.settings.target_fpir
        rows = []
        for w in a.waiting:
            sought = repeated[:w]
            waiting = [template(people[n][0].read_bytes(), n) for n in sought]
            kept = [(n, t) for n, t in zip(sought, waiting, strict=True) if t is not None]
            threshold = stored.model.gallery_threshold(target, len(kept)).threshold
            bank = np.stack([t for _, t in kept])

            copies = [refused(bank, threshold, template(copy_of(people[n][0]), n)) for n, _ in kept]
            others = [
                refused(bank, threshold, template(p.read_bytes(), n))
                for n, _ in kept
                for p in people[n][1:4]
            ]
            outside = [n for n in names if n not in set(sought)][: a.strangers]
            strangers = [
                refused(bank, threshold, template(people[n][0].read_bytes(), n)) for n in outside
            ]
            row = {
                "waiting": len(kept),
                "threshold": round(threshold, 4),
                "target_fpir": target,
                "copy_caught": share(copies),
                "other_photo_caught": share(others),
                "stranger_refused": share(strangers),
            }
            rows.append(row)
            log.info(
                "W=%d threshold %.4f: copy caught %s, other photo caught %s, stranger refused %s",
                row["waiting"],
                threshold,
                fmt(row["copy_caught"]),
                fmt(row["other_photo_caught"]),
                fmt(row["stranger_refused"]),
            )
        ctx.close()
    out = save(
        "sealed_faces",
        {
            "model": model.space.key,
            "evidence_model": stored.describe(),
            "people": "LFW, the evidence model's held-out identity half (seed 0)",
            "seed": a.seed,
            "skipped_no_usable_face": skipped,
            "rows": rows,
        },
    )
    log.info("saved %s (%d photos without a usable face left out)", out, skipped)


def fmt(r: dict[str, Any]) -> str:
    lo, hi = r["ci95"]
    return f"{r['hits']}/{r['n']} ({r['rate']:.1%}, 95 % {lo:.1%}-{hi:.1%})"


if __name__ == "__main__":
    main()
