"""Frozen domain values. NumPy arrays are checked at construction."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

FloatVector = npt.NDArray[np.float32]
RGBImage = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class EmbeddingSpace:
    """Everything that determines what a template vector means.

    Two templates are comparable only if their spaces have the same ``key``. The key
    covers every field that changes the vectors; ``software_version`` is recorded for
    provenance but is not part of the key, so upgrading LeadGuard without changing
    the pipeline does not orphan a gallery (``pipeline_revision`` is bumped instead
    whenever the code's output changes).
    """

    model_name: str
    model_version: str
    weights_sha256: str
    detector: str
    landmark_model: str
    landmark_sha256: str
    alignment: str
    normalisation: str
    dim: int
    pipeline_revision: int
    software_version: str

    def key_fields(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("software_version")
        return d

    @cached_property
    def key(self) -> str:  # computed once: the fields are frozen
        blob = json.dumps(self.key_fields(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmbeddingSpace:
        return cls(**{k: v for k, v in data.items() if k != "key"})


@dataclass(frozen=True)
class ImageMeta:
    """What is kept about an image: where it came from, its hash and its size."""

    source: str
    sha256: str
    format: str
    width: int
    height: int
    byte_size: int


@dataclass(frozen=True)
class DecodedImage:
    """An image decoded to 8-bit RGB, EXIF orientation applied."""

    source: str
    sha256: str
    format: str
    width: int
    height: int
    byte_size: int
    pixels: RGBImage = field(repr=False)

    def __post_init__(self) -> None:
        p = self.pixels
        if p.dtype != np.uint8 or p.ndim != 3 or p.shape[2] != 3:
            raise ValueError(f"pixels must be HxWx3 uint8, got {p.dtype} {p.shape}")
        if p.shape[:2] != (self.height, self.width):
            raise ValueError("pixels shape does not agree with width/height")

    @property
    def meta(self) -> ImageMeta:
        return ImageMeta(
            self.source, self.sha256, self.format, self.width, self.height, self.byte_size
        )


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)


@dataclass(frozen=True)
class Detection:
    """A detected face: box, detector score, and landmarks (x, y) in image pixels."""

    box: Box
    score: float
    landmarks: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class FaceTemplate:
    """A face's template: a unit vector in one embedding space."""

    detection: Detection
    vector: FloatVector = field(repr=False)
    space_key: str

    def __post_init__(self) -> None:
        v = self.vector
        if v.dtype != np.float32 or v.ndim != 1:
            raise ValueError(f"template vector must be 1-d float32, got {v.dtype} {v.shape}")


@dataclass(frozen=True)
class Candidate:
    """One entry of a candidate list. A candidate is a lead to check, not an identification."""

    rank: int
    subject: str
    score: float
    image_path: str
    image_sha256: str
    template_id: int
    encounter_date: date | None
    evidence: Any = None  # leadguard.evidence.statements.CandidateEvidence
    photo_quality: dict[str, Any] | None = None  # gate verdict of the gallery photo


@dataclass(frozen=True)
class CandidateList:
    """The answer to a search: ranked candidates, with what was searched."""

    probe_source: str
    probe_sha256: str
    probe_face: Detection
    space: EmbeddingSpace
    gallery_subjects: int
    gallery_templates: int
    top_k: int
    candidates: tuple[Candidate, ...]
    notices: tuple[str, ...] = ()
    mode: str = "open-set"  # or "investigation" (fixed length, no threshold)
    threshold: Any = None  # leadguard.evidence.chance.GalleryThreshold
    evidence_model: dict[str, Any] | None = None  # which measured model the statements use
    incident_date: date | None = None
    search_id: int | None = None  # the search log entry
    quality: dict[str, Any] | None = None  # the probe's measures and the gate's verdict
    provenance: dict[str, Any] | None = None  # source type, EXIF, hashes, LeadGuard's edits
    open_set: Any = None  # leadguard.evidence.tail.OpenSetDecision: the per-search fit

    @property
    def listing_threshold(self) -> float | None:
        """The score the list starts from: the per-search threshold, never below the
        gallery-size threshold (which alone is used where the per-search fit was refused)."""
        if self.open_set is not None and self.open_set.listing_threshold is not None:
            return float(self.open_set.listing_threshold)
        return float(self.threshold.threshold) if self.threshold is not None else None

    @property
    def outcome(self) -> str:
        if self.gallery_templates == 0:
            return "empty_gallery"
        return "candidates" if self.candidates else "no_candidate"


@dataclass(frozen=True)
class GalleryStats:
    subjects: int
    encounters: int
    images: int
    faces: int
    templates_by_space: dict[str, int]
    failures_by_reason: dict[str, int]
    quality_by_decision: dict[str, int]  # gallery faces by the gate's verdict at enrollment
