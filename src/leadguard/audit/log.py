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
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from leadguard.audit import head, keyed
from leadguard.audit.head import HeadRead
from leadguard.storage.tables import AuditEntry, AuthToken, User

GENESIS = "0" * 64


_ACTOR: ContextVar[str | None] = ContextVar("leadguard_actor", default=None)


def current_actor() -> str:
    return _ACTOR.get() or f"os:{getpass.getuser()}"


# the login a service call acts through: (account name, its token row's id); entries that
# account writes inside record the token's row (ACTED_VIA)
_VIA: ContextVar[tuple[str, int] | None] = ContextVar("leadguard_via", default=None)


@contextmanager
def acting_through(username: str, token_id: int | None) -> Iterator[None]:
    """Entries written inside by ``username`` record the login token it acts through."""
    token = _VIA.set((username, token_id) if token_id is not None else None)
    try:
        yield
    finally:
        _VIA.reset(token)


def set_acting_through(username: str, token_id: int | None) -> None:
    """``acting_through`` for the rest of this process's context (a CLI command)."""
    _VIA.set((username, token_id) if token_id is not None else None)


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


def digest_values(table: str, ident: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"table", "id", "sha256"}`` of one row given its column values by column name
    (bytes by their own SHA-256, times in UTC). ``row_digest`` for an ORM row; a migration
    reading rows with Core gets the same digest."""
    clean: dict[str, Any] = {}
    for key, v in values.items():
        if isinstance(v, bytes | memoryview):
            v = hashlib.sha256(bytes(v)).hexdigest()
        elif isinstance(v, datetime):  # SQLite gives stored UTC times back without a zone
            v = (v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)).isoformat()
        clean[key] = v
    body = json.dumps(clean, sort_keys=True, separators=(",", ":"), default=str)
    return {"table": table, "id": ident, "sha256": hashlib.sha256(body.encode()).hexdigest()}


def row_digest(row: Any) -> dict[str, Any]:
    """``{"table", "id", "sha256"}`` of one stored row: SHA-256 over its column values
    (bytes by their own SHA-256), so that an entry that names a record proves its content."""
    mapper = sa_inspect(row).mapper
    values = {attr.columns[0].name: getattr(row, attr.key) for attr in mapper.column_attrs}
    ident = sa_inspect(row).identity
    return digest_values(
        str(mapper.local_table.name),  # type: ignore[attr-defined]
        ident[0] if ident and len(ident) == 1 else list(ident or ()),
        values,
    )


# the acting account's row as it stands when an entry is written: ``verify`` checks it
# against what the entries before record, so an account changed outside LeadGuard, used,
# and put back is still found (``records.acted_problems``)
ACTED_AS = "acted_as"
ACTED_VIA = "acted_via"  # the login token's row the account acts through, likewise
_NOT_ACCOUNTS = ("os:", "migration:", "leadguard:")
_ACCOUNTS = "leadguard.acting_accounts"  # session.info: the account rows read for ACTED_AS


def _account_row(session: Session, who: str) -> Any:
    """The account row of the actor ``who`` names (None for a process, a migration, or a
    name no account has, such as a failed login's)."""
    if who.startswith(_NOT_ACCOUNTS):
        return None
    tx = session.get_transaction()
    held = session.info.get(_ACCOUNTS)
    if held is None or held[0] is not tx:  # an earlier transaction's rows: read again
        held = session.info[_ACCOUNTS] = (tx, {})
    known: dict[str, Any] = held[1]  # one query a transaction and name
    if who not in known:
        fresh = select(User).where(User.username == who).execution_options(populate_existing=True)
        known[who] = session.scalars(fresh).first()
    return known[who]


def _token_row(session: Session, who: str) -> Any:
    """The row of the login token ``who`` acts through in this call (``acting_through``),
    read in this transaction: revoked meanwhile by a logout elsewhere, it is recorded as it
    now stands, as the entries before record it."""
    via = _VIA.get()
    if via is None or via[0] != who:
        return None
    fresh = (
        select(AuthToken).where(AuthToken.id == via[1]).execution_options(populate_existing=True)
    )
    return session.scalars(fresh).first()


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
    who = actor or current_actor()
    if acting := _account_row(session, who):
        details = {**details, ACTED_AS: row_digest(acting)}
        if through := _token_row(session, who):
            details = {**details, ACTED_VIA: row_digest(through)}
    # No other writer can append between this read and the commit: the transaction began
    # IMMEDIATE (SQLite) or by taking the writer lock (PostgreSQL; storage/db.make_engine).
    last = session.execute(  # the head's number and hash only, not its details
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    seq = int(last[0]) + 1 if last else 1
    prev = str(last[1]) if last else GENESIS
    at = datetime.now(UTC).isoformat()
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
    keyed.on_append(session, seq, entry.hash)  # its code, where the log is keyed
    session.flush()
    return entry


@dataclass(frozen=True)
class ChainCheck:
    entries: int
    broken_at: int | None  # sequence number (or position, for a damaged or misplaced row)
    reason: str
    head_seq: int | None = None  # the last entry, as read (trusted only if the chain is intact)
    head_hash: str | None = None
    records_checked: int = 0  # working records named by entries and checked against them
    record_problems: tuple[str, ...] = ()  # edited, deleted or reappeared working records
    key_problems: tuple[str, ...] = ()  # a keyed log's entries without a valid code
    keyed_note: str = ""  # a keyed log: how many codes were checked, or why none was
    head_problems: tuple[str, ...] = ()  # the log unlike this account's head receipt
    head_note: str = ""  # the head receipt: the entry it records, or why none was checked

    @property
    def problems(self) -> tuple[str, ...]:
        """Every finding of an unbroken chain: records, codes, then the head receipt."""
        return self.record_problems + self.key_problems + self.head_problems

    @property
    def intact(self) -> bool:
        return self.broken_at is None and not self.problems


def verify(
    session: Session, mac_key: bytes | None = None, receipt: HeadRead | None = None
) -> ChainCheck:
    """Walk the chain from genesis and check every working record the entries name.

    Reads only (writes nothing, not even an entry of its own). A damaged row (unreadable
    details, a sequence number that is not a number, a missing hash) is named with the
    reason, never raised. Each record named by an entry's ``records`` must still exist with
    the content hash of the latest entry naming it; one named by ``deleted_records`` must be
    gone. Each space's look-alike counts, evaluation cache and enrollment failures must
    have the set digest their latest state entry records (``audit.table_state``). A
    database trigger LeadGuard did not create is named too (``storage.triggers``). In a
    keyed log every entry from the key's adoption on must carry its authentication code
    under ``mac_key`` (default: the session's key; ``audit.keyed``), and the log must hold
    the entry that this account's head ``receipt`` (read before the session, by
    ``head.read_first``) records (``audit.head``)."""
    from leadguard.audit import cache_state, failures_state, lookalike_state
    from leadguard.audit.records import acted_problems, check_records, read_chain
    from leadguard.storage.triggers import foreign_triggers

    rows = read_chain(session)
    prev = GENESIS
    broken: tuple[int, str] | None = None
    trusted: list[tuple[int, dict[str, Any]]] = []  # (seq, details) of readable entries
    for expected, r in enumerate(rows, start=1):
        if r.problem:
            broken = broken or (expected, f"audit_log row id {r.row_id}: {r.problem}")
            continue
        trusted.append((r.seq, r.details))
        if broken:
            continue
        if r.seq != expected:
            what = "missing (deleted)" if r.seq > expected else "out of sequence (inserted)"
            broken = (expected, f"entry {expected} is {what}")
        elif r.prev_hash != prev:
            after = f"entry {r.seq - 1}"
            broken = (r.seq, f"entry {r.seq} does not follow {after} (inserted or reordered)")
        elif entry_hash(r) != r.hash:
            broken = (r.seq, f"entry {r.seq} was altered after it was written")
        else:
            prev = r.hash
    misplaced = [r for r in rows if not isinstance(r.seq, int)]  # cannot be put in order
    if misplaced and (broken is None or "missing" in broken[1]):
        at = broken[0] if broken else len(rows)
        broken = (at, f"audit_log row id {misplaced[0].row_id}: {misplaced[0].problem}")
    checked, problems = check_records(session, trusted)
    problems += acted_problems([r for r in rows if not r.problem])
    problems += [
        f"database trigger {name!r} on table {table}: not one of LeadGuard's (created outside"
        " it); a trigger can change rows as LeadGuard writes them, after it hashed them: drop"
        " it, then compare the database with a backup"
        for name, table in foreign_triggers(session)
    ]
    for tracked in (lookalike_state.TRACKED, cache_state.TRACKED, failures_state.TRACKED):
        states = {  # the latest entry per space, as the chain is read (later ones replace)
            r.object: (r.seq, r.details)
            for r in rows
            if not r.problem and r.action == tracked.action
        }
        problems += tracked.check(session, states)
    key = mac_key or keyed.session_key(session)
    unreadable = None if mac_key else session.info.get(keyed.UNREADABLE)
    key_problems, key_note = keyed.check(session, rows, key, unreadable)
    head_problems, head_note = head.check(rows, receipt)
    last = rows[-1] if rows else None
    return ChainCheck(
        entries=len(rows),
        broken_at=broken[0] if broken else None,
        reason=broken[1] if broken else "intact",
        head_seq=last.seq if last and not last.problem else None,
        head_hash=last.hash if last and not last.problem else None,
        records_checked=checked,
        record_problems=tuple(problems),
        key_problems=tuple(key_problems),
        keyed_note=key_note,
        head_problems=tuple(head_problems),
        head_note=head_note,
    )


def hash_at(session: Session, seq: int) -> str | None:
    """The stored hash of the entry with this sequence number (None if there is none)."""
    return session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == seq).limit(1))


