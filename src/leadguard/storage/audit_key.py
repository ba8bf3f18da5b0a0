"""The audit key's file, and what a workspace's sessions carry of it (``audit.keyed``
makes and checks the codes). Read only from the file the workspace's settings name, never
from the environment; kept outside the workspace."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, inspect, select
from sqlalchemy.orm import Session

from leadguard.core.errors import InputError, WorkspaceError
from leadguard.storage.tables import AuditEntry

ACTION = "audit.key_adopted"  # the entry from which a log is keyed
FORMAT = "leadguard-audit-mac-key/1"
INFO = "leadguard_audit_mac_key"  # Session.info: the key (bytes), or None: none configured
UNREADABLE = "leadguard_audit_mac_key_unreadable"  # Session.info: why there is no key
DROPPED = "leadguard_audit_macs_dropped"  # Session.info: a keyed log without its codes' table


def dropped(seq: int) -> str:
    return (
        f"table audit_macs is gone, but audit entry {seq} keyed the log: it was dropped "
        "outside LeadGuard; restore the database from a backup"
    )


def no_key(why: str | None, dropped_table: bool) -> str:
    """The refusal of a write to a keyed log this process cannot code. Shown to anyone a
    server answers (a login's caller included): it names no path; ``audit verify`` gives
    the reason in full."""
    if dropped_table:
        return (
            "the audit log is keyed, but its table of authentication codes is gone (run "
            "`leadguard audit verify`). Nothing was written"
        )
    if why:
        return (
            "the audit log is keyed, but the audit key that audit_mac_key names cannot be "
            "used (`leadguard audit verify` says why). Nothing was written"
        )
    return (
        "the audit log is keyed (leadguard audit key), but this process has no key: a "
        "running `leadguard serve` started before the key's adoption must be restarted; "
        "otherwise set audit_mac_key in the workspace's leadguard.toml to the key file's "
        "absolute path (readable by this account). Nothing was written"
    )


class AuditKeyError(InputError):
    """An unusable audit key, or a keyed log written without its key."""


class KeyMissing(WorkspaceError):
    """A keyed log, and no key in this process: nothing can be written to it (a set-up
    problem of the workspace, not bad input: the server answers 503)."""


def key_id(key: bytes) -> str:
    """A short fingerprint of the key to compare by eye; it does not reveal the key."""
    return hmac.new(key, b"leadguard audit key id", hashlib.sha256).hexdigest()[:16]


def refuse_unsafe_path(path: Path, workspace: Path) -> None:
    """Refuse a key path with control characters (it is written into leadguard.toml and
    shown in messages), and one inside the workspace."""
    if any(ord(c) < 32 or ord(c) == 127 for c in str(path)):
        raise AuditKeyError(
            f"audit key {str(path)!a}: the path holds control characters; give a plain path"
        )
    if path.resolve().is_relative_to(workspace.resolve()):
        raise AuditKeyError(
            f"audit key {path} is inside the workspace {workspace}: keep it where a copy of "
            "the workspace or its database does not reach it (another folder, readable only "
            "by the account LeadGuard runs as)"
        )


def create_key(path: Path, workspace: Path) -> bytes:
    """Write a new 256-bit key to ``path`` (mode 0600); never overwrites."""
    refuse_unsafe_path(path, workspace)
    if not path.is_absolute():
        raise AuditKeyError(f"audit key {path}: give an absolute path")
    if not path.parent.is_dir():
        raise AuditKeyError(f"audit key {path}: folder {path.parent} does not exist")
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AuditKeyError(f"audit key {path} already exists (keys are never replaced)") from None
    except OSError as exc:
        raise AuditKeyError(f"audit key {path} cannot be written ({exc.strerror})") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{FORMAT}\n{key.hex()}\n")
    return key


def data_folder(name: str) -> Path:
    """``leadguard/NAME`` in the account's data folder (``$XDG_DATA_HOME``, else
    ``~/.local/share``), made with mode 0700 (OSError, or RuntimeError without a home); a
    folder that is a symbolic link is used as it is, its target's mode left alone."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    folder = base / "leadguard" / name
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not folder.is_symlink():  # a link's target keeps its mode (it may be /etc)
            folder.chmod(0o700)
    except OSError as exc:
        raise OSError(f"{folder}: {exc.strerror or exc}") from None
    return folder


