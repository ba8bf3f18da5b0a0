"""A keyed audit log: an authentication code (HMAC-SHA256) for every entry, made with a
secret key that is kept outside the database.

The hash chain alone has no secret: whoever can write the database can append an entry
with a correct hash, or rewrite the chain from some entry on and recompute every hash
after it, and ``audit verify`` then says "intact" (only a signed anchor taken after the
entries catches it). Once an admin adopts a key (``leadguard audit key``), every entry
written from then on also gets a code in ``audit_macs``: HMAC-SHA256 of its sequence number
and hash, under the key. The code of an entry covers its hash, which covers every entry
before it, so a forged, inserted or recomputed entry at or after the adoption lacks a
valid code unless its author can read the key. The key file lives outside the workspace
(refused inside it) and is named by ``audit_mac_key`` in the workspace's settings file,
never by the environment; the processes that write (CLI, server) read it.

A process without the key cannot write to a keyed log: ``append`` refuses (fail closed), so
no unkeyed entry is left behind for ``verify`` to name. What it cannot stop: someone who
can read the key file as well as write the database; a log cut off at its end (anchors
catch that). The adoption entry records the key's id (an HMAC of a fixed label, which does
not reveal the key), so a swapped key is named.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Text, inspect, select, type_coerce
from sqlalchemy.orm import Session

from leadguard.storage.audit_key import (
    ACTION,
    DROPPED,
    FORMAT,
    INFO,
    UNREADABLE,
    AuditKeyError,
    KeyMissing,
    create_key,
    dropped,
    key_id,
    load_key,
)
from leadguard.storage.tables import AuditEntry, AuditMac

# the key file and the sessions' key are storage's (storage.audit_key), named here too
__all__ = ["ACTION", "FORMAT", "INFO", "UNREADABLE", "AuditKeyError", "KeyMissing"]
__all__ += ["NOT_CHECKED", "create_key", "key_id", "load_key"]
__all__ += ["adopt", "adoption", "check", "code", "is_keyed", "local_problem", "on_append"]
__all__ += ["session_key"]
_SHOWN = 5  # findings named one by one; the rest are counted
_SEEN = "leadguard_audit_keyed_seen"  # Session.info: whether this session found the log keyed
NOT_CHECKED = "not checked"


def code(key: bytes, seq: int, entry_hash: str) -> str:
    return hmac.new(key, f"{seq}:{entry_hash}".encode(), hashlib.sha256).hexdigest()


def session_key(session: Session) -> bytes | None:
    key = session.info.get(INFO)
    return key if isinstance(key, bytes) else None


def is_keyed(session: Session) -> bool:
    return session.scalar(select(AuditMac.seq).limit(1)) is not None


def _keyed_here(session: Session) -> bool:
    """``is_keyed``, asked once per session (a transaction: no other writer between)."""
    if _SEEN not in session.info:
        session.info[_SEEN] = is_keyed(session)
    return bool(session.info[_SEEN])


def on_append(session: Session, seq: int, entry_hash: str) -> None:
    """Called for every new entry: its code under the session's key; with no key, refused
    where the log is keyed. A session made outside a workspace (a migration's own) and so
    without the ``INFO`` entry writes no code: ``verify`` would name its entry."""
    if INFO not in session.info:
        return
    key = session_key(session)
    if key is not None:
        session.add(AuditMac(seq=seq, code=code(key, seq, entry_hash)))
    elif session.info.get(DROPPED) or _keyed_here(session):
        why = session.info.get(UNREADABLE)
        raise KeyMissing(
            f"the audit log is keyed (leadguard audit key), but this process has no key ({why})"
            ". Nothing was written"
            if why
            else "the audit log is keyed (leadguard audit key), but this process has no key: "
            "set audit_mac_key in the workspace's leadguard.toml to the key file's absolute "
            "path (readable by this account). Nothing was written"
        )


def adoption(session: Session) -> tuple[int, Any] | None:
    """(sequence number, details) of the first adoption entry, if any."""
    row = session.execute(
        select(AuditEntry.seq, AuditEntry.details)
        .where(AuditEntry.action == ACTION)
        .order_by(AuditEntry.seq)
        .limit(1)
    ).first()
    return (int(row[0]), row[1]) if row is not None else None


def local_problem(session: Session, seq: int, entry_hash: str) -> str | None:
    """Why one entry's code does not hold (None: it holds, or there is no key to check it
    with, or the entry comes before the adoption). For readers that trust one entry."""
    key = session_key(session)
    adopted = adoption(session) if key is not None else None
    if key is None or adopted is None or seq < adopted[0]:
        return None
    got = session.scalar(select(type_coerce(AuditMac.code, Text)).where(AuditMac.seq == seq))
    if got is None:
        return f"entry {seq} has no authentication code (written without the audit key)"
    if not hmac.compare_digest(str(got), code(key, seq, entry_hash)):
        return f"entry {seq}'s authentication code is wrong (forged without the audit key)"
    return None


def _codes(session: Session) -> dict[int, str]:
    rows = session.execute(select(AuditMac.seq, type_coerce(AuditMac.code, Text))).all()
    return {int(s): str(c) for s, c in rows if isinstance(s, int)}


def _listed(what: str, seqs: Sequence[int]) -> str:
    shown = ", ".join(str(s) for s in seqs[:_SHOWN])
    more = f" and {len(seqs) - _SHOWN} more" if len(seqs) > _SHOWN else ""
    return f"{what}: entry {shown}{more}" if len(seqs) == 1 else f"{what}: entries {shown}{more}"


def check(
    session: Session, rows: Sequence[Any], key: bytes | None, unreadable: str | None = None
) -> tuple[list[str], str]:
    """(problems, note) for the chain's readable ``rows`` (``records.RawEntry``): with a
    key, every entry from the adoption on must carry its code, and the note says how many
    were checked; without one, the note says the codes were not checked (``NOT_CHECKED``),
    and a key configured but ``unreadable`` is a problem."""
    good = [r for r in rows if not r.problem]
    adopted = next((r for r in good if r.action == ACTION), None)
    if "audit_macs" not in inspect(session.connection()).get_table_names():
        return ([dropped(adopted.seq)] if adopted is not None else []), ""
    codes = _codes(session)
    if key is None:
        if adopted is None and not codes:
            return [], ""
        since = f"since entry {adopted.seq}" if adopted is not None else "(no adoption entry)"
        kid = adopted.details.get("key_id") if adopted is not None else None
        found = [f"{unreadable}: the authentication codes were not checked"] if unreadable else []
        return found, (
            f"the log is keyed {since} (key {kid or '?'}), but its authentication codes were "
            f"{NOT_CHECKED}: no audit key here (audit_mac_key in leadguard.toml, or --mac-key)"
        )
    if adopted is None:
        why = (
            "audit_macs holds codes, but no entry records a key's adoption"
            if codes
            else "no entry records a key's adoption"
        )
        why += (
            ": the chain was rewritten without it (compare with an anchor), or the adoption"
            " was interrupted or audit_mac_key set by hand (then `leadguard audit key --key"
            " FILE`, with the same file, records the adoption)"
        )
        return [f"an audit key ({key_id(key)}) is configured, but {why}"], ""
    recorded = adopted.details.get("key_id")
    if recorded != key_id(key):
        return [
            f"audit entry {adopted.seq} adopted key {recorded}, but the key given is "
            f"{key_id(key)}: no code was checked (the key was swapped, or this is another "
            "workspace's)"
        ], ""
    after = [r for r in good if isinstance(r.seq, int) and r.seq >= adopted.seq]
    missing = [r.seq for r in after if r.seq not in codes]
    wrong = [
        r.seq
        for r in after
        if r.seq in codes and not hmac.compare_digest(codes[r.seq], code(key, r.seq, r.hash))
    ]
    known = {r.seq for r in good}
    stray = sorted(s for s in codes if s >= adopted.seq and s not in known)
    problems = []
    if missing:
        problems.append(
            _listed(
                "entries without an authentication code (written by someone without the audit"
                " key: forged or inserted)",
                missing,
            )
        )
    if wrong:
        problems.append(
            _listed(
                "entries whose authentication code is wrong (altered, or forged with their "
                "hashes recomputed, by someone without the audit key)",
                wrong,
            )
        )
    if stray:
        problems.append(
            _listed("authentication codes of entries that are not in the log (deleted)", stray)
        )
    return problems, (
        f"authentication codes: {len(after)} entries from entry {adopted.seq} on, checked "
        f"with key {key_id(key)}"
    )


def adopt(session: Session, key: bytes, key_file: Path, actor: str | None) -> int:
    """Append the adoption entry, with its code, in the caller's transaction; every later
    entry gets its code from the session's key. Returns its sequence number."""
    from leadguard.audit import log as audit

    if (earlier := adoption(session)) is not None:
        raise AuditKeyError(
            f"the audit log is keyed already (entry {earlier[0]}); a key is never replaced"
        )
    entry = audit.append(
        session, ACTION, "audit", {"key_id": key_id(key), "key_file": str(key_file)}, actor=actor
    )
    if session_key(session) is None:  # (a session that carries the key coded it already)
        session.add(AuditMac(seq=entry.seq, code=code(key, entry.seq, entry.hash)))
    session.flush()
    return entry.seq
