"""The face model protocol. An ONNX backend can be added by implementing it."""

from __future__ import annotations

from typing import Protocol

from leadguard.core.types import Detection, EmbeddingSpace, FloatVector, RGBImage


class FaceModel(Protocol):
    """Detects faces and turns one into a unit-length template vector.

    Constructors store parameters only; ``load()`` reads the weights. ``space`` is
    valid after ``load()``.
    """

    @property
    def space(self) -> EmbeddingSpace: ...

    def load(self) -> None: ...

    def detect(self, pixels: RGBImage) -> list[Detection]:
        """All faces in an RGB image, largest first, with landmarks in image pixels."""
        ...

    def embed(self, pixels: RGBImage, detection: Detection) -> FloatVector:
        """The unit-length template of one detected face."""
        ...