def entry_hash(r: Any) -> str:
    """The hash an entry's content gives (equal to its stored ``hash`` if unedited)."""
    return content_hash(r.prev_hash, r.seq, r.at, r.actor, r.action, r.object, r.details)


def deleted_records(rows: list[Any] | tuple[Any, ...]) -> list[dict[str, Any]]:
    """``{"table", "id"}`` of rows a change deletes: put them in the entry's details under
    ``"deleted_records"`` (before deleting), so that ``verify`` expects them gone."""
    out = []
    for row in rows:
        state = sa_inspect(row)
        ident = state.identity
        out.append(
            {
                "table": state.mapper.local_table.name,
                "id": ident[0] if ident and len(ident) == 1 else list(ident or ()),
            }
        )
    return out


def object_clause(wanted: str) -> ColumnElement[bool]:
    """Entries about exactly this object and its parts: ``subject:A`` selects ``subject:A``
    and ``subject:A/...``, never ``subject:AB``; a kind ending in ``:`` (``subject:``) selects
    every object of the kind. Plain comparison of characters, never a LIKE pattern (in which
    ``_`` and ``%`` match anything)."""
    col = AuditEntry.object
    if wanted.endswith((":", "/")):
        return func.substr(col, 1, len(wanted)) == wanted
    child = wanted + "/"
    return or_(col == wanted, func.substr(col, 1, len(child)) == child)


def export(session: Session, object_prefix: str = "") -> Iterator[dict[str, Any]]:
    """Entries (all, or those of one object and its parts: ``object_clause``) with their
    chain fields, so that a recipient can recompute every hash."""
    q = select(AuditEntry).order_by(AuditEntry.seq)
    if object_prefix:
        q = q.where(object_clause(object_prefix))
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
