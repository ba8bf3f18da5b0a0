"""Gallery maintenance: the index derived from the database, its checks, removal, stats."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import cache_state
from leadguard.audit import log as audit
from leadguard.core.errors import IndexError_, InputError
from leadguard.core.types import EmbeddingSpace
from leadguard.evidence.gallery_figures import delete_resolutions
from leadguard.gallery import index_files, lookalikes
from leadguard.index.registry import StoredIndex, load_index, new_index, stored_meta
from leadguard.storage import cache_queries
from leadguard.storage import maintenance_queries as maint_repo
from leadguard.storage import queries as repo
from leadguard.storage.audited_rows import subject_rows
from leadguard.storage.resident import Slot
from leadguard.storage.tables import ImageRecord, Subject, TemplateCache, TemplateRecord
from leadguard.storage.workspace import Workspace

log = logging.getLogger(__name__)

# What a long-lived workspace keeps per space, each with the generation it agrees with.
INDEX: Slot[StoredIndex] = Slot("index")
COUNTS: Slot[tuple[int, int]] = Slot("counts")


@dataclass(frozen=True)
class IndexCheck:
    space_key: str
    database_templates: int
    index_templates: int
    missing_from_index: int
    not_in_database: int
    readable: bool
    problem: str = ""
    vectors_differ: int = 0  # ids in both whose vector in the index is not the database's
    differing_ids: tuple[int, ...] = ()  # the first few of them
    file_problems: tuple[str, ...] = ()  # files unlike the digests the audit chain recorded

    @property
    def consistent(self) -> bool:
        return (
            self.readable
            and self.missing_from_index == 0
            and self.not_in_database == 0
            and self.vectors_differ == 0
            and not self.file_problems
        )


def _row_digest(ident: int, vector: bytes) -> int:
    h = hashlib.sha256(ident.to_bytes(8, "little", signed=True) + vector).digest()
    return int.from_bytes(h[:8], "little")


def _digests(
    pairs: list[tuple[int, bytes]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    ids = np.fromiter((i for i, _ in pairs), dtype=np.int64, count=len(pairs))
    dig = np.fromiter((_row_digest(i, v) for i, v in pairs), dtype=np.uint64, count=len(pairs))
    return ids, dig


def _index_digests(index: StoredIndex) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    parts = [
        _digests([(int(i), v.tobytes()) for i, v in zip(ids, vecs, strict=True)])
        for ids, vecs in index.stored()
    ]
    return _join(parts)


def _join(
    parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]:
    if not parts:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64)
    ids = np.concatenate([p[0] for p in parts])
    dig = np.concatenate([p[1] for p in parts])
    order = np.argsort(ids, kind="stable")
    return ids[order], dig[order]


def _backend(ws: Workspace) -> tuple[str, str]:
    """The backend's name and the Milvus URI (which only the Milvus backend reads)."""
    return ws.settings.index_backend, ws.milvus_uri()


def open_index(ws: Workspace, space: EmbeddingSpace) -> StoredIndex:
    """The space's saved index (backend: the ``index_backend`` setting), or an empty one."""
    path = ws.index_path(space.key)
    backend, uri = _backend(ws)
    if not path.exists():
        return new_index(backend, space.key, space.dim, uri)
    return load_index(backend, path, space.key, space.dim, uri)


def save_index(ws: Workspace, space: EmbeddingSpace, index: StoredIndex, reason: str) -> None:
    """Save the index and record the digests of its files in the audit chain (caller holds
    the write lock). A crash between the two leaves files the chain does not vouch for:
    ``index check`` names them and ``index rebuild`` records them again."""
    path = ws.index_path(space.key)
    index.save(path)
    written = getattr(index, "last_written", None)
    with ws.session() as s:
        index_files.record(s, space.key, ws.settings.index_backend, path, reason, written)


def check_files(ws: Workspace, space: EmbeddingSpace) -> list[str]:
    """The index files of the space against the digests the audit chain recorded."""
    with ws.session() as s:
        return index_files.check(s, space.key, ws.settings.index_backend, ws.index_path(space.key))


def check_index(ws: Workspace, space: EmbeddingSpace) -> IndexCheck:
    """Compare the index with the database thoroughly: every file against the digest the
    audit chain recorded when it was written (so codes, ids or tombstones changed on disk
    are found and named), the ids, and for every id the vector itself (a digest of id and
    vector bytes over all rows, computed chunk by chunk), so that vectors swapped or altered
    inside the index file are found and named."""
    with ws.session() as s:
        chunks = maint_repo.template_vector_chunks(s, space.key)
        db_ids, db_dig = _join([_digests(c) for c in chunks])
    files = tuple(check_files(ws, space))
    try:
        index = open_index(ws, space)
        idx_ids, idx_dig = _index_digests(index)
    except Exception as exc:  # a damaged file is a finding of the check, not a crash
        n = int(db_ids.size)
        return IndexCheck(space.key, n, 0, n, 0, False, str(exc), file_problems=files)
    missing = np.setdiff1d(db_ids, idx_ids).size
    extra = np.setdiff1d(idx_ids, db_ids).size
    both, in_db, in_idx = np.intersect1d(db_ids, idx_ids, assume_unique=True, return_indices=True)
    differ = both[db_dig[in_db] != idx_dig[in_idx]]
    return IndexCheck(
        space.key,
        int(db_ids.size),
        int(idx_ids.size),
        int(missing),
        int(extra),
        True,
        vectors_differ=int(differ.size),
        differing_ids=tuple(int(i) for i in differ[:20]),
        file_problems=files,
    )


