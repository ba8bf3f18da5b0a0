"""A keyed log's head receipt: the last entry this account wrote to a workspace, kept
outside the database (``audit.head``) so that a log cut off at its end is caught without an
anchor.

The receipt is a small file in the account's data folder (``$XDG_DATA_HOME``, else
``~/.local/share``, under ``leadguard/audit-heads/``), one per audit key and workspace
folder, holding an entry's number and hash with an authentication code under the audit key
(a receipt written without the key is named). It is written after each commit that
appended entries, only forwards, under a file lock; a failure to write it is logged and
blocks nothing. A database copied to another folder, or moved, starts a receipt of its own.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from leadguard.storage.audit_key import INFO, data_folder, key_id

log = logging.getLogger(__name__)
FORMAT = "leadguard-audit-head/1"
FILE = "leadguard_audit_head_file"  # Session.info: this workspace's receipt (a Path)
PENDING = "leadguard_audit_head_pending"  # Session.info: (seq, hash) of the last entry added
HELD = "leadguard_audit_head_held"  # Session.info: the log disagrees with the receipt
FORCE = "leadguard_audit_head_force"  # Session.info: an admin accepted the log as it stands
_MAX_BYTES = 4096


@dataclass(frozen=True)
class Receipt:
    seq: int
    hash: str
    path: Path


def head_file(key: bytes, workspace: Path) -> Path | None:
    """This account's receipt for ``workspace`` under ``key`` (the folder made, mode 0700);
    None where the folder cannot be made (no receipt is then kept; logged)."""
    try:
        folder = data_folder("audit-heads")
    except (OSError, RuntimeError) as exc:
        log.warning("no audit head receipt is kept: its folder cannot be made (%s)", exc)
        return None
    where = hashlib.sha256(str(workspace.resolve()).encode()).hexdigest()[:16]
    return folder / f"{key_id(key)}-{where}.head"


def _code(key: bytes, path: Path, seq: int, entry_hash: str) -> str:
    message = f"{FORMAT}:{path.name}:{seq}:{entry_hash}".encode()  # bound to its own name
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def read(path: Path, key: bytes) -> Receipt | str | None:
    """The receipt in ``path``: None where there is none, else the receipt, or why it
    cannot be used (damaged, or written without the key)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_BYTES)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"head receipt {path} cannot be read ({exc.strerror or exc})"
    try:
        data = json.loads(raw)
        seq, entry_hash, got = int(data["seq"]), str(data["hash"]), str(data["code"])
        if data.get("format") != FORMAT:
            raise ValueError
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        return f"head receipt {path} is damaged (not a {FORMAT} file)"
    if not (got.isascii() and hmac.compare_digest(got, _code(key, path, seq, entry_hash))):
        return (
            f"head receipt {path} has a wrong authentication code: written or edited by "
            "someone without the audit key"
        )
    return Receipt(seq, entry_hash, path)


def advance(path: Path, key: bytes, seq: int, entry_hash: str, force: bool = False) -> None:
    """Record entry ``seq`` as the last written, unless the receipt records a later one
    (``force``: regardless). Never raises: a failure is logged."""
    try:
        fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            now = read(path, key)
            if not force and isinstance(now, Receipt) and now.seq >= seq:
                return
            body = {"format": FORMAT, "seq": seq, "hash": entry_hash}
            body["code"] = _code(key, path, seq, entry_hash)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as fh:
                fh.write(json.dumps(body))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            os.close(fd)  # releases the lock
    except OSError as exc:
        log.warning("audit head receipt %s not written (%s)", path, exc.strerror or exc)


def session_info(info: dict[str, Any], workspace: Path) -> dict[str, Any]:
    """A workspace's session info (``audit_key.session_info``) with its receipt, where it
    carries a key."""
    key = info.get(INFO)
    if isinstance(key, bytes) and (path := head_file(key, workspace)) is not None:
        return {**info, FILE: path}
    return info


def after_commit(session: Session) -> None:
    """A committed transaction's last entry becomes the receipt (where it appended any,
    and the log agreed with the receipt before it, or an admin accepted the log)."""
    pending = session.info.pop(PENDING, None)
    held = session.info.pop(HELD, False)
    force = session.info.pop(FORCE, False)
    path, key = session.info.get(FILE), session.info.get(INFO)
    if pending is None or not isinstance(path, Path) or not isinstance(key, bytes):
        return
    if not held or force:
        advance(path, key, pending[0], pending[1], force=force)


def after_rollback(session: Session) -> None:
    """Nothing of a rolled-back transaction (or savepoint) becomes the receipt."""
    for name in (PENDING, HELD, FORCE):
        session.info.pop(name, None)
