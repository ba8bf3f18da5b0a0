"""Look-alike counts in a workspace for unit tests: synthetic templates whose scores spread
over the whole grid, enrolled batch by batch as ``enroll`` counts them (no face model), and
what ``audit verify`` says about the counts."""

from __future__ import annotations

import hashlib

import numpy as np

from leadguard.audit import log as audit
from leadguard.audit import lookalike_state
from leadguard.core.types import Box, Detection, FaceTemplate, ImageMeta
from leadguard.evidence import lookalikes as la
from leadguard.face_models import model_space
from leadguard.gallery import lookalikes
from leadguard.gallery.enroll import register_space
from leadguard.gallery.maintenance import save_index, synced_index
from leadguard.storage import lookalike_queries as laq
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace

_DET = Detection(Box(0, 0, 100, 100), 1.0, ())


def vectors(n: int, seed: int, subjects: list[int]) -> np.ndarray:
    """Templates whose scores spread over the grid: a shared direction (so strangers score
    0.3-0.9), a subject's own (mates higher), and noise."""
    rng = np.random.default_rng(seed)
    dim = 128
    shared = np.random.default_rng(0).normal(size=dim)
    own = {s: np.random.default_rng(1000 + s).normal(size=dim) for s in set(subjects)}
    weight = {s: 0.15 + 0.1 * (s % 9) for s in set(subjects)}  # some subjects generic
    out = []
    for s in subjects:
        v = shared + weight[s] * own[s] + 0.1 * rng.normal(size=dim)
        out.append(v / np.linalg.norm(v))
    return np.asarray(out, dtype=np.float32)[:n]


def enroll_batch(ws: Workspace, first: int, subjects: list[int]) -> None:
    space = model_space(ws.settings)
    vecs = vectors(len(subjects), first, subjects)
    rows = []
    for i, (v, sub) in enumerate(zip(vecs, subjects, strict=True), start=first):
        sha = hashlib.sha256(f"synthetic-{i}".encode()).hexdigest()
        meta = ImageMeta(f"synthetic/{i}.jpg", sha, "JPEG", 250, 250, 10_000)
        info = repo.SubjectInfo(external_id=f"S{sub:03d}")
        rows.append(repo.NewTemplate(info, meta, FaceTemplate(_DET, v, space.key), 1))
    with ws.session() as s:
        register_space(s, space)  # with the entry naming its row
    index, _ = synced_index(ws, space)
    with ws.session() as s:
        new_ids = repo.save_templates(s, rows)
        lookalikes.on_enroll(s, space.key, index, new_ids, vecs)
    index.add(np.asarray(new_ids, dtype=np.int64), vecs)
    with ws.write_lock():
        save_index(ws, space, index, "enroll")


def chain_findings(ws: Workspace) -> list[str]:
    """``audit verify``'s findings about the look-alike counts (these synthetic templates
    are named by no entry, which verify also says: not looked at here)."""
    with ws.session() as s:
        found = audit.verify(s).record_problems
    return [p for p in found if p.startswith(lookalike_state.TABLE)]


def edit_a_count(ws: Workspace, key: str) -> int:
    with ws.session() as s:
        tid = int(repo.template_ids(s, key)[0])
        row = la.from_bytes(laq.lookalike_rows(s, [tid])[tid][1])
        row[0] += 1
        laq.update_lookalike_rows(s, [(tid, la.to_bytes(row))])
    return tid
