"""The gallery's look-alike counts (``leadguard.evidence.lookalikes``) kept in the database.

- Enrollment (``on_enroll``, in the batch's own transaction, so a killed enrollment leaves
  counts that agree with the templates committed): each new template is scored exactly
  against the whole gallery (the index's stored vectors, chunk by chunk, plus the batch),
  which gives its own row and, for every existing template of another subject, the grid
  points that subject newly reaches (its best score over its templates rises).
- Removal and expungement (``on_remove``, in the removal's transaction): the removed
  subject's best score against every remaining template is taken off, and its rows go.
- ``check`` recomputes every row from the database's vectors and compares; ``rebuild``
  replaces them. Both are an exact all-pairs scan: O(templates^2) work.
- Every one of those changes appends the space's rows' set digest to the audit chain
  (``leadguard.audit.lookalike_state``), so that ``audit verify`` finds an edited count.

Scores are recomputed in float64 from the stored float32 vectors (the same in every path),
so that incremental and rebuilt counts agree exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.audit import lookalike_state as state
from leadguard.evidence import lookalikes as la
from leadguard.index.registry import StoredIndex
from leadguard.storage import lookalike_queries as laq
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace

log = logging.getLogger(__name__)

COLUMNS = 8192  # gallery columns scored at a time (bounded memory whatever the gallery)
BEST_CELLS = 4_000_000  # rows x subjects of best scores held at a time (32 MB of float64)

Chunk = tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]
Chunks = Callable[[], Iterable[Chunk]]


class _Subjects:
    """Template id -> a dense subject index (0 .. subjects-1)."""

    def __init__(self, ids: npt.NDArray[np.int64], subjects: npt.NDArray[np.int64]) -> None:
        self.ids = ids
        uniq, dense = np.unique(subjects, return_inverse=True)
        self.dense = dense.astype(np.int64)
        self.count = int(uniq.size)

    def __call__(self, ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        pos = np.searchsorted(self.ids, ids)
        if ids.size and (pos.max() >= self.ids.size or (self.ids[pos] != ids).any()):
            raise LookupError("a template of the index is not in the database")
        return self.dense[pos]


def _rechunk(chunks: Iterable[Chunk]) -> Iterator[Chunk]:
    for ids, vecs in chunks:
        for start in range(0, len(ids), COLUMNS):
            yield ids[start : start + COLUMNS], vecs[start : start + COLUMNS]


def own_rows(
    vecs: npt.NDArray[np.float32],
    dense: npt.NDArray[np.int64],
    chunks: Chunks,
    subjects: _Subjects,
) -> la.Counts:
    """The rows of these templates (subject ``dense``) against every template ``chunks``
    yields (their own included, masked as their own subject)."""
    n = len(vecs)
    out = np.zeros((n, la.POINTS), dtype=np.int64)
    block = max(1, BEST_CELLS // max(subjects.count, 1))
    for start in range(0, n, block):
        q = vecs[start : start + block].astype(np.float64)
        best = np.full((len(q), subjects.count), -np.inf)
        for ids, gv in _rechunk(chunks()):
            labels, m = la.group_max(q @ gv.astype(np.float64).T, subjects(ids), axis=1)
            best[:, labels] = np.maximum(best[:, labels], m)
        best[np.arange(len(q)), dense[start : start + block]] = -np.inf
        out[start : start + len(q)] = la.counts_from_best(best)
    return out


def _enroll_deltas(
    new: npt.NDArray[np.float64],
    new_dense: npt.NDArray[np.int64],
    old: npt.NDArray[np.float64],
    old_dense: npt.NDArray[np.int64],
    cols: npt.NDArray[np.float64],
    col_dense: npt.NDArray[np.int64],
) -> la.Counts:
    """(columns x points): for each existing template, the subjects of the batch that newly
    reach each grid point (``old``: the batch subjects' templates enrolled before)."""
    touched, best_new = la.group_max(new @ cols.T, new_dense, axis=0)
    best_old = np.full_like(best_new, -np.inf)
    if len(old):
        labels, m = la.group_max(old @ cols.T, old_dense, axis=0)
        best_old[np.searchsorted(touched, labels)] = m
    best_new = np.maximum(best_new, best_old)
    same = touched[:, None] == col_dense[None, :]
    best_new[same] = -np.inf
    best_old[same] = -np.inf
    return la.band(la.positions(best_old), la.positions(best_new))


def on_enroll(
    s: Session,
    space_key: str,
    index: StoredIndex,
    new_ids: list[int],
    new_vectors: npt.NDArray[np.float32],
) -> int:
    """Count the batch just saved in ``s`` (not committed) against the gallery ``index``
    holds (the gallery before the batch). Returns the existing rows updated."""
    if not new_ids:
        return 0
    subjects = _Subjects(*laq.template_subjects(s, space_key))
    ids = np.asarray(new_ids, dtype=np.int64)
    vecs = np.asarray(new_vectors, dtype=np.float32)
    dense = subjects(ids)
    touched = np.unique(dense)
    old_parts: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]] = []
    for cids, cvecs in index.stored():  # the batch subjects' earlier templates
        cd = subjects(cids)
        mine = np.isin(cd, touched)
        if mine.any():
            old_parts.append((cvecs[mine].astype(np.float64), cd[mine]))
    old = np.vstack([p[0] for p in old_parts]) if old_parts else np.empty((0, vecs.shape[1]))
    old_dense = np.concatenate([p[1] for p in old_parts]) if old_parts else ids[:0]
    new64 = vecs.astype(np.float64)
    changed: list[tuple[npt.NDArray[np.int64], la.Counts]] = []
    for cids, cvecs in _rechunk(index.stored()):
        delta = _enroll_deltas(
            new64, dense, old, old_dense, cvecs.astype(np.float64), subjects(cids)
        )
        hit = delta.any(axis=1)
        if hit.any():
            changed.append((cids[hit], delta[hit]))
    before, after = _apply(s, changed)

    def gallery() -> Iterator[Chunk]:
        yield from index.stored()
        yield ids, vecs

    rows = own_rows(vecs, dense, gallery, subjects)
    own = [(int(i), la.to_bytes(r)) for i, r in zip(ids, rows, strict=True)]
    laq.insert_lookalike_rows(s, space_key, la.GRID_NAME, own)
    written = after + [(i, la.GRID_NAME, c) for i, c in own]
    state.record_change(s, space_key, "enroll", added=written, removed=before)
    return len(after)


