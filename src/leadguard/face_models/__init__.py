"""Face model backends behind one small protocol, registered by name (``registry``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from leadguard.core.config import Settings
    from leadguard.core.types import EmbeddingSpace
    from leadguard.face_models.base import FaceModel


def create_model(settings: Settings, name: str | None = None) -> FaceModel:
    """Construct (not load) a face model backend: ``name``, else the setting ``face_model``."""
    from leadguard.face_models.registry import create

    return create(settings, name)


def model_space(settings: Settings, name: str | None = None) -> EmbeddingSpace:
    """The embedding space of the model these settings name, without loading its weights
    (the files' digests are checked and hashed once per process)."""
    return create_model(settings, name).space
