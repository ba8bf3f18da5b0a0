"""Signed receipts ("anchors") of the audit log's head, kept outside the workspace.

A hash chain in the same database as the data cannot, by itself, reveal a log cut off at
the end or rewritten consistently from some entry on: the shorter or rewritten chain is
still a valid chain. An anchor is an Ed25519 signature over the head (sequence number and
hash), the time and the chain's identity (the hash of its first entry), made with a key the
workspace's users cannot reach. ``check`` then requires the anchored entry to exist with
the anchored hash and the chain from genesis to reproduce it: truncation, deletion of the
tail, a forged entry put in place of anchored ones and a rewrite of anything up to the
anchored entry are all caught. Entries written after the newest anchor are covered only by
the chain itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.audit.head import HeadRead
from leadguard.core.errors import InputError
from leadguard.core.files import read_bounded, replace_file

log = logging.getLogger(__name__)

FORMAT = "leadguard-audit-anchor/1"
MAX_ANCHOR_BYTES = 1 << 20  # an anchor or a PEM key is a few hundred bytes


class AnchorError(InputError):
    """An unusable key or anchor file (unreadable, forged, edited, wrong key)."""


def _crypto() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _refuse_inside(path: Path, workspace: Path | None, what: str) -> None:
    if workspace is not None and _inside(path, workspace):
        raise AnchorError(
            f"{what} {path} is inside the workspace {workspace}: keep the signing key where "
            "the workspace's users cannot reach it (another folder, a removable medium)"
        )


def key_id(raw_public: bytes) -> str:
    """A short fingerprint of a public key, to compare by eye."""
    return hashlib.sha256(raw_public).hexdigest()[:16]


def keygen(out: Path, workspace: Path | None) -> tuple[Path, str]:
    """Write a new Ed25519 private key (PEM, mode 0600) to ``out`` and its public key to
    ``out.pub``; returns the public key's path and fingerprint. Never overwrites."""
    from cryptography.hazmat.primitives import serialization

    _refuse_inside(out, workspace, "key file")
    pub_path = out.with_name(out.name + ".pub")
    for p in (out, pub_path):
        if p.exists():
            raise AnchorError(f"{p} already exists; choose another --out (keys are never replaced)")
    if not out.parent.is_dir():
        raise AnchorError(f"{out.parent} is not a folder")
    key = _crypto().Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key()
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private)
    pub_path.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pub_path, key_id(_raw(public))