def rebuild_index(
    ws: Workspace, space: EmbeddingSpace, session: Session | None = None
) -> StoredIndex:
    """Recreate the space's index from the database (the source of truth) and save it,
    under the workspace's write lock (no enrollment commits in between). The digests of
    its files are recorded in ``session`` (a caller's open transaction: a search's, which
    holds the database's write lock) or in a transaction of their own."""
    with ws.write_lock():
        with ws.session() as s:
            ids, vectors = repo.template_vectors(s, space.key)
        backend, uri = _backend(ws)
        index = new_index(backend, space.key, space.dim, uri)
        if ids.size:
            index.add(ids, vectors)
        path = ws.index_path(space.key)
        index.save(path)
        if session is not None:  # every file hashed anew
            index_files.record(session, space.key, backend, path, "rebuild")
        else:
            with ws.session() as s:
                index_files.record(s, space.key, backend, path, "rebuild")
    return index


def _file_stamp(path: Path, meta: dict[str, Any] | None) -> tuple[str, int, str]:
    mtime = path.stat().st_mtime_ns if path.exists() else 0
    return str(path), mtime, repr(sorted((meta or {}).items()))


def synced_index(
    ws: Workspace,
    space: EmbeddingSpace,
    table: tuple[int, ...] | None = None,
    session: Session | None = None,
) -> tuple[StoredIndex, IndexCheck]:
    """The index brought into agreement with the database; repairs and saves if needed.

    A cheap fingerprint (count, sum and maximum of the template ids, kept beside the index
    file) is compared first; only when it differs are the id sets compared in full.

    A long-lived workspace object (the server's) keeps the index loaded: while the index
    file (its modification time and recorded fingerprint) and the gallery generation (a
    counter the database's triggers bump on every change to the templates table) are
    unchanged since the last agreement, the loaded index is used as it is. An enrollment or
    removal, here or by another process, changes both and is picked up on the next search.
    ``table``: the gallery generation if the caller has just read it
    (``repo.templates_stamp``). ``session``: the caller's open transaction, in which a
    repair records its files' digests (``rebuild_index``).
    """
    path = ws.index_path(space.key)
    meta = stored_meta(ws.settings.index_backend, path)
    if table is None:
        with ws.session() as s:
            table = repo.templates_stamp(s)
    stamp = (_file_stamp(path, meta), table)
    held = ws.resident.get(INDEX, space.key, stamp)
    if held is not None:
        return held, IndexCheck(space.key, len(held), len(held), 0, 0, True)
    with ws.session() as s:
        summary = repo.template_id_summary(s, space.key)
        head_ok = index_files.head_recorded(s, space.key, ws.settings.index_backend, path)
    # A search (``session``: it holds the database's write lock) does not repair an index whose
    # files agree with the database but whose digests are not recorded yet: an enrollment
    # may be between saving the files and recording them, under the workspace's write lock,
    # and a repair here would wait on that lock while holding the one the enrollment needs
    # next. The next batch, ``index check`` and ``audit verify`` still see it.
    in_search = session is not None
    if (
        (head_ok or in_search)
        and meta is not None
        and all(meta.get(k) == v for k, v in summary.items())
    ):
        try:
            index = open_index(ws, space)
        except IndexError_:
            index = None
        if index is not None and len(index) == summary["count"]:
            n = summary["count"]
            if head_ok:
                ws.resident.put(INDEX, space.key, stamp, index)
            return index, IndexCheck(space.key, n, n, 0, 0, True)
    check = check_index(ws, space)
    if check.consistent:
        return open_index(ws, space), check
    log.warning(
        "index for space %s disagreed with the database (%d missing, %d extra, %d vectors "
        "differ, %d files unlike their recorded digests%s); rebuilt",
        space.key,
        check.missing_from_index,
        check.not_in_database,
        check.vectors_differ,
        len(check.file_problems),
        f", {check.problem}" if check.problem else "",
    )
    return rebuild_index(ws, space, session), check


def hold_index(
    ws: Workspace, space: EmbeddingSpace, index: StoredIndex, table: tuple[int, ...]
) -> None:
    """Keep ``index``, just saved, as the one agreeing with gallery generation ``table``
    (read in the transaction that committed the index's last templates): the next
    ``synced_index`` with that generation and an unchanged file uses it as it is."""
    path = ws.index_path(space.key)
    meta = stored_meta(ws.settings.index_backend, path)
    ws.resident.put(INDEX, space.key, (_file_stamp(path, meta), table), index)


