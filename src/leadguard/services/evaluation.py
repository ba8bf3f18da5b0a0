"""Evaluation and quality services: one function per command of ``leadguard eval`` and
``leadguard quality``. Each takes the context and the acting user, authorises, and runs as
that user, so the accuracy records, evidence models and policies it stores are audited under
their name. An evaluation run is an admin's in a workspace with accounts; measuring a photo's
quality is for those who prepare or check searches (examiners, supervisors, admins), and each
measurement is audited with the photo's SHA-256 and the verdict."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from leadguard.audit import log as audit
from leadguard.services.context import Actor, Context
from leadguard.services.gallery import as_actor, operator_check

if TYPE_CHECKING:
    from leadguard.evaluation.run import EvalResult
    from leadguard.quality.gate import Verdict
    from leadguard.storage.workspace import Workspace

T = TypeVar("T")
Progress = Callable[[int, int], None]


def _run(ctx: Context, actor: Actor | None, run: Callable[[Workspace], T]) -> T:
    operator_check(ctx, actor, "eval.run", "evaluation")
    return as_actor(actor, lambda: run(ctx.ws))


def verify_lfw(
    ctx: Context, actor: Actor | None, data: Path, out: Path | None, progress: Progress | None
) -> EvalResult:
    """LFW View 2 (``eval verify``)."""
    from leadguard.evaluation import run

    return _run(ctx, actor, lambda ws: run.verify_lfw(ws, data, out, progress))


def identify_blufr(
    ctx: Context,
    actor: Actor | None,
    data: Path,
    out: Path | None,
    splits: list[int] | None,
    progress: Progress | None,
) -> EvalResult:
    """BLUFR open-set identification (``eval identify``)."""
    from leadguard.evaluation import run

    return _run(ctx, actor, lambda ws: run.identify_blufr(ws, data, out, splits, progress))


def evaluate_manifest(
    ctx: Context,
    actor: Actor | None,
    manifest: Path,
    out: Path | None,
    nonmated: int,
    within_group: int,
    fmr: float,
    seed: int,
    progress: Progress | None,
) -> EvalResult:
    """Mated and non-mated pairs of a labelled manifest (``eval manifest``)."""
    from leadguard.evaluation import run

    return _run(
        ctx,
        actor,
        lambda ws: run.evaluate_manifest(
            ws, manifest, out, nonmated, within_group, fmr, seed, progress
        ),
    )


def fit_evidence(
    ctx: Context,
    actor: Actor | None,
    manifest: Path | None,
    blufr: Path | None,
    out: Path | None,
    seed: int,
    bootstraps: int,
    repeats: int,
    progress: Progress | None,
) -> EvalResult:
    """Fit and validate the evidence model on a manifest, or on the workspace's own gallery
    when ``manifest`` is None (``eval evidence``)."""
    from leadguard.evidence import run

    def fit(ws: Workspace) -> EvalResult:
        if manifest is None:
            return run.evaluate_gallery(ws, out, seed, bootstraps, repeats)
        return run.evaluate_evidence(ws, manifest, blufr, out, seed, bootstraps, repeats, progress)

    return _run(ctx, actor, fit)


def check_searches(
    ctx: Context,
    actor: Actor | None,
    manifest: Path,
    blufr: Path | None,
    out: Path | None,
    seed: int,
    progress: Progress | None,
    flag_with: str | None = None,
) -> EvalResult:
    """Open-set searches of the manifest's people (``eval evidence --searches``);
    ``flag_with``: a second model that flags probable same-person top hits."""
    from leadguard.evidence.search_run import evaluate_searches

    return _run(
        ctx,
        actor,
        lambda ws: evaluate_searches(ws, manifest, blufr, out, seed, progress, flag_with),
    )


def clear_cache(ctx: Context, actor: Actor | None, space_key: str | None) -> tuple[str, int]:
    """Discard the evaluation cache of a space (``eval clear-cache``; the workspace's face
    model's space unless one is named): the remedy for a cache that the chain does not
    record, and the next evaluation computes its templates again. Returns the space and the
    rows deleted; the clearing is audited."""
    from leadguard.evaluation.templates import clear_cached
    from leadguard.face_models import model_space

    key = space_key or model_space(ctx.settings).key
    return key, _run(ctx, actor, lambda ws: clear_cached(ws, key))


def quality_study(
    ctx: Context,
    actor: Actor | None,
    data: Path,
    out: Path | None,
    seed: int,
    people: int,
    progress: Progress | None,
) -> EvalResult:
    """The quality measures' study and the policy it supports (``eval quality``)."""
    from leadguard.quality.run import evaluate_quality

    return _run(ctx, actor, lambda ws: evaluate_quality(ws, data, out, seed, people, progress))


def group_tails(
    ctx: Context,
    actor: Actor | None,
    manifest: Path,
    other: str,
    out: Path | None,
    targets: Sequence[float] | None,
    progress: Progress | None,
) -> EvalResult:
    """Per-group non-mated tails of two models (``eval tails``)."""
    from leadguard.evaluation.run import default_out
    from leadguard.evaluation.tails import TARGETS, evaluate_tails

    return _run(
        ctx,
        actor,
        lambda ws: evaluate_tails(
            ws,
            manifest,
            other,
            out or default_out(ws, "group-tails"),
            tuple(targets or TARGETS),
            progress,
        ),
    )


def measure_quality(ctx: Context, actor: Actor | None, image: Path, face: int | None) -> Verdict:
    """Every quality measure of the face in ``image``, the unified score and the gate's
    verdict under the workspace's policy (``leadguard quality``). Audited as
    ``quality.measure`` with the photo's SHA-256, never the photo."""
    from leadguard.pipeline.compose import FacePipeline, FaceSelection
    from leadguard.pipeline.decode import read_file
    from leadguard.quality.gate import assess, workspace_policy

    operator_check(ctx, actor, "quality.measure", "quality")
    s = ctx.settings
    data = read_file(image, s.max_image_bytes)
    pipeline = FacePipeline(ctx.face_model(), s.min_face_size, s.max_image_pixels)
    measured = pipeline.measure(data, str(image), FaceSelection("reject", face))
    verdict = assess(measured.quality, workspace_policy(ctx.ws))
    details: dict[str, Any] = {
        "sha256": hashlib.sha256(data).hexdigest(),
        "face": face,
        "decision": verdict.decision,
    }
    with ctx.session() as session:
        audit.append(
            session,
            "quality.measure",
            f"image:{details['sha256'][:16]}",
            details,
            actor=actor.username if actor else None,
        )
    return verdict
