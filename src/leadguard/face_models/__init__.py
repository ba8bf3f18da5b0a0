"""Face model backends behind one small protocol, registered by name (``registry``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadguard.backends.base import FaceModel
    from leadguard.config import Settings


def create_model(settings: Settings, name: str | None = None) -> FaceModel:
    """Construct (not load) a face model backend: ``name``, else the setting ``face_model``."""
    from leadguard.backends.registry import create

    return create(settings, name)
