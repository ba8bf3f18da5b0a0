"""Factories of the built-in backends (the targets of their ``leadguard.face_models`` entry
points). Each reads the settings that belong to its pipeline and constructs, never loads."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadguard.core.config import Settings
    from leadguard.face_models.base import FaceModel


def dlib_resnet(settings: Settings) -> FaceModel:
    from leadguard.face_models.dlib_backend import DlibFaceModel

    return DlibFaceModel(
        detector_upsample=settings.detector_upsample,
        landmarks=settings.landmarks,
        chip_size=settings.chip_size,
        chip_padding=settings.chip_padding,
        mirror=settings.mirror,
        fallback_adjust=settings.detector_fallback_adjust,
    )


def sface(settings: Settings) -> FaceModel:
    from leadguard.face_models.sface_backend import SFaceModel

    return SFaceModel(mirror=settings.sface_mirror, batch=settings.sface_batch)
