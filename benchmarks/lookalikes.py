"""Look-alike counts: what keeping them adds to enrollment, and what check/rebuild cost.

A gallery is enrolled batch by batch (``commit_every`` = 64 templates a batch, as enrollment
commits) into a real workspace (SQLite, compressed index): each batch's rows are saved with
``repo.save_templates`` and counted with ``lookalikes.on_enroll`` in the same transaction, as
``gallery.enroll._commit`` does; ``on_enroll`` is timed alone. No face model runs: the
templates are SYNTHETIC unit vectors (labelled as such), built so that their scores look like
each model's (a shared direction, a subject's own, noise):

- ``dlib-like``: strangers score about 0.85 (sd ~0.02), mates about 0.97: every stranger is
  above the grid's foot (0.2913), so each new template changes the counts of **every**
  existing template of another subject (the worst case for the writes);
- ``sface-like``: strangers about 0.05, mates about 0.7: few strangers reach the grid.

Reported: seconds of ``on_enroll`` per face over the whole run and in the last batches (the
gallery at its largest; it includes the set digest each batch appends to the audit chain),
rows rewritten per batch, ``gallery check`` / ``rebuild`` times at the final size, and the
time ``audit verify`` takes to recompute the rows' digest.

Usage: python benchmarks/lookalikes.py [--templates 10000] [--kinds dlib-like sface-like]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import save
from leadguard.audit import lookalike_state
from leadguard.core.types import Box, Detection, FaceTemplate, ImageMeta
from leadguard.face_models import model_space
from leadguard.gallery import lookalikes
from leadguard.index.registry import new_index
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace

BATCH = 64
PER_SUBJECT = 2
KINDS = {  # (shared, subject, noise) shares of a template's squared length
    "dlib-like": (0.85, 0.12, 0.03),
    "sface-like": (0.05, 0.65, 0.30),
}
_DET = Detection(Box(0, 0, 100, 100), 1.0, ())


def synthetic(n: int, kind: str, dim: int = 128, seed: int = 0) -> np.ndarray:
    a, b, c = (np.sqrt(x) for x in KINDS[kind])
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=dim)
    shared /= np.linalg.norm(shared)
    own = rng.normal(size=(n // PER_SUBJECT + 1, dim))
    own /= np.linalg.norm(own, axis=1, keepdims=True)
    noise = rng.normal(size=(n, dim))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    v = a * shared + b * own[np.arange(n) // PER_SUBJECT] + c * noise
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def run(n: int, kind: str, root: Path) -> dict[str, object]:
    ws = Workspace.init(root / kind)
    space = model_space(ws.settings)
    vecs = synthetic(n, kind)
    index = new_index("compressed", space.key, space.dim, "")
    with ws.session() as s:
        repo.ensure_space(s, space)
    times: list[float] = []
    updated: list[int] = []
    for start in range(0, n, BATCH):
        part = vecs[start : start + BATCH]
        rows = []
        for i, v in enumerate(part, start=start):
            sha = hashlib.sha256(f"{kind}-{i}".encode()).hexdigest()
            meta = ImageMeta(f"synthetic/{i}.jpg", sha, "JPEG", 250, 250, 10_000)
            info = repo.SubjectInfo(external_id=f"S{i // PER_SUBJECT:06d}")
            rows.append(repo.NewTemplate(info, meta, FaceTemplate(_DET, v, space.key), 1))
        with ws.session() as s:
            ids = repo.save_templates(s, rows)
            t = time.perf_counter()
            updated.append(lookalikes.on_enroll(s, space.key, index, ids, part))
            times.append(time.perf_counter() - t)
        index.add(np.asarray(ids, dtype=np.int64), part)
    t = time.perf_counter()
    result = lookalikes.check_workspace(ws, space.key)
    check_s = time.perf_counter() - t
    t = time.perf_counter()
    lookalikes.rebuild_workspace(ws, space.key)
    rebuild_s = time.perf_counter() - t
    with ws.session() as s:  # what `audit verify` adds: the rows' set digest, recomputed
        t = time.perf_counter()
        digest = lookalike_state.of_table(s, space.key)
        digest_s = time.perf_counter() - t
        chain_agrees = lookalike_state.recorded(s, space.key).digest == digest.digest
    ws.close()
    last = times[-10:]
    out = {
        "kind": kind,
        "vectors": "synthetic unit vectors (labelled: not faces)",
        "templates": n,
        "batch": BATCH,
        "on_enroll_total_s": round(sum(times), 2),
        "on_enroll_ms_per_face_whole_run": round(1000 * sum(times) / n, 3),
        "on_enroll_ms_per_face_last_10_batches": round(1000 * sum(last) / (BATCH * len(last)), 3),
        "rows_rewritten_per_batch_last": updated[-1],
        "incremental_equals_recount": result.consistent,
        "check_s": round(check_s, 2),
        "rebuild_s": round(rebuild_s, 2),
        "verify_digest_s": round(digest_s, 2),
        "chain_digest_agrees": chain_agrees,
    }
    print(
        f"{kind:>10}, {n:,} synthetic templates: on_enroll {out['on_enroll_total_s']} s in all, "
        f"{out['on_enroll_ms_per_face_whole_run']} ms a face over the run, "
        f"{out['on_enroll_ms_per_face_last_10_batches']} ms a face at {n:,} "
        f"({updated[-1]:,} rows rewritten by the last batch); check {check_s:.1f} s, "
        f"rebuild {rebuild_s:.1f} s; incremental = recount: {result.consistent}; "
        f"verify's digest {digest_s:.2f} s, as the chain records: {chain_agrees}"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", type=int, default=10_000)
    ap.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(args.templates, kind, Path(tmp)) for kind in args.kinds]
    print(f"saved {save('lookalikes', {'results': rows})}")


if __name__ == "__main__":
    main()
