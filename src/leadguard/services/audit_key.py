"""Keying the audit log (``audit.keyed``): an admin adopts a key kept outside the
workspace; from then on every entry carries an authentication code under it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from leadguard.audit import head, keyed
from leadguard.audit import log as audit
from leadguard.audit.records import read_chain
from leadguard.core.config import SETTINGS_FILE
from leadguard.core.errors import InputError
from leadguard.services.authz import authorize
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.services.settings import edited_file
from leadguard.storage import audit_head
from leadguard.storage.audit_key import adopted_at, default_key_file, refuse_unsafe_path


@dataclass(frozen=True)
class KeyAdoption:
    key_file: Path
    key_id: str
    created: bool
    seq: int  # the adoption entry
    earlier: str | None = None  # a head receipt of this folder the log does not hold


def adopt_key(ctx: Context, actor: Actor | None, key_file: Path) -> KeyAdoption:
    """Key the workspace's audit log with the key in ``key_file`` (created, mode 0600, if
    it does not exist): the adoption entry and ``audit_mac_key`` in the settings file are
    written together (a failed file write rolls the entry back). Once the workspace has
    accounts only an admin may; refused where the log is keyed already. An adoption
    interrupted after the file was written (it names the key, no entry records it) is
    finished by the same command with the same key."""
    with refusals(ctx, actor, "audit.key", "audit"):
        if actor is not None or ctx.has_accounts():
            with ctx.session() as s:
                authorize(current_user(s, actor), "settings.set")
        if not key_file.is_absolute():
            raise keyed.AuditKeyError(f"--key {key_file}: give an absolute path")
        named = ctx.settings.audit_mac_key
        if named is not None and named != key_file:
            raise keyed.AuditKeyError(
                f"{SETTINGS_FILE} names an audit key already ({named}); a key is never replaced"
            )
        created = not key_file.exists()
        key = (
            keyed.create_key(key_file, ctx.root) if created else keyed.load_key(key_file, ctx.root)
        )
        path = ctx.root / SETTINGS_FILE
        text = path.read_text() if named else edited_file(path, "audit_mac_key", key_file)
        with ctx.session() as s:
            seq = keyed.adopt(s, key, key_file, actor.username if actor is not None else None)
            entry_hash = audit.hash_at(s, seq) or ""
            path.write_text(text)  # inside the transaction: a failed write rolls it back
        earlier = _earlier_receipt(ctx, key, seq, entry_hash)
        ctx.ws.use_audit_key(key_file)
        return KeyAdoption(key_file, keyed.key_id(key), created, seq, earlier)


def _earlier_receipt(ctx: Context, key: bytes, seq: int, entry_hash: str) -> str | None:
    """After an adoption: this account's head receipt for the workspace's folder under the
    key starts at the adoption entry, unless one is there that the log does not hold (a
    log cut off with its adoption entry and keyed again, or a workspace made again in its
    folder with the same key file). That one is never reset here, where nothing records
    what it held: it is returned, and ``verify`` names it until an admin records why
    (``accept_restore``)."""
    path = audit_head.head_file(key, ctx.root)
    if path is None:
        return None
    found = audit_head.read(path, key)
    if isinstance(found, audit_head.Receipt):
        with ctx.read_session() as s:
            what = head.finding(read_chain(s), found)
        if what is not None:
            return what
    elif isinstance(found, str) and audit_head.WRONG in found:
        return found
    audit_head.advance(path, key, seq, entry_hash, force=True)
    return None


def key_new_workspace(
    ctx: Context, key_file: Path | None = None, fallback: Path | None = None
) -> KeyAdoption | None:
    """A new workspace's default (``leadguard init``, the demo): where its log is not keyed
    and it has no accounts yet, key it with ``key_file``, else with the key the settings
    file already names (an interrupted adoption), else with ``fallback`` (the file
    ``new_workspace_key`` chose), else with a new key in the account's data folder
    (``storage.audit_key.default_key_file``). None where the log is keyed
    already (with ``key_file``, if given), or where none is given and the workspace has
    accounts (then an admin keys it: ``audit key``); a key given is never ignored: another
    than the one adopted, or one given without an admin's login, is refused."""
    named = ctx.settings.audit_mac_key
    with ctx.read_session() as s:
        keyed_already = adopted_at(s) is not None
    if keyed_already and key_file in (None, named):
        return None
    if key_file is None and ctx.has_accounts():
        return None
    chosen = key_file or named or fallback or default_key_file(ctx.root)
    return adopt_key(ctx, None, chosen)


def new_workspace_key(root: Path, key_file: Path | None) -> Path:
    """The key file ``key_new_workspace`` will use for a new workspace at ``root``, checked
    before the workspace is made, so that a refusal leaves nothing half made: ``key_file``
    (absolute, outside the workspace; an existing one a readable key, a new one in a folder
    that exists), else a new name in the account's data folder (made)."""
    if key_file is None:
        return default_key_file(root)
    if not key_file.is_absolute():
        raise keyed.AuditKeyError(f"--audit-key {key_file}: give an absolute path")
    refuse_unsafe_path(key_file, root)
    if key_file.exists() or key_file.is_symlink():
        keyed.load_key(key_file, root)
    elif not key_file.parent.is_dir():
        raise keyed.AuditKeyError(f"audit key {key_file}: folder {key_file.parent} does not exist")
    return key_file


@dataclass(frozen=True)
class HeadAccepted:
    seq: int  # the entry that records it
    receipt: str  # what the receipt held before


def accept_restore(ctx: Context, actor: Actor | None, reason: str) -> HeadAccepted:
    """Accept a keyed log as it stands where it disagrees with this account's head receipt
    (``audit.head``): the database restored from a backup. An admin's; the entry records
    the reason, what the receipt held and how the log disagrees with it, and the receipt
    moves to that entry. Refused where the log agrees with the receipt (nothing to
    accept)."""
    with refusals(ctx, actor, "audit.accept_restore", "audit"):
        if actor is not None or ctx.has_accounts():
            with ctx.session() as s:
                authorize(current_user(s, actor), "settings.set")
        if not reason.strip():
            raise InputError("--reason: say why the log ends where it does (which backup)")
        with ctx.session() as s:
            key, path = keyed.session_key(s), s.info.get(audit_head.FILE)
            if key is None or path is None:
                raise keyed.AuditKeyError(
                    "this process keeps no head receipt for the workspace (its log is not "
                    "keyed here, or the receipt's folder cannot be made): nothing to accept"
                )
            found = audit_head.read(path, key)
            if isinstance(found, audit_head.Receipt):
                what = head.finding(read_chain(s), found)
                was: dict[str, object] | str = {"seq": found.seq, "hash": found.hash}
            else:  # none, damaged, or written without the key: the next write makes one
                what, was = found, str(found)
            if what is None:
                raise InputError(
                    "the audit log holds the entry this account's head receipt records: "
                    "nothing to accept"
                )
            details = {"reason": reason.strip(), "receipt": was, "problem": what}
            who = actor.username if actor is not None else None
            entry = audit.append(s, head.RESTORE, "audit", details, actor=who)
            s.info[audit_head.FORCE] = True  # the receipt moves to this entry
        return HeadAccepted(entry.seq, what)
