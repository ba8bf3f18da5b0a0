"""Gallery, index and search-log services. Once a workspace has accounts, each
needs a login whose role allows it (an admin maintains the gallery; supervisors, auditors
and admins read it); a workspace with no accounts is the evaluation and demo mode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.core.textsafe import free_text_problem
from leadguard.services.authz import NotAllowed, authorize
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.tables import AccuracyRecord, Case, SearchLog

if TYPE_CHECKING:
    from leadguard.core.types import EmbeddingSpace, GalleryStats
    from leadguard.evidence.duplicates import ProbableDuplicate, StrangerFigures
    from leadguard.gallery.enroll import EnrollReport
    from leadguard.gallery.lookalikes import LookalikeCheck
    from leadguard.gallery.maintenance import Expungement, IndexCheck

T = TypeVar("T")


def operator_check(ctx: Context, actor: Actor | None, action: str, obj: str = "workspace") -> None:
    """Workspace-wide actions: once a workspace has accounts, a login whose role allows it.
    A refusal is recorded."""
    with refusals(ctx, actor, action, obj):
        if not ctx.has_accounts():
            return
        if actor is None:
            raise NotAllowed(
                f"{action} needs a login in a workspace with accounts (`leadguard login USER`)"
            )
        with ctx.session() as s:
            authorize(current_user(s, actor), action)


def as_actor(actor: Actor | None, fn: Callable[[], T]) -> T:
    if actor is None:
        return fn()
    with audit.acting_as(actor.username):
        return fn()


def enroll(
    ctx: Context,
    actor: Actor | None,
    source: Path,
    progress: Callable[[int, int, int], None] | None = None,
    retry_failed: bool = False,
) -> EnrollReport:
    """Enroll a gallery."""
    from leadguard.gallery.enroll import enroll as run

    operator_check(ctx, actor, "gallery.enroll", "gallery")
    return as_actor(
        actor, lambda: run(ctx.ws, source, progress=progress, retry_failed=retry_failed)
    )


def remove_subject(ctx: Context, actor: Actor | None, subject: str) -> int:
    from leadguard.gallery.maintenance import remove_subject as run

    operator_check(ctx, actor, "gallery.remove", f"subject:{subject}")
    return as_actor(actor, lambda: run(ctx.ws, subject))


def expunge_subject(ctx: Context, actor: Actor | None, subject: str, order: str) -> Expungement:
    """Remove under a court order and prove it."""
    from leadguard.gallery.maintenance import expunge_subject as run

    operator_check(ctx, actor, "gallery.expunge", f"subject:{subject}")
    if problem := free_text_problem("the order's reference", order, 500):
        raise InputError(problem)
    return as_actor(actor, lambda: run(ctx.ws, subject, order))


def gallery_stats(ctx: Context, actor: Actor | None) -> GalleryStats:
    """Counts (plain values, no rows)."""
    from leadguard.storage.queries import gallery_stats as stats

    operator_check(ctx, actor, "gallery.read", "gallery")
    with ctx.session() as s:
        return stats(s)


def current_space(ctx: Context) -> EmbeddingSpace:
    from leadguard.face_models import model_space

    return model_space(ctx.settings)


def check_index(ctx: Context, actor: Actor | None) -> IndexCheck:
    from leadguard.gallery.maintenance import check_index as run

    operator_check(ctx, actor, "gallery.read", "index")
    return run(ctx.ws, current_space(ctx))


def rebuild_index(ctx: Context, actor: Actor | None) -> tuple[int, str]:
    from leadguard.gallery.maintenance import rebuild_index as run

    operator_check(ctx, actor, "index.maintain", "index")
    index = run(ctx.ws, current_space(ctx))
    return len(index), index.space_key


@dataclass(frozen=True)
class GalleryCheck:
    """``gallery check``: the index against the database, and the look-alike counts against
    counts recomputed from the database's vectors."""

    index: IndexCheck
    lookalikes: LookalikeCheck

    @property
    def consistent(self) -> bool:
        return self.index.consistent and self.lookalikes.consistent


def check_gallery(ctx: Context, actor: Actor | None) -> GalleryCheck:
    from leadguard.gallery.lookalikes import check_workspace
    from leadguard.gallery.maintenance import check_index as run

    operator_check(ctx, actor, "gallery.read", "gallery")
    space = current_space(ctx)
    return GalleryCheck(run(ctx.ws, space), check_workspace(ctx.ws, space.key))


def rebuild_lookalikes(ctx: Context, actor: Actor | None) -> tuple[int, str]:
    """Recompute the current space's look-alike counts from the database (audited)."""
    from leadguard.gallery.lookalikes import rebuild_workspace

    operator_check(ctx, actor, "index.maintain", "gallery")
    key = current_space(ctx).key
    return as_actor(actor, lambda: rebuild_workspace(ctx.ws, key)), key