def remove_subject(ws: Workspace, external_id: str, order: str | None = None) -> int:
    """Remove a subject from the database and every index; returns templates removed.
    Under a court ``order`` (expungement) the evaluation cache of its images goes too. The
    audit entry is written in the same transaction as the deletion."""
    with ws.session() as s:
        shas = [sha for sha, _ in maint_repo.subject_images(s, external_id)]
        rows = subject_rows(s, external_id)
        going = audit.deleted_records(rows)
        by_space: dict[str, list[int]] = {}
        for row in rows:
            if isinstance(row, TemplateRecord):
                by_space.setdefault(row.space_key, []).append(row.id)
        for key, ids in by_space.items():  # in the removal's transaction
            lookalikes.on_remove(s, key, ids)
        removed = maint_repo.remove_subject(s, external_id)
        verdicts = delete_resolutions(s, external_id)  # no verdict names a removed subject
        spaces = {key: repo.get_space(s, key) for key in removed}
        details: dict[str, Any] = {
            "images": shas,
            "templates": {k: len(v) for k, v in removed.items()},
            "deleted_records": going,
        }
        if verdicts:
            details["duplicate_verdicts_deleted"] = verdicts
        if order is not None:
            details["order"] = order
            details["cached_templates_purged"] = _purge_cache(s, shas)
        action = "gallery_remove" if order is None else "gallery_expunge"
        audit.append(s, action, f"subject:{external_id}", details)
    total = 0
    for key, ids in removed.items():
        space = spaces[key]
        if space is None:
            continue
        with ws.write_lock():  # no enrollment saves its index file in between
            try:
                index = open_index(ws, space)
            except Exception:
                index = rebuild_index(ws, space)
            index.remove(np.asarray(ids, dtype=np.int64))  # and any compaction it triggers
            save_index(ws, space, index, "remove")
            synced_index(ws, space)  # repairs any older disagreement too
        total += len(ids)
    return total


@dataclass(frozen=True)
class Expungement:
    subject: str
    order: str
    templates: int
    images: list[tuple[str, str]]  # (SHA-256, source path) of what was removed
    checks: list[tuple[str, bool]]

    @property
    def verified(self) -> bool:
        return all(ok for _, ok in self.checks)


def _purge_cache(s: Session, shas: list[str]) -> int:
    """Delete the evaluation cache's templates of these images, recording each space's
    cache digest after it in the chain (``audit.cache_state``); returns rows deleted."""
    going = cache_queries.cached_rows_of_images(s, shas)
    n = cache_queries.purge_images(s, shas)
    for key, rows in sorted(going.items(), key=repr):
        if isinstance(key, str):  # a key that is not text is no space (``verify`` names it)
            cache_state.record_removed(s, key, rows, "expunge")
    return n


def expunge_subject(ws: Workspace, external_id: str, order: str) -> Expungement:
    """Remove a subject under a court order (database, every index, cached evaluation
    templates of its images), log who did it under which order, then prove it is gone."""
    if not order.strip():
        raise InputError("an expungement needs the reference of the order (--order)")
    with ws.session() as s:
        images = maint_repo.subject_images(s, external_id)
    n = remove_subject(ws, external_id, order)
    shas = [sha for sha, _ in images]
    with ws.session() as s:
        gone_subject = s.scalar(select(Subject).where(Subject.external_id == external_id)) is None
        left_images = s.scalars(select(ImageRecord.id).where(ImageRecord.sha256.in_(shas))).all()
        left_cache = s.scalars(select(TemplateCache.id).where(TemplateCache.sha256.in_(shas))).all()
        spaces = [
            sp for key in repo.gallery_stats(s).templates_by_space if (sp := repo.get_space(s, key))
        ]
    checks = [
        ("no subject row", gone_subject),
        ("no image, face or template rows for its images", not left_images),
        ("no cached evaluation templates of its images", not left_cache),
    ]
    checks += [
        (f"index {sp.key} agrees with the database", check_index(ws, sp).consistent)
        for sp in spaces
    ]
    return Expungement(external_id, order, n, images, checks)


def gallery_counts(
    ws: Workspace, s: Any, space_key: str, table: tuple[int, ...] | None = None
) -> tuple[int, int]:
    """(subjects, templates) searchable in a space, counted again only when the templates
    table changed (the gallery generation, ``table`` if the caller has just read it) since
    a long-lived workspace last counted."""
    if table is None:
        with s.no_autoflush:  # the caller's pending rows (the probe's intake) are not read
            table = repo.templates_stamp(s)
    counts = ws.resident.get(COUNTS, space_key, table)
    if counts is None:
        counts = repo.gallery_counts(s, space_key)
        ws.resident.put(COUNTS, space_key, table, counts)
    return counts
