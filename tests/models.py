"""The real face model for tests that drive the core search directly (below the services,
whose ``Context`` holds the model): one loaded model per embedding space per test process,
however many workspaces the tests open."""

from __future__ import annotations

from typing import Any

from leadguard.core.config import Settings
from leadguard.core.types import CandidateList
from leadguard.face_models import create_model, model_space
from leadguard.face_models.base import FaceModel
from leadguard.search.request import SearchRequest
from leadguard.search.run import search as run_search
from leadguard.storage.workspace import Workspace

_made: dict[str, FaceModel] = {}


def model_for(settings: Settings) -> FaceModel:
    """The loaded model these settings describe, shared by every workspace of its space."""
    key = model_space(settings).key
    if key not in _made:
        model = create_model(settings)
        model.load()
        _made[key] = model
    return _made[key]


def search(ws: Workspace, request: SearchRequest, **kw: Any) -> CandidateList:
    """``leadguard.search.run.search`` with the workspace's model (``model_for``)."""
    return run_search(ws, request, model=model_for(ws.settings), **kw)