@dataclass(frozen=True)
class SearchLogEntry:
    id: int
    created_at: datetime
    mode: str
    outcome: str
    candidates: int
    gallery_templates: int
    threshold: float | None
    probe_name: str
    refused: str | None = None  # why a refused search was refused (the probe's own words)


def search_log(ctx: Context, actor: Actor | None, last: int) -> list[SearchLogEntry]:
    """The latest searches (counts only); a supervisor sees those of their unit's cases."""
    operator_check(ctx, actor, "gallery.read", "search_log")
    with ctx.session() as s:
        q = select(SearchLog).order_by(SearchLog.id.desc())
        reader = current_user(s, actor) if actor is not None and ctx.has_accounts() else None
        if reader is not None and reader.role == "supervisor":
            from leadguard.services.audit import owners  # services.audit imports this module

            units = {n: u for n, u in s.execute(select(Case.number, Case.unit))}
            mine = [
                int(obj.removeprefix("search:"))
                for obj, number in owners(s).items()
                if obj.startswith("search:") and units.get(number) == reader.unit
            ]
            q = q.where(SearchLog.id.in_(mine))
        rows = s.scalars(q.limit(last)).all()
        return [
            SearchLogEntry(
                r.id,
                r.created_at,
                r.mode,
                r.outcome,
                r.candidates,
                r.gallery_templates,
                r.threshold,
                Path(r.probe_source).name,
                str(r.result.get("refused", "")) or None if r.mode == "refused" else None,
            )
            for r in rows
        ]


@dataclass(frozen=True)
class AccuracyRecordInfo:
    id: int
    created_at: datetime
    protocol: str
    space_key: str
    dataset: str
    report_dir: str


def accuracy_records(ctx: Context, actor: Actor | None) -> list[AccuracyRecordInfo]:
    operator_check(ctx, actor, "gallery.read", "records")
    with ctx.session() as s:
        recs = s.scalars(select(AccuracyRecord).order_by(AccuracyRecord.id)).all()
        return [
            AccuracyRecordInfo(r.id, r.created_at, r.protocol, r.space_key, r.dataset, r.report_dir)
            for r in recs
        ]


def probable_duplicates(ctx: Context, actor: Actor | None) -> StrangerFigures:
    """The gallery's stranger figures with its probable duplicates (two subject ids, one
    face: ``evidence.duplicates``) and the agency's verdicts on them."""
    from leadguard.evidence.gallery_figures import gallery_figures

    operator_check(ctx, actor, "gallery.read", "duplicates")
    return gallery_figures(ctx.ws, current_space(ctx).key)


def resolve_duplicate(
    ctx: Context, actor: Actor | None, subject_a: str, subject_b: str, verdict: str, note: str
) -> ProbableDuplicate:
    """Record the agency's verdict on two subject ids ("same person" keeps their pairs out of
    every stranger figure; "different people" counts them again), with a note; audited."""
    from leadguard.evidence.duplicates import OPEN, ProbableDuplicate, pair_key
    from leadguard.evidence.gallery_figures import VERDICTS, gallery_figures, record_resolution
    from leadguard.storage.tables import Subject

    a, b = pair_key(subject_a.strip(), subject_b.strip())
    obj = f"subjects:{a}|{b}"
    operator_check(ctx, actor, "gallery.resolve", obj)
    if verdict not in VERDICTS:
        raise InputError(f"verdict {verdict!r}: give one of {', '.join(map(repr, VERDICTS))}")
    if a == b:
        raise InputError(f"subject {a!r}: a pair needs two different subject ids")
    if not note.strip():
        raise InputError("note: say how the pair was resolved (it is kept with the verdict)")
    key = current_space(ctx).key
    listed = {d.key: d for d in gallery_figures(ctx.ws, key).duplicates}
    d = listed.get((a, b))
    with ctx.session() as s:
        known = set(s.scalars(select(Subject.external_id).where(Subject.external_id.in_([a, b]))))
        for sub in (a, b):
            if sub not in known:
                raise InputError(f"subject {sub!r}: not enrolled")
        user = actor.username if actor is not None else ""
        row = record_resolution(s, key, a, b, verdict, note.strip(), d.score if d else None, user)
        details = {
            "verdict": verdict,
            "note": note.strip(),
            "score": d.score if d else None,
            "flagged_by_rule": d is not None,
            "previous_verdict": d.verdict if d and d.verdict != OPEN else None,
            "space_key": key,
        }
        as_actor(
            actor, lambda: audit.append(s, "gallery_duplicate_resolve", obj, details, records=[row])
        )
    base = d or ProbableDuplicate(a, b, float("nan"), 0, 0, float("nan"), float("nan"), "")
    return ProbableDuplicate(**{**base.__dict__, "verdict": verdict, "note": note.strip()})