def default_key_file(workspace: Path) -> Path:
    """Where ``leadguard init`` keeps a new workspace's key when none is named:
    ``data_folder("audit-keys")``, named after the workspace and a random suffix. Outside
    the workspace, so that neither a copy of the workspace nor its database carries it."""
    try:
        folder = data_folder("audit-keys")
    except (OSError, RuntimeError) as exc:
        raise AuditKeyError(
            f"cannot make the folder for the audit key ({exc}); name a key file with "
            "--audit-key FILE"
        ) from None
    name = re.sub(r"[^A-Za-z0-9._-]", "_", workspace.resolve().name)[:40].lstrip(".")
    return folder / f"{name or 'workspace'}-{secrets.token_hex(6)}.key"


_MAX_BYTES = 256  # a key file is 91 bytes


def load_key(path: Path, workspace: Path) -> bytes:
    """The key in ``path``; refused for a relative path, inside the workspace, not a plain
    file (a device or FIFO is never read), readable by other accounts, or not a key file
    of this format."""
    if not path.is_absolute():
        raise AuditKeyError(f"audit key {path}: give an absolute path")
    refuse_unsafe_path(path, workspace)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise AuditKeyError(f"audit key {path} is not a plain file")
        if st.st_size > _MAX_BYTES:
            raise AuditKeyError(f"audit key {path} is not a LeadGuard audit key ({FORMAT})")
        mode = stat.S_IMODE(st.st_mode)
        with path.open("rb") as fh:
            lines = fh.read(_MAX_BYTES + 1).decode("ascii").split()
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or "not a text file"
        raise AuditKeyError(f"audit key {path} cannot be read ({why})") from None
    if mode & 0o077:
        raise AuditKeyError(
            f"audit key {path} can be read by other accounts (mode {mode:04o}); "
            f"run: chmod 600 {path}"
        )
    try:
        if len(lines) != 2 or lines[0] != FORMAT:
            raise ValueError
        key = bytes.fromhex(lines[1])
        if len(key) != 32:
            raise ValueError
    except ValueError:
        raise AuditKeyError(
            f"audit key {path} is not a LeadGuard audit key ({FORMAT}, 64 hex digits)"
        ) from None
    return key


def adopted_at(db: Connection | Session) -> int | None:
    """The sequence number of the entry that keyed the log (the first adoption), if any."""
    seq = db.scalar(
        select(AuditEntry.seq).where(AuditEntry.action == ACTION).order_by(AuditEntry.seq).limit(1)
    )
    return int(seq) if seq is not None else None


def session_info(engine: Engine, path: Path | None, workspace: Path) -> dict[str, Any]:
    """What every session of a workspace carries: the key in ``path`` (None where none is
    configured), or, where it cannot be read, None and why (a keyed log then refuses every
    write, saying so). A database without ``audit_macs`` (not migrated to it) carries
    nothing, unless its log records a key's adoption: then the table was dropped, and every
    write is refused."""
    tables = inspect(engine).get_table_names()
    if "audit_macs" not in tables:
        if "audit_log" not in tables:
            return {}
        with engine.connect() as conn:
            seq = adopted_at(conn)
        if seq is None:
            return {}
        return {INFO: None, DROPPED: True, UNREADABLE: dropped(seq)}
    return key_info(path, workspace)


def key_info(path: Path | None, workspace: Path) -> dict[str, Any]:
    """The key in ``path`` as sessions carry it (``session_info``), for a database at the
    newest schema (a migration's last entry)."""
    try:
        return {INFO: load_key(path, workspace) if path is not None else None}
    except AuditKeyError as exc:
        return {INFO: None, UNREADABLE: str(exc)}
