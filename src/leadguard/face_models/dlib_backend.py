"""dlib's HOG detector, shape predictor and ResNet descriptor (128-d).

Weights come from the ``face-recognition-models`` package; they are located on disk, hashed
and loaded in ``load()``, never at import and never downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from leadguard import __version__
from leadguard.core.errors import ModelUnavailable
from leadguard.core.types import Box, Detection, EmbeddingSpace, FloatVector, RGBImage

# Bump whenever this module's output vectors change for the same settings.
PIPELINE_REVISION = 1

DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARK_FILES = {
    "68": "shape_predictor_68_face_landmarks.dat",
    "5": "shape_predictor_5_face_landmarks.dat",
}
INSTALL_HINT = "install it with: pip install dlib-bin face-recognition-models"


def models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the face-recognition-models package is missing; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@cache
def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _weights(name: str) -> Path:
    path = models_dir() / name
    if not path.is_file():
        raise ModelUnavailable(f"model weights {path} not found; {INSTALL_HINT}")
    return path


def _import_dlib() -> Any:
    try:
        import dlib
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelUnavailable(f"dlib is not importable ({exc}); {INSTALL_HINT}") from exc
    return dlib


@cache
def _landmark_predictor() -> Any:
    return _import_dlib().shape_predictor(str(_weights(LANDMARK_FILES["68"])))


def landmarks_68(pixels: RGBImage, box: Box) -> tuple[tuple[int, int], ...]:
    """dlib's 68 landmarks inside a face box found by any detector: the stated fallback of
    the quality measures (pose, eyes, inter-eye distance) for backends with fewer points."""
    dlib = _import_dlib()
    rect = dlib.rectangle(box.left, box.top, box.right, box.bottom)
    shape = _landmark_predictor()(pixels, rect)
    return tuple((p.x, p.y) for p in shape.parts())


class DlibFaceModel:
    """The default face model. See ``FaceModel`` for the contract."""

    def __init__(
        self,
        detector_upsample: int = 1,
        landmarks: str = "68",
        chip_size: int = 150,
        chip_padding: float = 0.25,
        mirror: bool = False,
        fallback_adjust: float = -0.5,
    ) -> None:
        if landmarks not in LANDMARK_FILES:
            raise ValueError(f"landmarks must be one of {sorted(LANDMARK_FILES)}, not {landmarks}")
        self.detector_upsample = detector_upsample
        self.landmarks = landmarks
        self.chip_size = chip_size
        self.chip_padding = chip_padding
        self.mirror = mirror
        self.fallback_adjust = fallback_adjust
        self._dlib: Any = None
        self._detector: Any = None
        self._predictor: Any = None
        self._descriptor: Any = None
        self._space: EmbeddingSpace | None = None

    @property
    def space(self) -> EmbeddingSpace:
        if self._space is None:
            self._space = self._describe()
        return self._space

    def _describe(self) -> EmbeddingSpace:
        dlib = _import_dlib()
        align = f"dlib.get_face_chip(size={self.chip_size},padding={self.chip_padding:g})"
        if self.mirror:
            align += "+mirror-average"
        return EmbeddingSpace(
            model_name="dlib_face_recognition_resnet_model_v1",
            model_version=f"dlib {dlib.__version__}",
            weights_sha256=file_sha256(_weights(DESCRIPTOR_FILE)),
            detector=self._detector_name(),
            landmark_model=LANDMARK_FILES[self.landmarks].removesuffix(".dat"),
            landmark_sha256=file_sha256(_weights(LANDMARK_FILES[self.landmarks])),
            alignment=align,
            normalisation="l2-unit; score=cosine similarity",
            dim=128,
            pipeline_revision=PIPELINE_REVISION,
            software_version=__version__,
        )

    def _detector_name(self) -> str:
        name = f"dlib-hog(upsample={self.detector_upsample}"
        if self.fallback_adjust < 0:
            name += f",fallback-adjust={self.fallback_adjust:g}"
        return name + ")"

    @property
    def loaded(self) -> bool:
        return self._descriptor is not None

    def load(self) -> None:
        if self.loaded:
            return
        dlib = _import_dlib()
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(_weights(LANDMARK_FILES[self.landmarks])))
        self._descriptor = dlib.face_recognition_model_v1(str(_weights(DESCRIPTOR_FILE)))

    def _require_loaded(self) -> None:
        if not self.loaded:
            raise RuntimeError("DlibFaceModel.load() must be called before use")

    def detect(self, pixels: RGBImage) -> list[Detection]:
        self._require_loaded()
        rects, scores, _ = self._detector.run(pixels, self.detector_upsample, 0.0)
        if not rects and self.fallback_adjust < 0:
            # second pass with a lower detection threshold, only when the first found nothing;
            # the detector score of such a face is below 0 and is kept with the detection
            rects, scores, _ = self._detector.run(
                pixels, self.detector_upsample, self.fallback_adjust
            )
        found = []
        for rect, score in zip(rects, scores, strict=True):
            shape = self._predictor(pixels, rect)
            points = tuple((p.x, p.y) for p in shape.parts())
            box = Box(rect.left(), rect.top(), rect.right(), rect.bottom())
            found.append(Detection(box=box, score=float(score), landmarks=points))
        found.sort(key=lambda d: d.box.width * d.box.height, reverse=True)
        return found

    def chip(self, pixels: RGBImage, detection: Detection) -> RGBImage:
        """The aligned face chip that the descriptor sees."""
        self._require_loaded()
        dlib = self._dlib
        b = detection.box
        rect = dlib.rectangle(b.left, b.top, b.right, b.bottom)
        parts = [dlib.point(x, y) for x, y in detection.landmarks]
        shape = dlib.full_object_detection(rect, parts)
        return np.asarray(dlib.get_face_chip(pixels, shape, self.chip_size, self.chip_padding))

    def embed(self, pixels: RGBImage, detection: Detection) -> FloatVector:
        self._require_loaded()
        chip = self.chip(pixels, detection)
        if self.mirror:
            flipped = np.ascontiguousarray(chip[:, ::-1])
            vectors = self._descriptor.compute_face_descriptor([chip, flipped])
            vec = np.mean([np.asarray(v) for v in vectors], axis=0)
        else:
            vec = np.asarray(self._descriptor.compute_face_descriptor(chip))
        vec = vec.astype(np.float32)
        norm = float(np.linalg.norm(vec))
        if not np.isfinite(norm) or norm == 0.0:
            raise ValueError("descriptor has zero or non-finite length")
        return vec / norm
