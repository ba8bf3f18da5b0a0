"""Templates for evaluation, computed by the enrollment pipeline and cached per image hash
and embedding space in the workspace database, so a second run recomputes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leadguard.audit import cache_state
from leadguard.core.errors import InputError, UnreadableImage
from leadguard.core.types import EmbeddingSpace
from leadguard.pipeline.decode import read_file, sha256_bytes
from leadguard.pipeline.worker import Task, WorkerPool
from leadguard.storage import cache_queries as cq
from leadguard.storage.workspace import Workspace

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Acquired:
    """A template, or the reason there is none (failure to acquire is data, not an error)."""

    sha256: str
    vector: np.ndarray | None
    error_code: str = ""
    error: str = ""


def compute_templates(
    ws: Workspace,
    space: EmbeddingSpace,
    paths: list[Path],
    progress: Progress | None = None,
    policy: str = "central",
) -> dict[Path, Acquired]:
    """Templates for every distinct path. Datasets like LFW are centred, hence ``central``."""
    unique = list(dict.fromkeys(paths))
    out: dict[Path, Acquired] = {}
    hashes: dict[Path, str] = {}
    for p in unique:
        try:
            hashes[p] = sha256_bytes(read_file(p, ws.settings.max_image_bytes))
        except UnreadableImage as exc:
            out[p] = Acquired("", None, exc.code, exc.reason)
    with ws.read_session() as s:  # refused unless the rows are those the chain records
        rows = list(cq.iter_cache_rows(s, space.key))
        cache_state.check_space(s, space.key, rows)
    cached = {str(r[0]): r for r in rows}
    todo = []
    twins: dict[str, list[Path]] = {}  # identical bytes under several paths: computed once
    for p, sha in hashes.items():
        c = cached.get(sha)
        if c is None and sha in twins:
            twins[sha].append(p)
        elif c is None:
            twins[sha] = [p]
            todo.append(p)
        else:
            _, blob, _, code, error = c
            vec = np.frombuffer(blob, np.float32).copy() if blob else None
            out[p] = Acquired(sha, vec, code, error)
    done = len(unique) - sum(len(v) for v in twins.values())
    if progress:
        progress(done, len(unique))
    if not todo:
        return out

    def tasks() -> Iterator[Task]:
        for i, p in enumerate(todo):
            yield Task(i, read_file(p, ws.settings.max_image_bytes), str(p), policy)

    batch: list[cq.CacheRow] = []
    workers = min(ws.settings.effective_workers(), len(todo))
    with WorkerPool(ws.settings, space.key, workers) as pool:
        for r in pool.map(tasks()):
            p = todo[r.position]
            vec = None if r.vector is None else np.asarray(r.vector, np.float32)
            for twin in twins[hashes[p]]:
                out[twin] = Acquired(r.sha256, vec, r.error_code, r.error)
                done += 1
            blob = None if vec is None else vec.tobytes()
            batch.append((r.sha256, blob, r.faces_in_image, r.error_code, r.error))
            if len(batch) >= 256:
                store_cached(ws, space.key, batch)
            if progress:
                progress(done, len(unique))
        store_cached(ws, space.key, batch)
    return out


def store_cached(ws: Workspace, space_key: str, batch: list[cq.CacheRow]) -> None:
    """Cache a batch of templates (then empties ``batch``), and record the cache's new
    digest in the chain in the same transaction. An image cached meanwhile by another
    evaluation of the same space keeps its row (the same image, the same pipeline)."""
    if batch:
        with ws.session() as s:
            have = cq.cached_shas(s, space_key, [str(r[0]) for r in batch])
            new = [r for r in dict((r[0], r) for r in batch).values() if r[0] not in have]
            if new:
                cq.insert_cache_rows(s, space_key, new)
                cache_state.record_added(s, space_key, new)
        batch.clear()


def clear_cached(ws: Workspace, space_key: str) -> int:
    """Discard every cached template of a space (the next evaluation computes them
    again), recording the emptied cache in the chain; returns rows deleted."""
    with ws.session() as s:
        known = cq.cache_spaces(s)
        if space_key not in known and cache_state.TRACKED.recorded(s, space_key).seq is None:
            have = ", ".join(str(k) for k in known) or "none"
            raise InputError(
                f"no evaluation cache for space {space_key!r} (spaces with cached templates:"
                f" {have})"
            )
        n = cq.delete_space_cache(s, space_key)
        cache_state.record_cleared(s, space_key)
    return n


def dataset_checksum(acquired: dict[Path, Acquired], extra: bytes = b"") -> str:
    """SHA-256 over the protocol file(s) and the sorted hashes of every image used."""
    h = hashlib.sha256(extra)
    for sha in sorted(a.sha256 for a in acquired.values()):
        h.update(sha.encode())
    return h.hexdigest()
