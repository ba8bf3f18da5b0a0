"""The tamper-evident audit log: append-only, hash-chained, written in the same database
transaction as the change it records.

Each entry's hash is SHA-256 over the previous entry's hash and the entry's canonical
content (sequence number, time, actor, action, object, details). ``verify`` walks the chain
in sequence order and names the first entry where it breaks: an edited entry no longer
matches its hash, a deleted one leaves a gap, an inserted or reordered one no longer
follows its predecessor's hash.

The actor is the LeadGuard user acting, from a login (services pass it or set it with
``acting_as``); in a workspace without accounts, the operating-system user running the
command. Never an environment variable.
"""

from __future__ import annotations

import getpass
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.storage.models import AuditEntry

GENESIS = "0" * 64


_ACTOR: ContextVar[str | None] = ContextVar("leadguard_actor", default=None)


def current_actor() -> str:
    return _ACTOR.get() or f"os:{getpass.getuser()}"


@contextmanager
def acting_as(username: str) -> Iterator[None]:
    """Entries written inside are attributed to this LeadGuard user."""
    token = _ACTOR.set(username)
    try:
        yield
    finally:
        _ACTOR.reset(token)


def content_hash(
    prev: str, seq: int, at: str, actor: str, action: str, obj: str, details: dict[str, Any]
) -> str:
    body = json.dumps(
        [seq, at, actor, action, obj, details],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256((prev + body).encode()).hexdigest()


def row_digest(row: Any) -> dict[str, Any]:
    """``{"table", "id", "sha256"}`` of one stored row: SHA-256 over its column values
    (bytes by their own SHA-256), so that an entry that names a record proves its content."""
    mapper = sa_inspect(row).mapper
    values: dict[str, Any] = {}
    for attr in mapper.column_attrs:
        v = getattr(row, attr.key)
        values[attr.key] = hashlib.sha256(v).hexdigest() if isinstance(v, bytes) else v
    body = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    ident = sa_inspect(row).identity
    return {
        "table": mapper.local_table.name,
        "id": ident[0] if ident and len(ident) == 1 else list(ident or ()),
        "sha256": hashlib.sha256(body.encode()).hexdigest(),
    }


def append(
    session: Session,
    action: str,
    obj: str,
    details: dict[str, Any],
    actor: str | None = None,
    records: tuple[Any, ...] | list[Any] = (),
) -> AuditEntry:
    """Add an entry in the caller's transaction (it commits or rolls back with the change).

    ``records``: the stored rows this change created or changed; their content hashes
    (``row_digest``) go into the entry's details under ``"records"``, so that ``verify`` can
    name a record edited or deleted after the entry was written."""
    if records:
        session.flush()
        details = {**details, "records": [row_digest(r) for r in records]}
    last = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
    seq = last.seq + 1 if last else 1
    prev = last.hash if last else GENESIS
    at = datetime.now(UTC).isoformat()
    who = actor or current_actor()
    clean = json.loads(json.dumps(details, default=str))  # what is stored is what is hashed
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=who,
        action=action,
        object=obj,
        details=clean,
        prev_hash=prev,
        hash=content_hash(prev, seq, at, who, action, obj, clean),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainCheck:
    entries: int
    broken_at: int | None  # sequence number (or row id, for a row out of sequence)
    reason: str

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(session: Session) -> ChainCheck:
    rows = session.scalars(select(AuditEntry).order_by(AuditEntry.seq, AuditEntry.id)).all()
    prev = GENESIS
    for expected, e in enumerate(rows, start=1):
        if e.seq != expected:
            what = "missing (deleted)" if e.seq > expected else "out of sequence (inserted)"
            return ChainCheck(len(rows), expected, f"entry {expected} is {what}")
        if e.prev_hash != prev:
            return ChainCheck(
                len(rows),
                e.seq,
                f"entry {e.seq} does not follow entry {e.seq - 1} (inserted or reordered)",
            )
        h = content_hash(e.prev_hash, e.seq, e.at, e.actor, e.action, e.object, e.details)
        if h != e.hash:
            return ChainCheck(len(rows), e.seq, f"entry {e.seq} was altered after it was written")
        prev = e.hash
    return ChainCheck(len(rows), None, "intact")


def export(session: Session, object_prefix: str = "") -> Iterator[dict[str, Any]]:
    """Entries (all, or those whose object starts with the prefix) with their chain fields,
    so that a recipient can recompute every hash."""
    q = select(AuditEntry).order_by(AuditEntry.seq)
    if object_prefix:
        q = q.where(AuditEntry.object.startswith(object_prefix))
    for e in session.scalars(q):
        yield entry_dict(e)


def entry_dict(e: AuditEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "object": e.object,
        "details": e.details,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }
