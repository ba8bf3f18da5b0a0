"""Face models as services: list them with their evaluations and acceptance, accept one
(an administrator, audited), and move the gallery to a model's embedding space."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from leadguard.core.errors import LeadGuardError
from leadguard.gallery.enroll import EnrollReport
from leadguard.services.context import Actor, Context
from leadguard.services.gallery import as_actor, operator_check


@dataclass(frozen=True)
class ModelStatus:
    model: str
    origin: str
    chosen: bool
    space: dict[str, Any] | None
    evaluation: dict[str, Any] | None
    acceptance: dict[str, Any] | None
    unavailable: str | None = None
    default: bool = False  # the model new workspaces are created with
    default_reason: str = ""

    @property
    def open_set_search(self) -> bool:
        return self.acceptance is not None


@dataclass(frozen=True)
class AcceptanceInfo:
    id: int | None
    model: str
    space_key: str
    accepted_by: str
    evaluation: dict[str, Any]


def _status(ctx: Context, name: str, origin: str, chosen: bool) -> ModelStatus:
    from leadguard.acceptance import gate as models_gate
    from leadguard.face_models import model_space

    settings = ctx.settings.model_copy(update={"face_model": name})
    try:
        space = model_space(settings)
    except LeadGuardError as exc:
        return ModelStatus(name, origin, chosen, None, None, None, str(exc))
    with ctx.session() as s:
        ev = models_gate.evaluation(s, space.key)
        acc = models_gate.acceptance(s, space.key)
    evaluation = {
        "records": ev.records,
        "numbers": ev.numbers,
        "missing": list(ev.problems),
        "missing_protocols": [p for p in models_gate.REQUIRED if p not in ev.records],
    }
    accepted = None
    if acc is not None:
        accepted = {
            "source": acc.source,
            "accepted_by": acc.accepted_by,
            "at": acc.at.isoformat() if acc.at else None,
            "id": acc.id,
            "note": acc.note,
        }
    return ModelStatus(name, origin, chosen, space.to_dict(), evaluation, accepted)


def list_models(ctx: Context, actor: Actor | None) -> list[ModelStatus]:
    """Each registered face model: its space, evaluation records and acceptance (a read)."""
    from leadguard.core.config import DEFAULT_FACE_MODEL, DEFAULT_FACE_MODEL_REASON
    from leadguard.face_models.registry import registered, resolve

    operator_check(ctx, actor, "gallery.read", "models")
    chosen = resolve(ctx.settings.face_model).name
    default = resolve(DEFAULT_FACE_MODEL).name
    out = []
    for r in registered().values():
        status = _status(ctx, r.name, r.origin, r.name == chosen)
        if r.name == default:
            status = replace(status, default=True, default_reason=DEFAULT_FACE_MODEL_REASON)
        out.append(status)
    return out


def accept_model(ctx: Context, actor: Actor | None, name: str, note: str = "") -> AcceptanceInfo:
    """An administrator accepts a completely evaluated space for open-set search."""
    from leadguard.acceptance import gate as models_gate
    from leadguard.face_models import model_space
    from leadguard.face_models.registry import resolve
    from leadguard.services.authz import NotAllowed

    found = resolve(name)
    operator_check(ctx, actor, "model.accept", f"model:{found.name}")
    if actor is None:
        raise NotAllowed("accepting a face model needs an administrator's login")
    space = model_space(ctx.settings.model_copy(update={"face_model": found.name}))
    with ctx.session() as s:
        acc = models_gate.accept(s, space, found.name, actor.username, actor.role, note)
    return AcceptanceInfo(acc.id, found.name, space.key, acc.accepted_by, acc.evaluation)


def reembed_gallery(
    ctx: Context,
    actor: Actor | None,
    model: str,
    progress: Callable[[int, int, int], None] | None = None,
    retry_failed: bool = False,
) -> EnrollReport:
    """Enroll the stored gallery images again in ``model``'s space (resumable)."""
    from leadguard.gallery.reembed import reembed

    operator_check(ctx, actor, "gallery.enroll", "gallery")
    return as_actor(
        actor, lambda: reembed(ctx.ws, model, progress=progress, retry_failed=retry_failed)
    )
