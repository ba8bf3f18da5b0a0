"""Search latency at gallery sizes of 10k and 100k templates.

The gallery templates are synthetic unit vectors (LFW has only 13k faces, and enrolling
100k real faces would take hours here); exact search costs the same whatever the vectors
hold. The probe is a real LFW photo searched through ``leadguard.search.run.search``.

Reported (medians of --repeats searches, model already loaded):
  total      the whole search call: decode, detect, embed, index, database look-ups
  probe      decode + detect + embed alone
  gallery    total - probe: exact index search plus candidate look-ups

Usage: python benchmarks/search_latency.py [--sizes 10000 100000] [--repeats 15]
       [--backend compressed|faiss-flat]
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import LFW, median, new_workspace, sweep
from leadguard.core.types import Box, Detection, FaceTemplate, ImageMeta
from leadguard.face_models import model_space
from leadguard.gallery.maintenance import rebuild_index
from leadguard.pipeline.compose import FaceSelection
from leadguard.search.request import SearchRequest
from leadguard.search.run import search
from leadguard.services.context import Context
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace

PROBE = LFW / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"


def fill(ws: Workspace, n: int, seed: int = 0) -> None:
    space = model_space(ws.settings)
    rng = np.random.default_rng(seed)
    det = Detection(Box(0, 0, 100, 100), 1.0, ())
    with ws.session() as s:
        repo.ensure_space(s, space)
    batch = 5000
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
            repo.save_templates(s, rows)
    rebuild_index(ws, space)


def measure(n: int, repeats: int, backend: str = "compressed") -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = new_workspace(Path(tmp) / "ws", backend)
        t0 = time.perf_counter()
        fill(ws, n)
        fill_s = time.perf_counter() - t0
        model = Context(ws).face_model()
        pipe_times, totals = [], []
        from leadguard.pipeline.compose import FacePipeline

        pipeline = FacePipeline(model, 1, 10**9)
        data = PROBE.read_bytes()
        search(ws, SearchRequest(PROBE), model=model)  # warm: index file read, caches
        for _ in range(repeats):
            t = time.perf_counter()
            pipeline.process(data, str(PROBE), FaceSelection())
            pipe_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            result = search(ws, SearchRequest(PROBE, top_k=10), model=model)
            totals.append(time.perf_counter() - t)
        assert result.gallery_templates == n
        ws.close()
    total, probe = median(totals), median(pipe_times)
    return {
        "templates": n,
        "index_backend": backend,
        "fill_s": fill_s,
        "total_s": total,
        "probe_s": probe,
        "gallery_s": total - probe,
    }


def _line(n: int, r: dict) -> str:
    return (
        f"{n:>7} templates: total {r['total_s'] * 1000:.0f} ms = probe "
        f"{r['probe_s'] * 1000:.0f} ms + gallery {r['gallery_s'] * 1000:.0f} ms"
    )


def main() -> None:
    sweep("search_latency", [10_000, 100_000], 15, measure, _line)


if __name__ == "__main__":
    main()
