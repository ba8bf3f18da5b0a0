"""Digests of the saved index files in the audit chain, and their check.

Every time LeadGuard saves a space's index (an enrollment batch, a removal with any
compaction it triggers, a rebuild) it appends an ``index.files`` entry, object
``index:SPACE/BACKEND``, holding the SHA-256 of every file the saved index consists of
(compressed: each segment's ids, codes, scale, error and vector files, the tombstones and
``meta.json``; FAISS: the ``.faiss`` file and its ``.json``; Milvus: the ``.milvus.json``
record, the collection itself lives on the server). A file the save wrote is hashed as it
now lies; a compressed segment file the save did not touch keeps the digest already
recorded (segment files are never rewritten in place), so recording costs what the save
wrote, not the whole index.

``check`` compares the files on disk with the latest such entry: a file changed (zeroed,
truncated, a byte flipped, two files swapped), missing or not recorded is named. The chain
itself (``audit verify``) proves the entry was not edited.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.index.registry import backend as index_backend
from leadguard.index.segment_files import SEGMENT_PARTS, read_meta
from leadguard.storage.tables import AuditEntry

log = logging.getLogger(__name__)

ACTION = "index.files"
_BLOCK = 1 << 20


def object_name(space_key: str, backend: str) -> str:
    return f"index:{space_key}/{backend}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def _base(backend: str, path: Path) -> Path:
    return path if index_backend(backend).folder else path.parent


def saved_files(backend: str, path: Path) -> list[str]:
    """Names (relative to ``_base``) of the files that make up the saved index: for the
    compressed index, ``meta.json`` and the files it names (a segment a killed save left
    behind, which no ``meta.json`` names, is never read and is removed by the next save);
    every file of the folder where ``meta.json`` cannot be read."""
    if index_backend(backend).folder:
        if not path.is_dir():
            return []
        meta = read_meta(path)
        try:
            named = {"meta.json"}
            for seg in (meta or {})["segments"]:
                named |= {f"{seg['name']}.{part}.npy" for part in SEGMENT_PARTS}
                if seg.get("dead_file"):
                    named.add(str(seg["dead_file"]))
            return sorted(named)
        except (KeyError, TypeError):
            return sorted(f.name for f in path.iterdir() if f.is_file() and f.suffix != ".tmp")
    names = [path, path.with_suffix(".json")] if index_backend(backend).sidecar else [path]
    return [p.name for p in names if p.is_file()]


def recorded(session: Session, space_key: str, backend: str) -> AuditEntry | None:
    """The latest ``index.files`` entry of this space and backend."""
    q = (
        select(AuditEntry)
        .where(AuditEntry.action == ACTION, AuditEntry.object == object_name(space_key, backend))
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    return session.scalars(q).first()


def record(
    session: Session,
    space_key: str,
    backend: str,
    path: Path,
    reason: str,
    written: list[str] | None = None,
) -> dict[str, str]:
    """Append the digests of the saved index's files (in the caller's transaction).

    ``written``: the files this save wrote (the compressed index's ``last_written``);
    ``None``: every file is hashed (a backend that rewrites its files, or a rebuild)."""
    base = _base(backend, path)
    names = saved_files(backend, path)
    before: dict[str, Any] = {}
    prev = recorded(session, space_key, backend)
    if prev is not None and written is not None:
        files = prev.details.get("files")
        before = files if isinstance(files, dict) else {}
    fresh = set(names) if written is None else set(written)
    digests = {
        n: before[n] if n not in fresh and isinstance(before.get(n), str) else sha256_file(base / n)
        for n in names
    }
    audit.append(
        session,
        ACTION,
        object_name(space_key, backend),
        {"backend": backend, "location": path.name, "reason": reason, "files": digests},
    )
    return digests


def check(session: Session, space_key: str, backend: str, path: Path) -> list[str]:
    """Problems of the saved index's files against the latest recorded digests (empty: all
    files as recorded). Hashes every file (``index check`` and ``audit verify``)."""
    entry = recorded(session, space_key, backend)
    names = saved_files(backend, path)
    label = f"index {space_key} ({backend})"
    if entry is None:
        if not names:
            return []
        return [
            f"{label}: no digest of its files is recorded in the audit log (written outside "
            "LeadGuard, or before digests were recorded); run: leadguard index rebuild"
        ]
    files = entry.details.get("files")
    if not isinstance(files, dict):
        return [f"{label}: audit entry {entry.seq} holds no file digests"]
    base = _base(backend, path)
    problems: list[str] = []
    for name in sorted(files):
        where = base / name
        if not where.is_file():
            problems.append(
                f"{label}: file {name} is missing (recorded in audit entry {entry.seq})"
            )
        elif sha256_file(where) != files[name]:
            problems.append(
                f"{label}: file {name} differs from its digest in audit entry {entry.seq}"
            )
    for name in names:
        if name not in files:
            problems.append(f"{label}: file {name} is not recorded in any audit entry")
    return problems


def _head(backend: str, path: Path) -> str:
    """The file every save rewrites (its commit record)."""
    return index_backend(backend).head(path)


def head_recorded(session: Session, space_key: str, backend: str, path: Path) -> bool:
    """Cheap: is the index's commit record (``meta.json``, the ``.json`` beside a FAISS
    file) the one the chain recorded last? False after a save whose entry was never written
    (a crash in between) or a hand-made save: the caller then checks thoroughly and
    rebuilds. True where no index was saved yet."""
    head = _base(backend, path) / _head(backend, path)
    if not head.is_file():
        return not saved_files(backend, path)
    entry = recorded(session, space_key, backend)
    files = entry.details.get("files") if entry is not None else None
    return isinstance(files, dict) and files.get(head.name) == sha256_file(head)


def recorded_spaces(session: Session, backend: str) -> list[str]:
    """Spaces with an ``index.files`` entry for this backend."""
    suffix = f"/{backend}"
    q = select(AuditEntry.object).where(AuditEntry.action == ACTION).distinct()
    objs = session.scalars(q).all()
    keys = {o[len("index:") : -len(suffix)] for o in objs if o.endswith(suffix)}
    return sorted(keys)
