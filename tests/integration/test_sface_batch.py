"""Cheaper per-face work, same results: SFace's batched descriptors equal the one-at-a-time
ones, and a worker's stage-by-stage run of several images (``run_tasks``) gives exactly
what ``run_task`` gives image by image, on real LFW photos."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from leadguard.core.config import Settings
from leadguard.face_models.sface_backend import SFaceModel
from leadguard.pipeline.compose import FacePipeline
from leadguard.pipeline.decode import decode_image, sha256_bytes
from leadguard.pipeline.worker import Task, run_task, run_tasks
from tests.conftest import LFW

pytestmark = pytest.mark.integration


def _lfw(n: int, offset: int = 0) -> list[tuple[bytes, str]]:
    """Every 50th photo of the LFW manifest (people of every kind), n of them."""
    with (LFW / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))[offset::50][:n]
    return [((LFW / r["path"]).read_bytes(), r["path"]) for r in rows]


@pytest.fixture(scope="module")
def faces(datasets) -> list[tuple[np.ndarray, object]]:
    model = SFaceModel()
    model.load()
    out = []
    for data, source in _lfw(40):
        pixels = decode_image(data, source, 50_000_000).pixels
        found = model.detect(pixels)
        if found:
            out.append((pixels, found[0]))
    assert len(out) >= 30  # LFW photos: a face in nearly every one
    return out


@pytest.mark.parametrize("batch", [1, 8, 32])
@pytest.mark.parametrize("mirror", [False, True])
def test_batched_templates_equal_the_single_ones(faces, batch, mirror) -> None:
    model = SFaceModel(batch=batch, mirror=mirror)
    model.load()
    single = np.stack([model.embed(px, det) for px, det in faces])
    batched = np.stack(model.embed_many(faces))
    assert batched.shape == single.shape == (len(faces), 128)
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-6)
    # each is a unit vector and the scores between faces are the same to 1e-6
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(batched @ batched.T, single @ single.T, atol=1e-6)


def test_embed_many_of_nothing_is_nothing() -> None:
    model = SFaceModel()
    model.load()
    assert model.embed_many([]) == []


def test_run_tasks_gives_what_run_task_gives(datasets) -> None:
    settings = Settings(face_model="sface")
    model = SFaceModel()
    model.load()
    pipe = FacePipeline(model, settings.min_face_size, settings.max_image_pixels, "key")
    images = _lfw(12, offset=7)
    tasks = [
        Task(i, data, src, "central", sha256=sha256_bytes(data))
        for i, (data, src) in enumerate(images)
    ]
    tasks.insert(3, Task(99, b"not an image", "junk.jpg", "central"))  # refused, in its place
    tasks.insert(6, Task(98, images[0][0], "again.jpg", "central", measure_only=True))
    one_by_one = [run_task(t, pipe) for t in tasks]
    together = run_tasks(tasks, pipe)
    assert [r.position for r in together] == [t.position for t in tasks]
    assert together[3].error_code == "unreadable" and together[3].vector is None
    assert together[6].vector is None and together[6].quality  # measured, no template
    for a, b in zip(one_by_one, together, strict=True):
        assert (a.sha256, a.error_code, a.error, a.faces_in_image) == (
            b.sha256,
            b.error_code,
            b.error,
            b.faces_in_image,
        )
        assert a.detection == b.detection and a.image == b.image
        assert a.quality == b.quality  # every quality measure identical
        if a.vector is None:
            assert b.vector is None
        else:
            np.testing.assert_allclose(b.vector, a.vector, rtol=0, atol=1e-6)
    assert sum(r.vector is not None for r in together) >= 10
    assert all(r.sha256 == sha256_bytes(d) for r, (d, _) in zip(together[:3], images, strict=False))


def test_a_face_too_small_fails_alone_in_its_chunk(datasets) -> None:
    settings = Settings(face_model="sface")
    model = SFaceModel()
    model.load()
    pipe = FacePipeline(model, 10_000, settings.max_image_pixels, "key")  # every face too small
    tasks = [Task(i, data, src, "central") for i, (data, src) in enumerate(_lfw(4))]
    results = run_tasks(tasks, pipe)
    assert [r.error_code for r in results] == [run_task(t, pipe).error_code for t in tasks]
    assert {r.error_code for r in results} <= {"face_too_small", "no_face"}
    assert any(r.error_code == "face_too_small" for r in results)
