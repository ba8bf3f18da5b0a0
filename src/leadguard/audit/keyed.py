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

from leadguard.audit import head
from leadguard.storage.audit_key import (
    ACTION,
    DROPPED,
    FORMAT,
    INFO,
    UNREADABLE,
    AuditKeyError,
    KeyMissing,
    adopted_at,
    create_key,
    dropped,
    key_id,
    load_key,
    no_key,
)
from leadguard.storage.tables import AuditMac

# the key file and the sessions' key are storage's (storage.audit_key), named here too
__all__ = ["ACTION", "FORMAT", "INFO", "UNREADABLE", "AuditKeyError", "KeyMissing"]
__all__ += ["NOT_CHECKED", "create_key", "key_id", "load_key"]
__all__ += ["adopt", "adopted_at", "check", "code", "local_problem", "on_append"]
__all__ += ["session_key"]
_SHOWN = 5  # findings named one by one; the rest are counted
_SEEN = "leadguard_audit_keyed_seen"  # Session.info: whether this session found the log keyed
NOT_CHECKED = "not checked"


def code(key: bytes, seq: int, entry_hash: str) -> str:
    return hmac.new(key, f"{seq}:{entry_hash}".encode(), hashlib.sha256).hexdigest()


def session_key(session: Session) -> bytes | None:
    key = session.info.get(INFO)
    return key if isinstance(key, bytes) else None


def _keyed_here(session: Session) -> bool:
    """Whether the log records a key's adoption, asked once per session (a transaction: no
    other writer between). The adoption entry decides, not the codes: codes deleted do not
    unkey a log, a code inserted does not key one."""
    if _SEEN not in session.info:
        session.info[_SEEN] = adopted_at(session) is not None
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
        head.on_append(session, seq, entry_hash)  # the head receipt, after the commit
    elif session.info.get(DROPPED) or session.info.get(UNREADABLE) or _keyed_here(session):
        # fail closed: a configured key that cannot be used refuses even an unkeyed log
        raise KeyMissing(no_key(session.info.get(UNREADABLE), bool(session.info.get(DROPPED))))


def local_problem(session: Session, seq: int, entry_hash: str) -> str | None:
    """Why one entry's code does not hold (None: it holds, or there is no key to check it
    with, or the entry comes before the adoption). For readers that trust one entry."""
    key = session_key(session)
    adopted = adopted_at(session) if key is not None else None
    if key is None or adopted is None or seq < adopted:
        return None
    got = session.scalar(select(type_coerce(AuditMac.code, Text)).where(AuditMac.seq == seq))
    if got is None:
        return f"entry {seq} has no authentication code (written without the audit key)"
    if not _same(str(got), code(key, seq, entry_hash)):
        return f"entry {seq}'s authentication code is wrong (forged without the audit key)"
    return None


def _orphans(n: int) -> str:
    return (
        f"audit_macs holds {n} authentication code(s), but no entry records a key's adoption:"
        " put there outside LeadGuard, or the adoption entry removed with the chain rewritten"
        " (check with the key: --mac-key, and against an anchor)"
    )


def _same(got: str, want: str) -> bool:
    """A stored code equal to the expected one (any stored text compared safely)."""
    return got.isascii() and hmac.compare_digest(got, want)


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
    were checked. Without one, a keyed log is a problem (its codes ``NOT_CHECKED``: an
    entry forged without the key would pass), and so are a configured key that is
    ``unreadable`` and codes without an adoption entry."""
    good = [r for r in rows if not r.problem]
    adopted = next((r for r in good if r.action == ACTION), None)
    if "audit_macs" not in inspect(session.connection()).get_table_names():
        return ([dropped(adopted.seq)] if adopted is not None else []), ""
    codes = _codes(session)
    if key is None:
        found = [f"{unreadable}: the authentication codes were {NOT_CHECKED}"] if unreadable else []
        if adopted is not None:  # an entry forged without the key would pass: not proven
            kid = adopted.details.get("key_id")
            where = "the audit key configured cannot be read" if unreadable else "no audit key"
            found = found or [
                f"the log is keyed since entry {adopted.seq} (key {kid}), but its "
                f"authentication codes were {NOT_CHECKED}: {where} here; give it with "
                "--mac-key (or audit_mac_key in leadguard.toml)"
            ]
        elif codes:
            found.append(_orphans(len(codes)))
        return found, ""
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
        r.seq for r in after if r.seq in codes and not _same(codes[r.seq], code(key, r.seq, r.hash))
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

    if (earlier := adopted_at(session)) is not None:
        raise AuditKeyError(
            f"the audit log is keyed already (entry {earlier}); a key is never replaced"
        )
    session.info[_SEEN] = False  # not keyed before this entry (checked just above)
    entry = audit.append(
        session, ACTION, "audit", {"key_id": key_id(key), "key_file": str(key_file)}, actor=actor
    )
    if session_key(session) is None:  # (a session that carries the key coded it already)
        session.add(AuditMac(seq=entry.seq, code=code(key, entry.seq, entry.hash)))
    session.flush()
    return entry.seq
