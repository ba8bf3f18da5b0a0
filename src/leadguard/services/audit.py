"""Audit reads: chain verification and disclosure exports (the export is itself audited)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from leadguard import anchor as anchors
from leadguard import audit, index_files, textsafe
from leadguard.audit import ChainCheck
from leadguard.errors import InputError
from leadguard.services.context import Actor, Context
from leadguard.services.gallery import operator_check
from leadguard.storage.models import AuditEntry, Case, ProbeRecord, SearchLog, SearchRequest


@dataclass(frozen=True)
class Verification:
    check: ChainCheck
    head: str | None
    anchors: list[anchors.AnchorCheck] = field(default_factory=list)
    index_problems: list[str] = field(default_factory=list)  # files unlike recorded digests

    @property
    def intact(self) -> bool:
        return self.check.intact and all(a.ok for a in self.anchors) and not self.index_problems


def verify(
    ctx: Context,
    actor: Actor | None,
    anchor_files: list[Path] | None = None,
    public_key: Path | None = None,
) -> Verification:
    """A read: checks the chain, the working records its entries name, the index files
    against the digests recorded for the configured backend, and the log against
    each signed anchor (a forged anchor is refused before anything is read). Writes nothing
    (a refusal of the actor is recorded)."""
    pub = anchors.load_public_key(public_key) if public_key else None
    loaded = [anchors.load(p, pub) for p in anchor_files or []]
    operator_check(ctx, actor, "audit.read", "audit")
    with ctx.session() as s:
        check, results = anchors.verify(s, loaded)
        head = s.scalar(select(AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1))
        backend = ctx.ws.settings.index_backend
        problems = [
            p
            for key in index_files.recorded_spaces(s, backend)
            for p in index_files.check(s, key, backend, ctx.ws.index_path(key))
        ]
    return Verification(check, head, results, problems)


def anchor(ctx: Context, actor: Actor | None, key: Path, out: Path) -> dict[str, Any]:
    """Write a signed receipt of the log's head to ``out`` (outside the workspace)."""
    operator_check(ctx, actor, "audit.read", "audit")
    with ctx.session() as s:
        signed = anchors.make(s, key, ctx.root)
    anchors.write(signed, out, ctx.root)
    return signed


def trail(
    ctx: Context, actor: Actor | None, number: str | None, prefix: str = ""
) -> list[dict[str, Any]]:
    """Audit entries for disclosure: a case's whole trail (its own entries, refusals
    included, and those of the searches and probes its requests ran; selected exactly by
    number), or the entries of one object and its parts (``audit.object_clause``: ``prefix``
    ``subject:A`` never selects ``subject:AB``; ``subject:`` selects the kind). The export
    itself is audited."""

    operator_check(ctx, actor, "audit.read", f"case:{number}" if number else "audit")
    with ctx.session() as s:
        rows = entries(s, number, prefix)
        audit.append(
            s,
            "audit.export",
            f"case:{number}" if number else "audit",
            {"entries": len(rows), "prefix": prefix},
            actor=actor.username if actor else None,
        )
        return rows


def entries(s: Session, number: str | None, prefix: str = "") -> list[dict[str, Any]]:
    """The entries ``trail`` exports (a read: writes nothing)."""
    q = select(AuditEntry).order_by(AuditEntry.seq)
    case = None
    if number is not None:
        case = s.scalars(select(Case).where(Case.number == number)).first()
        objects = []  # a case refused at opening has entries but no row
        case_id = case.id if case is not None else -1
        for req in s.scalars(select(SearchRequest).where(SearchRequest.case_id == case_id)):
            if req.search_id is not None:
                objects.append(f"search:{req.search_id}")
            if req.probe_id is None:
                continue
            probes = [req.probe_id]  # the probe as received and LeadGuard's edits of it
            probes += s.scalars(
                select(ProbeRecord.id).where(ProbeRecord.parent_id == req.probe_id)
            ).all()
            objects += [f"probe:{p}" for p in probes]
            for row in s.scalars(select(SearchLog).where(SearchLog.probe_id.in_(probes))):
                objects.append(f"search:{row.id}")
        q = q.where(or_(audit.object_clause(f"case:{number}"), AuditEntry.object.in_(objects)))
    elif prefix:
        q = q.where(audit.object_clause(prefix))
    rows = [
        audit.entry_dict(e)
        for e in s.scalars(q)
        # exact: case M-A1's trail never takes case M-A1/X's entries (case:M-A1/X/...)
        if number is None or e.object in objects or textsafe.case_of(e.object) == number
    ]
    if number is not None and case is None and not rows:
        raise InputError(f"case {number!r} does not exist and has no audit entries")
    return rows
