"""Face-model backends registered by name.

A backend is a factory ``(Settings) -> FaceModel`` (construct, do not load). The built-in
backends are declared as entry points of the group ``leadguard.face_models`` in LeadGuard's
own pyproject.toml, exactly as a plug-in package would declare one; ``BUILTIN`` repeats them
so that an installation without entry-point metadata (a source checkout on sys.path) still
finds them. The setting ``face_model`` picks one.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from leadguard.core.errors import InputError

if TYPE_CHECKING:
    from leadguard.core.config import Settings
    from leadguard.face_models.base import FaceModel

log = logging.getLogger(__name__)

GROUP = "leadguard.face_models"
Factory = Callable[["Settings"], "FaceModel"]

BUILTIN: dict[str, str] = {
    "dlib-resnet": "leadguard.face_models.factories:dlib_resnet",
    "sface": "leadguard.face_models.factories:sface",
}
ALIASES = {"dlib": "dlib-resnet"}  # the name used before the registry existed


@dataclass(frozen=True)
class Registered:
    name: str
    target: str  # "module:function"
    origin: str  # "built-in" or the distribution that declared it

    def factory(self) -> Factory:
        module, _, attr = self.target.partition(":")
        fn: Factory = getattr(importlib.import_module(module), attr)
        return fn


@cache
def registered() -> dict[str, Registered]:
    """Every backend: the built-ins, then entry points (a plug-in may not replace a built-in)."""
    out = {name: Registered(name, target, "built-in") for name, target in BUILTIN.items()}
    for ep in entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "unknown"
        if ep.name in out:
            if out[ep.name].target != ep.value:
                log.warning("face model %r from %s ignored: the name is built in", ep.name, dist)
            continue
        out[ep.name] = Registered(ep.name, ep.value, dist)
    return out


def names() -> list[str]:
    return sorted(registered())


def resolve(name: str) -> Registered:
    name = ALIASES.get(name, name)
    found = registered().get(name)
    if found is None:
        raise InputError(f"unknown face model {name!r} (registered: {', '.join(names())})")
    return found


def create(settings: Settings, name: str | None = None) -> FaceModel:
    """Construct (not load) the backend ``name``, else the one the settings choose."""
    return resolve(name or settings.face_model).factory()(settings)