def _apply(
    s: Session, changed: list[tuple[npt.NDArray[np.int64], la.Counts]]
) -> tuple[list[state.Row], list[state.Row]]:
    """Add the deltas to the stored rows (templates with no row are left without one: the
    check names them, the rebuild computes them). Returns the rows as they were and as
    written, for the table's recorded digest."""
    if not changed:
        return [], []
    ids = np.concatenate([c[0] for c in changed])
    deltas = np.vstack([c[1] for c in changed])
    stored = laq.lookalike_rows(s, [int(i) for i in ids])
    keep = np.fromiter(
        ((row := stored.get(int(i))) is not None and row[0] == la.GRID_NAME for i in ids),
        dtype=bool,
        count=ids.size,
    )
    ids, deltas = ids[keep], deltas[keep]
    if ids.size == 0:
        return [], []
    blob = b"".join(stored[int(i)][1] for i in ids)
    counts = np.frombuffer(blob, dtype=la.COUNT_DTYPE).reshape(-1, la.POINTS) + deltas
    if (counts < 0).any():  # those rows disagreed already; the check will say so
        bad = int((counts < 0).any(axis=1).sum())
        log.warning("look-alike counts of %d templates fell below zero; clamped", bad)
        counts = np.maximum(counts, 0)
    packed = np.ascontiguousarray(counts.astype(la.COUNT_DTYPE))
    out = [(int(i), packed[r].tobytes()) for r, i in enumerate(ids)]
    laq.update_lookalike_rows(s, out)
    before = [(i, la.GRID_NAME, stored[i][1]) for i, _ in out]
    return before, [(i, la.GRID_NAME, c) for i, c in out]


