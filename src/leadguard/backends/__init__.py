"""Face model backends behind one small protocol. Imported lazily by name."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadguard.backends.base import FaceModel
    from leadguard.config import Settings


def create_model(settings: Settings, name: str = "dlib") -> FaceModel:
    """Construct (not load) a face model backend by name."""
    if name == "dlib":
        from leadguard.backends.dlib_backend import DlibFaceModel

        return DlibFaceModel(
            detector_upsample=settings.detector_upsample,
            landmarks=settings.landmarks,
            chip_size=settings.chip_size,
            chip_padding=settings.chip_padding,
            mirror=settings.mirror,
            fallback_adjust=settings.detector_fallback_adjust,
        )
    raise ValueError(f"unknown face model backend {name!r} (available: dlib)")
