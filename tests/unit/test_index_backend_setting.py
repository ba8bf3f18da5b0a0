"""The ``index_backend`` setting selects the index the gallery keeps, with the same checks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from leadguard.core.types import Box, Detection, FaceTemplate, ImageMeta
from leadguard.face_models import model_space
from leadguard.gallery.enroll import register_space
from leadguard.gallery.maintenance import check_index, remove_subject, synced_index
from leadguard.index.exact import ExactIndex
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace


def fill(ws: Workspace, n: int) -> tuple[np.ndarray, np.ndarray]:
    space = model_space(ws.settings)
    rng = np.random.default_rng(0)
    det = Detection(Box(0, 0, 100, 100), 1.0, ())
    vecs = rng.normal(size=(n, space.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    rows = []
    for i, v in enumerate(vecs):
        sha = hashlib.sha256(f"synthetic-{i}".encode()).hexdigest()
        meta = ImageMeta(f"synthetic/{i}.jpg", sha, "JPEG", 250, 250, 10_000)
        info = repo.SubjectInfo(external_id=f"S{i // 2:04d}")
        rows.append(repo.NewTemplate(info, meta, FaceTemplate(det, v, space.key), 1))
    with ws.session() as s:
        register_space(s, space)  # with the entry naming its row
        repo.save_templates(s, rows)
    with ws.session() as s:
        return repo.template_vectors(s, space.key)


@pytest.mark.parametrize(
    ("backend", "suffix"), [("faiss-flat", ".faiss"), ("compressed", ".lgc"), ("milvus", ".json")]
)
def test_gallery_uses_the_configured_backend(tmp_path: Path, backend: str, suffix: str) -> None:
    ws = Workspace.init(tmp_path / "ws", index_backend=backend)
    space = model_space(ws.settings)
    ids, vecs = fill(ws, 300)
    index, check = synced_index(ws, space)  # no index yet: built from the database
    assert not check.consistent and len(index) == 300
    assert ws.index_path(space.key).name.endswith(suffix)
    index, check = synced_index(ws, space)  # the saved fingerprint now agrees
    assert check.consistent
    ref = ExactIndex("ref", space.dim)
    ref.add(ids, vecs)
    q = vecs[:3] + 0.05
    assert np.array_equal(index.search(q, 10)[1], ref.search(q, 10)[1])
    assert remove_subject(ws, "S0001") == 2
    assert check_index(ws, space).consistent
    index, _ = synced_index(ws, space)
    assert len(index) == 298
    ws.close()


def test_every_backend_is_registered_once_with_its_place() -> None:
    from leadguard.core.config import Settings
    from leadguard.index.registry import BACKENDS, REGISTRY, backend, index_location

    allowed = set(Settings.model_fields["index_backend"].annotation.__args__)  # type: ignore[union-attr]
    assert set(BACKENDS) == allowed == set(REGISTRY)
    places = {index_location(Path("/i"), "k", name).name for name in BACKENDS}
    assert len(places) == len(BACKENDS)  # no two backends share a space's file
    with pytest.raises(ValueError, match="unknown index backend 'hnsw'"):
        backend("hnsw")