def on_remove(s: Session, space_key: str, removed: list[int]) -> int:
    """Before the templates ``removed`` (all of one subject) are deleted in ``s``: take that
    subject off every other template's counts and delete its rows. Returns rows updated."""
    if not removed:
        return 0
    ids, vectors = repo.template_vectors(s, space_key)
    subjects = _Subjects(*laq.template_subjects(s, space_key))
    gone = np.isin(ids, np.asarray(removed, dtype=np.int64))
    mine = vectors[gone].astype(np.float64)
    who = subjects(ids[gone])
    changed: list[tuple[npt.NDArray[np.int64], la.Counts]] = []
    rest_ids, rest = ids[~gone], vectors[~gone]
    for start in range(0, len(rest_ids), COLUMNS):
        cids = rest_ids[start : start + COLUMNS]
        cd = subjects(cids)
        best = (mine @ rest[start : start + COLUMNS].astype(np.float64).T).max(axis=0)
        best = np.where(np.isin(cd, who), -np.inf, best)[None, :]
        delta = -la.band(np.zeros_like(la.positions(best)), la.positions(best))
        hit = delta.any(axis=1)
        if hit.any():
            changed.append((cids[hit], delta[hit]))
    going = [(i, g, c) for i, (g, c) in laq.lookalike_rows(s, [int(i) for i in removed]).items()]
    laq.delete_lookalike_rows(s, ids=[int(i) for i in removed])
    before, after = _apply(s, changed)
    state.record_change(s, space_key, "remove", added=after, removed=before + going)
    return len(after)


def compute_all(s: Session, space_key: str) -> tuple[npt.NDArray[np.int64], la.Counts]:
    """Every template's row, from the database's vectors (the source of truth)."""
    ids, vectors = repo.template_vectors(s, space_key)
    if ids.size == 0:
        return ids, np.zeros((0, la.POINTS), dtype=np.int64)
    subjects = _Subjects(*laq.template_subjects(s, space_key))

    def gallery() -> Iterator[Chunk]:
        yield ids, vectors

    return ids, own_rows(vectors, subjects(ids), gallery, subjects)


@dataclass(frozen=True)
class LookalikeCheck:
    space_key: str
    templates: int
    missing: int  # templates with no row
    differ: int  # rows whose counts (or grid) are not the recomputed ones
    differing_ids: tuple[int, ...] = ()  # the first few of them (missing or differing)

    @property
    def consistent(self) -> bool:
        return self.missing == 0 and self.differ == 0


def check(s: Session, space_key: str) -> LookalikeCheck:
    ids, rows = compute_all(s, space_key)
    stored = laq.space_lookalike_rows(s, space_key)
    missing: list[int] = []
    differ: list[int] = []
    for i, row in zip(ids.tolist(), rows, strict=True):
        have = stored.get(i)
        if have is None:
            missing.append(i)
        elif have[0] != la.GRID_NAME or have[1] != la.to_bytes(row):
            differ.append(i)
    return LookalikeCheck(
        space_key, int(ids.size), len(missing), len(differ), tuple((missing + differ)[:20])
    )


def rebuild(s: Session, space_key: str) -> int:
    """Replace every row of the space with recomputed counts; returns rows written."""
    ids, rows = compute_all(s, space_key)
    written = [(int(i), la.to_bytes(r)) for i, r in zip(ids, rows, strict=True)]
    laq.delete_lookalike_rows(s, space_key=space_key)
    laq.insert_lookalike_rows(s, space_key, la.GRID_NAME, written)
    state.record_rows(s, space_key, "rebuild", [(i, la.GRID_NAME, b) for i, b in written])
    return int(ids.size)


def candidate_rows(s: Session, template_ids: list[int]) -> dict[int, la.Counts]:
    """The rows of a list's candidates' photos (those kept on the current grid)."""
    return {
        i: la.from_bytes(blob)
        for i, (grid, blob) in laq.lookalike_rows(s, template_ids).items()
        if grid == la.GRID_NAME
    }


def check_workspace(ws: Workspace, space_key: str) -> LookalikeCheck:
    """``gallery check``: every row of the space recomputed and compared (no lock: reads)."""
    with ws.session() as s:
        return check(s, space_key)


def rebuild_workspace(ws: Workspace, space_key: str) -> int:
    """``gallery rebuild``: every row of the space recomputed and replaced, under the
    workspace's write lock (no enrollment commits in between), audited."""
    with ws.write_lock(), ws.session() as s:
        n = rebuild(s, space_key)
        audit.append(
            s, "lookalikes_rebuild", f"gallery:{space_key}", {"templates": n, "grid": la.GRID_NAME}
        )
        return n
