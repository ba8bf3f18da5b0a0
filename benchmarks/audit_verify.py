"""How long ``audit verify`` (chain + working-record coverage) and the thorough
``index check`` (ids and vectors) take as the gallery grows.

The gallery is synthetic (unit vectors, as in search_latency.py): enrolled in batches of
500 templates (two per subject), each batch's audit entry hashing its templates, images,
subjects and encounters as enrollment does (``audit.append(records=...)``), so every one of
those rows is checked by verify (3 records per template). Reported: medians of --repeats
runs, in seconds.

Usage: python benchmarks/audit_verify.py [--sizes 10000 40000] [--repeats 3]
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

from _common import new_workspace, sweep, timed
from leadguard.audit import log as audit
from leadguard.core.types import Box, Detection, FaceTemplate, ImageMeta
from leadguard.face_models import model_space
from leadguard.gallery.maintenance import check_index, rebuild_index
from leadguard.storage import queries as repo
from leadguard.storage.audited_rows import audited_rows
from leadguard.storage.workspace import Workspace


def fill(ws: Workspace, n: int, batch: int = 500) -> None:
    space = model_space(ws.settings)
    rng = np.random.default_rng(0)
    det = Detection(Box(0, 0, 100, 100), 1.0, ())
    with ws.session() as s:
        repo.ensure_space(s, space)
    for start in range(0, n, batch):
        vecs = rng.normal(size=(min(batch, n - start), space.dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        rows = []
        for j, v in enumerate(vecs):
            i = start + j
            sha = hashlib.sha256(f"synthetic-{i}".encode()).hexdigest()
            meta = ImageMeta(f"synthetic/{i}.jpg", sha, "JPEG", 250, 250, 10_000)
            info = repo.SubjectInfo(external_id=f"S{i // 2:06d}")
            rows.append(repo.NewTemplate(info, meta, FaceTemplate(det, v, space.key), 1))
        with ws.session() as s:
            ids = repo.save_templates(s, rows)
            shas = [r.image.sha256 for r in rows]
            audit.append(
                s,
                "enroll_batch",
                f"gallery:{space.key}",
                {"templates": ids, "images": shas},
                records=audited_rows(s, ids, shas),
            )
    rebuild_index(ws, space)


def measure(n: int, repeats: int, backend: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = new_workspace(Path(tmp) / "ws", backend)
        fill(ws, n)
        space = model_space(ws.settings)

        def verify() -> None:
            with ws.session() as s:
                c = audit.verify(s)
            assert c.intact and c.records_checked == 3 * n, c.record_problems

        def index() -> None:
            assert check_index(ws, space).consistent

        result = {
            "templates": n,
            "verify_s": timed(verify, repeats),
            "index_check_s": timed(index, repeats),
        }
        ws.close()
    return result


def _line(n: int, r: dict) -> str:
    return (
        f"{n:>7} templates: audit verify {r['verify_s']:.2f} s "
        f"({3 * n} records), index check {r['index_check_s']:.2f} s"
    )


def main() -> None:
    sweep("audit_verify", [10_000, 40_000], 3, measure, _line)


if __name__ == "__main__":
    main()