def _raw(public: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def _load_private(path: Path, workspace: Path | None) -> Any:
    from cryptography.hazmat.primitives import serialization

    _refuse_inside(path, workspace, "key file")
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        raise AnchorError(f"key file {path} cannot be read ({exc.strerror})") from exc
    data = _bounded(path, "key file")
    if mode & 0o077:
        raise AnchorError(
            f"key file {path} can be read by other accounts (mode {mode:04o}); "
            f"run: chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise AnchorError(f"key file {path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, _crypto().Ed25519PrivateKey):
        raise AnchorError(f"key file {path} is not an Ed25519 key")
    return key


def load_public_key(path: Path) -> bytes:
    """The raw 32-byte Ed25519 public key from a PEM file (as written by ``keygen``)."""
    from cryptography.hazmat.primitives import serialization

    try:
        key = serialization.load_pem_public_key(_bounded(path, "public key"))
    except (ValueError, TypeError) as exc:
        raise AnchorError(f"public key {path} is not a PEM public key") from exc
    if not isinstance(key, _crypto().Ed25519PublicKey):
        raise AnchorError(f"public key {path} is not an Ed25519 key")
    return _raw(key)


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: str
    workspace_id: str  # the hash of the chain's first entry
    workspace: str  # the folder, for people (not checked)
    key_id: str
    key_source: str = ""  # how the signature was checked (set by ``load``)


def make(session: Session, key_path: Path, workspace: Path) -> dict[str, Any]:
    """A signed anchor of the current head. Refused for an empty or broken chain (an
    anchor would vouch for it). Reads only."""
    check = audit.verify(session)
    if not check.intact:
        why = check.reason if check.broken_at is not None else check.problems[0]
        raise AnchorError(f"the audit log does not verify ({why}); anchoring refused")
    if check.head_seq is None or check.head_hash is None:
        raise AnchorError("the audit log is empty: nothing to anchor")
    key = _load_private(key_path, workspace)
    first = audit.hash_at(session, 1)
    payload = {
        "format": FORMAT,
        "seq": check.head_seq,
        "hash": check.head_hash,
        "at": datetime.now(UTC).isoformat(),
        "workspace_id": first,
        "workspace": str(workspace.resolve()),
    }
    raw = _raw(key.public_key())
    return {
        "anchor": payload,
        "public_key": base64.b64encode(raw).decode(),
        "key_id": key_id(raw),
        "signature": base64.b64encode(key.sign(_canonical(payload))).decode(),
    }


def write(signed: dict[str, Any], out: Path, workspace: Path | None) -> None:
    if out.is_dir():
        raise AnchorError(f"--out {out} is a folder; name the anchor file to write")
    if not out.parent.is_dir():
        raise AnchorError(f"--out {out}: folder {out.parent} does not exist")
    if os.path.lexists(out):
        raise AnchorError(
            f"--out {out} exists; an anchor is never replaced (an earlier one still vouches "
            "for the log): name a new file"
        )
    if workspace is not None and _inside(out, workspace):
        log.warning("anchor %s is inside the workspace; keep a copy elsewhere", out)
    replace_file(out, (json.dumps(signed, indent=2, sort_keys=True) + "\n").encode())


def _bounded(path: Path, what: str) -> bytes:
    """A key or anchor file's bytes (a regular file of at most 1 MiB: ``/dev/zero`` or a
    FIFO refused before it is read)."""
    return read_bounded(
        path, MAX_ANCHOR_BYTES, lambda why: AnchorError(f"{what} {path} cannot be read ({why})")
    )


def load(path: Path, public_key: bytes | None = None) -> Anchor:
    """Read an anchor file and check its signature (against ``public_key`` when given, else
    against the key it carries, which proves integrity but not who signed)."""
    try:
        doc = json.loads(_bounded(path, "anchor"))
    except RecursionError:
        raise AnchorError(f"anchor {path} is not an anchor (nested too deeply)") from None
    except ValueError as exc:
        raise AnchorError(f"anchor {path} is not valid JSON ({exc})") from exc
    try:
        payload = doc["anchor"]
        carried = base64.b64decode(doc["public_key"], validate=True)
        signature = base64.b64decode(doc["signature"], validate=True)
        fields = (payload["seq"], payload["hash"], payload["at"], payload["workspace_id"])
    except (KeyError, TypeError, ValueError) as exc:
        raise AnchorError(f"anchor {path} is not a LeadGuard anchor (missing {exc})") from exc
    if payload.get("format") != FORMAT or not isinstance(fields[0], int):
        raise AnchorError(f"anchor {path} is not a {FORMAT} anchor")
    if public_key is not None and carried != public_key:
        raise AnchorError(
            f"anchor {path} was signed with key {key_id(carried)}, not with the given "
            f"public key {key_id(public_key)}: refused"
        )
    from cryptography.exceptions import InvalidSignature

    try:
        _crypto().Ed25519PublicKey.from_public_bytes(carried).verify(signature, _canonical(payload))
    except (InvalidSignature, ValueError) as exc:
        raise AnchorError(
            f"anchor {path}: the signature does not verify; the file was edited or forged"
        ) from exc
    source = "the given public key" if public_key is not None else "the key in the anchor only"
    return Anchor(
        seq=fields[0],
        hash=str(fields[1]),
        at=str(fields[2]),
        workspace_id=str(fields[3]),
        workspace=str(payload.get("workspace", "")),
        key_id=key_id(carried),
        key_source=source,
    )


@dataclass(frozen=True)
class AnchorCheck:
    anchor: Anchor
    ok: bool
    reason: str
    after: int = 0  # entries written after the anchored one (the anchor does not cover them)


def check(
    anchor: Anchor, chain: audit.ChainCheck, at_seq: str | None, first: str | None
) -> AnchorCheck:
    """Compare the log with an anchor. ``chain``: ``audit.verify``'s result; ``at_seq``: the
    stored hash of the entry with the anchored sequence number (None if there is none);
    ``first``: the stored hash of entry 1."""
    n = anchor.seq
    when = f"the anchor of {anchor.at}"
    if chain.entries == 0:
        return AnchorCheck(anchor, False, f"the log is empty but {when} vouches for {n} entries")
    if first is not None and first != anchor.workspace_id and at_seq != anchor.hash:
        return AnchorCheck(
            anchor,
            False,
            f"entry 1 is not the one anchored: the log was rewritten from its first entry "
            f"after {when}, or the anchor belongs to another workspace ({anchor.workspace})",
        )
    if at_seq is None:
        head = chain.head_seq
        if head is not None and head < n:
            return AnchorCheck(
                anchor,
                False,
                f"the log ends at entry {head} but {when} vouches for entry {n}: entries "
                f"{head + 1}-{n} were cut off the end (truncated)",
            )
        return AnchorCheck(anchor, False, f"entry {n}, anchored by {when}, is missing")
    if at_seq != anchor.hash:
        return AnchorCheck(
            anchor,
            False,
            f"entry {n} differs from {when}: the log was rewritten at or before entry {n} "
            "(entries replaced by forgeries with recomputed hashes)",
        )
    if chain.broken_at is not None and chain.broken_at <= n:
        return AnchorCheck(
            anchor,
            False,
            f"the chain is broken at entry {chain.broken_at}, before the anchored entry {n}",
        )
    after = (chain.head_seq or n) - n
    return AnchorCheck(anchor, True, f"entry {n} matches {when}", after)


def verify(
    session: Session,
    anchors: list[Anchor],
    mac_key: bytes | None = None,
    receipt: HeadRead | None = None,
) -> tuple[audit.ChainCheck, list[AnchorCheck]]:
    """The chain and record check (``mac_key``, ``receipt``: as ``audit.verify``), and each
    anchor compared with the log. Reads only."""
    chain = audit.verify(session, mac_key, receipt)
    first = audit.hash_at(session, 1)
    return chain, [check(a, chain, audit.hash_at(session, a.seq), first) for a in anchors]
