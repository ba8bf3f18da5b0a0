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
import secrets
import stat
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
    held: int | None = None  # the entry whose writing found the log cut or rewritten


_warned: set[str] = set()


def _warn_once(message: str, *args: object) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message, *args)


def head_file(key: bytes, workspace: Path) -> Path | None:
    """This account's receipt for ``workspace`` under ``key`` (the folder made, mode 0700);
    None where the folder cannot be made (no receipt is then kept; logged once). The
    workspace is named by its folder's real parent and its own name as given: a workspace
    moved away and a symlink left in its place keeps the receipt of the path in use, and
    ``..`` after a symlink names the folder it really reaches."""
    try:
        folder = data_folder("audit-heads")
    except (OSError, RuntimeError) as exc:
        _warn_once("no audit head receipt is kept: its folder cannot be made (%s)", exc)
        return None
    named = os.path.join(os.getcwd(), workspace).rstrip("/") or "/"  # ".." kept as given
    parent, name = os.path.split(named)
    real = (
        os.path.realpath(named)
        if name in ("", ".", "..")
        else os.path.join(os.path.realpath(parent), name)
    )
    where = hashlib.sha256(real.encode()).hexdigest()[:16]
    return folder / f"{key_id(key)}-{where}.head"


def _code(key: bytes, path: Path, seq: int, entry_hash: str, held: int | None) -> str:
    message = f"{FORMAT}:{path.name}:{seq}:{entry_hash}:{held}".encode()  # bound to its name
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _raw(path: Path) -> bytes | None:
    """The file's first bytes: a plain file only (a FIFO or device is never waited on, a
    symlink never followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a plain file")
        return os.read(fd, _MAX_BYTES)
    finally:
        os.close(fd)


WRONG = "has a wrong authentication code"


def read(path: Path, key: bytes) -> Receipt | str | None:
    """The receipt in ``path``: None where there is none, else the receipt, or why it
    cannot be used (damaged, not a plain file, or written without the key: ``WRONG``).
    Read under the receipt's lock, shared: never half of one write and half of another."""
    try:
        fd = _lock(path)
    except OSError:
        return _read(path, key)  # no lock file can be made: read as it is
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return _read(path, key)
    finally:
        os.close(fd)


def _lock(path: Path) -> int:
    return os.open(
        path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600
    )


def _read(path: Path, key: bytes) -> Receipt | str | None:
    try:
        raw = _raw(path)
    except OSError as exc:
        return f"head receipt {path} cannot be read ({exc.strerror or exc})"
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        seq, entry_hash, got = int(data["seq"]), str(data["hash"]), str(data["code"])
        held = None if data.get("held") is None else int(data["held"])
        if data.get("format") != FORMAT:
            raise ValueError
    except (ValueError, TypeError, KeyError, UnicodeDecodeError, RecursionError):
        return f"head receipt {path} is damaged (not a {FORMAT} file)"
    if not (got.isascii() and hmac.compare_digest(got, _code(key, path, seq, entry_hash, held))):
        return f"head receipt {path} {WRONG}: written or edited by someone without the audit key"
    return Receipt(seq, entry_hash, path, held)


_SIZE = 512  # every receipt is written padded to this size, in one write at offset 0


def _write(path: Path, key: bytes, seq: int, entry_hash: str, held: int | None) -> None:
    """In place where the receipt is a plain file (one write of ``_SIZE`` bytes: a crash
    leaves the old receipt or the new, at worst one cut short, which ``read`` says);
    otherwise (none yet, a link, a FIFO, a device) through a new file and a rename, which
    replaces what is there without following it."""
    body: dict[str, Any] = {"format": FORMAT, "seq": seq, "hash": entry_hash, "held": held}
    body["code"] = _code(key, path, seq, entry_hash, held)
    data = json.dumps(body).encode().ljust(_SIZE)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        fd = -1
    if fd >= 0:
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_size <= _SIZE:
                os.pwrite(fd, data, 0)
                return
        finally:
            os.close(fd)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW  # never through a link
    with os.fdopen(os.open(tmp, flags, 0o600), "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def advance(
    path: Path, key: bytes, seq: int, entry_hash: str, force: bool = False, held: bool = False
) -> None:
    """Under the receipt's lock: record entry ``seq`` as the last written, unless the
    receipt records a later one, is marked held, or has a wrong code (kept, so that
    ``verify`` goes on naming it). ``held``: the log disagreed with the receipt when entry
    ``seq`` was written: the receipt is marked so, for good. ``force`` (an admin's
    acceptance, a new adoption): a clean receipt at ``seq``. Never raises: logged."""
    try:
        fd = _lock(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            now = _read(path, key)  # (a second lock of this process's would wait forever)
            if force:
                _write(path, key, seq, entry_hash, None)
            elif isinstance(now, str) and WRONG in now:
                return
            elif isinstance(now, Receipt) and (held or now.held is not None):
                if now.held is None:
                    _write(path, key, now.seq, now.hash, seq)
            elif not isinstance(now, Receipt) or now.seq < seq:
                _write(path, key, seq, entry_hash, None)
        finally:
            os.close(fd)  # releases the lock
    except OSError as exc:
        _warn_once("audit head receipt %s not written (%s)", path, exc.strerror or exc)


def session_info(info: dict[str, Any], workspace: Path) -> dict[str, Any]:
    """A workspace's session info (``audit_key.session_info``) with its receipt, where it
    carries a key."""
    key = info.get(INFO)
    if isinstance(key, bytes) and (path := head_file(key, workspace)) is not None:
        return {**info, FILE: path}
    return info


def after_commit(session: Session) -> None:
    """A committed transaction's last entry becomes the receipt where it appended any;
    where the log disagreed with the receipt before it, the receipt is marked held
    instead (``advance``)."""
    pending = session.info.pop(PENDING, None)
    held = bool(session.info.pop(HELD, False))
    force = bool(session.info.pop(FORCE, False))
    path, key = session.info.get(FILE), session.info.get(INFO)
    if pending is None or not isinstance(path, Path) or not isinstance(key, bytes):
        return
    advance(path, key, pending[0], pending[1], force=force, held=held)


def after_rollback(session: Session) -> None:
    """Nothing of a rolled-back transaction (or savepoint) becomes the receipt."""
    for name in (PENDING, HELD, FORCE):
        session.info.pop(name, None)
