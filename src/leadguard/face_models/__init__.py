"""Face model backends behind one small protocol, registered by name (``registry``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadguard.core.config import Settings
    from leadguard.face_models.base import FaceModel


def create_model(settings: Settings, name: str | None = None) -> FaceModel:
    """Construct (not load) a face model backend: ``name``, else the setting ``face_model``."""
    from leadguard.face_models.registry import create

    return create(settings, name)
