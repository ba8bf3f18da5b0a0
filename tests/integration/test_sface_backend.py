"""The SFace/YuNet ONNX backend on real faces: detection, alignment, templates, the pinned
weights, and the in-memory clean-up of the shipped graph."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from leadguard.core.errors import ModelUnavailable
from leadguard.face_models.sface_backend import (
    ARCFACE_TEMPLATE,
    CHIP,
    DETECTOR_FILE,
    RECOGNIZER_FILE,
    SFaceModel,
    WeightsMismatch,
    clean_graph,
    models_dir,
    session_options,
    similarity_transform,
    verified_file,
)
from leadguard.pipeline.compose import FacePipeline, FaceSelection
from tests.conftest import FIXTURES

pytestmark = pytest.mark.integration
JOHNS = FIXTURES / "dlib_johns"


@pytest.fixture(scope="module")
def sface() -> SFaceModel:
    m = SFaceModel()
    m.load()
    return m


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _johns() -> list[tuple[Path, str]]:
    with (JOHNS / "manifest.csv").open() as fh:
        return [(JOHNS / r["path"], r["identity"]) for r in csv.DictReader(fh)]


def test_detects_one_face_with_five_landmarks_inside_the_box(datasets, sface) -> None:
    px = _pixels(FIXTURES / "face_recognition_examples" / "biden" / "biden.jpg")
    faces = sface.detect(px)
    assert len(faces) == 1
    face = faces[0]
    assert len(face.landmarks) == 5 and face.score >= sface.score_threshold
    b = face.box
    for x, y in face.landmarks:
        assert b.left <= x <= b.right and b.top <= y <= b.bottom
    (lx, _), (rx, _) = face.landmarks[:2]
    assert lx < rx  # image-left eye first, as the ArcFace template expects


def test_alignment_puts_the_landmarks_on_the_arcface_template(datasets, sface) -> None:
    px = _pixels(JOHNS / "John_Salley" / "000179_02159509.jpg")
    face = sface.detect(px)[0]
    chip = sface.chip(px, face)
    assert chip.shape == (CHIP, CHIP, 3) and chip.dtype == np.uint8
    m = similarity_transform(np.asarray(face.landmarks, float), ARCFACE_TEMPLATE)
    mapped = np.c_[np.asarray(face.landmarks, float), np.ones(5)] @ m.T
    assert np.abs(mapped - ARCFACE_TEMPLATE).max() < 6.0  # a similarity fit, within pixels


def test_same_person_scores_higher_than_different_people(datasets, sface) -> None:
    vectors, ids = [], []
    for path, who in _johns():
        px = _pixels(path)
        faces = sface.detect(px)
        assert faces, f"no face in {path}"
        v = sface.embed(px, faces[0])
        assert v.dtype == np.float32 and v.shape == (128,)
        assert abs(float(np.linalg.norm(v)) - 1.0) < 1e-5
        vectors.append(v)
        ids.append(who)
    v = np.asarray(vectors)
    sims = v @ v.T
    same = np.equal.outer(ids, ids)
    np.fill_diagonal(same, False)
    different = ~np.equal.outer(ids, ids)
    assert sims[same].min() > sims[different].max()


def test_a_model_file_with_another_digest_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(models_dir() / DETECTOR_FILE, folder / DETECTOR_FILE)
    data = bytearray((models_dir() / RECOGNIZER_FILE).read_bytes())
    data[-1] ^= 0xFF  # one flipped bit pattern in the last byte
    (folder / RECOGNIZER_FILE).write_bytes(bytes(data))
    assert verified_file(DETECTOR_FILE, folder) == folder / DETECTOR_FILE
    with pytest.raises(WeightsMismatch, match="not the pinned"):
        SFaceModel(folder=folder).load()
    with pytest.raises(WeightsMismatch):
        _ = SFaceModel(folder=folder).space
    (folder / RECOGNIZER_FILE).unlink()
    with pytest.raises(ModelUnavailable, match="not found"):
        SFaceModel(folder=folder).load()


def test_cleaning_the_graph_leaves_the_outputs_identical(datasets, sface) -> None:
    import onnx
    import onnxruntime as ort

    path = verified_file(RECOGNIZER_FILE)
    original = onnx.load(str(path))
    cleaned, dropped = clean_graph(onnx.load(str(path)))
    used = {name for node in original.graph.node for name in node.input}
    unused = [i.name for i in original.graph.input if i.name not in used]
    assert unused and dropped >= len(unused)
    assert [i.name for i in cleaned.graph.input] == ["data"]

    opts = session_options(fold_weights=False)
    raw = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    clean = ort.InferenceSession(
        cleaned.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    px = _pixels(JOHNS / "John_Simm" / sorted(p.name for p in (JOHNS / "John_Simm").iterdir())[0])
    chip = sface.chip(px, sface.detect(px)[0])
    blob = chip.transpose(2, 0, 1)[None].astype(np.float32)
    feeds = {
        i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
        for i in raw.get_inputs()
    }
    feeds["data"] = blob
    a = raw.run(None, feeds)[0]
    b = clean.run(None, {"data": blob})[0]
    assert np.array_equal(a, b)
    # the production session (weights dequantised once at load) agrees to float rounding
    c = sface.raw_features(chip[None])
    assert np.abs(c - b).max() < 1e-4


def test_quality_measures_use_the_stated_68_point_fallback(datasets, sface) -> None:
    pipe = FacePipeline(sface, 40, 50_000_000)
    path = FIXTURES / "face_recognition_examples" / "biden" / "biden.jpg"
    measured = pipe.measure(path.read_bytes(), str(path), FaceSelection())
    q = measured.quality
    assert q["landmarks"].raw == 68 and "dlib 68-point model" in q["landmarks"].unit
    for name in ("yaw", "pitch", "roll", "eyes_open", "inter_eye_distance"):
        assert name in q and np.isfinite(q[name].raw)
    assert abs(q["yaw"].raw) < 30  # a frontal press photo
