"""Subjects ranked by their best template's score (the exact search's ranking step)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from leadguard.index.base import VectorIndex
from leadguard.storage import queries as repo
from leadguard.storage.resident import Slot
from leadguard.storage.workspace import Workspace


@dataclass(frozen=True)
class SubjectCodes:
    """Each template's subject as arrays: the template ids sorted, and a subject number for
    each. The ranking picks each subject's best template with NumPy instead of a dictionary
    lookup per template (a search ranks hundreds of templates)."""

    ids: npt.NDArray[np.int64]  # template ids, sorted
    codes: npt.NDArray[np.int64]  # the subject number of each
    names: tuple[str, ...]  # the subjects' external ids, by number

    @classmethod
    def of(cls, subjects: Mapping[int, str]) -> SubjectCodes:
        number: dict[str, int] = {}
        ids = np.fromiter(subjects.keys(), np.int64, len(subjects))
        codes = np.fromiter(
            (number.setdefault(name, len(number)) for name in subjects.values()),
            np.int64,
            len(subjects),
        )
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], codes[order], tuple(number))

    def lookup(self, template_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The subject number of each template; -1 for a template not held."""
        if self.ids.size == 0:
            return np.full(template_ids.shape, -1, np.int64)
        pos = np.minimum(np.searchsorted(self.ids, template_ids), self.ids.size - 1)
        return np.where(self.ids[pos] == template_ids, self.codes[pos], -1)


# the gallery generation's subject numbers, per space (read again when the templates change)
SUBJECT_CODES: Slot[SubjectCodes] = Slot("template-subject-codes")


def subject_codes(ws: Workspace, s: Any, space_key: str, table: tuple[int, ...]) -> SubjectCodes:
    """Each template's subject in a space, read again only when the templates table changed
    (the gallery generation ``table``, just read by the caller): reading them through four
    joins on every search cost more than the scan."""
    held = ws.resident.get(SUBJECT_CODES, space_key, table)
    if held is None:
        with s.no_autoflush:
            held = SubjectCodes.of(repo.space_subjects(s, space_key))
        ws.resident.put(SUBJECT_CODES, space_key, table, held)
    return held


def best_per_subject(
    index: VectorIndex,
    query: np.ndarray,
    k: int,
    s: Session,
    subjects: SubjectCodes | None = None,
) -> list[tuple[float, repo.TemplateInfo]]:
    """Top-k subjects by their best template score (exact: widens until k subjects are found).
    The templates' rows are read in the caller's session; ``subjects``: each template's
    subject, as held for the gallery generation (read from the session when missing)."""
    return with_rows(s, best_subject_templates(index, query, k, s, subjects))


def best_subject_templates(
    index: VectorIndex,
    query: np.ndarray,
    k: int,
    s: Session,
    subjects: SubjectCodes | None = None,
) -> list[tuple[float, int]]:
    """``best_per_subject``'s (score, template id) pairs, without the templates' rows,
    best first (equal scores by template id)."""
    total = len(index)
    want = min(total, k * 4)
    while True:
        scores, ids = index.search(query, max(want, 1))
        found = ids[0] >= 0
        tid = ids[0][found].astype(np.int64)
        score = scores[0][found].astype(np.float64)
        code = subjects.lookup(tid) if subjects is not None else np.full(tid.size, -1)
        if (code < 0).any():  # templates not held: their subjects read in this session
            code = _numbered(s, tid, code, subjects)
        # scores arrive best first: a subject's first hit is its best
        _, first = np.unique(code, return_index=True)
        if first.size >= k or want >= total:
            order = first[np.lexsort((tid[first], -score[first]))][:k]
            return [(float(score[i]), int(tid[i])) for i in order]
        want = min(total, want * 2)


def _numbered(
    s: Session,
    tid: npt.NDArray[np.int64],
    code: npt.NDArray[np.int64],
    subjects: SubjectCodes | None,
) -> npt.NDArray[np.int64]:
    """Subject numbers for the templates not held (-1), their subjects read from the
    session: a subject already held keeps its number, a new one is numbered after them."""
    missing = [int(t) for t, c in zip(tid, code, strict=True) if c < 0]
    with s.no_autoflush:
        read = repo.template_subjects(s, missing)
    names = subjects.names if subjects is not None else ()
    number = {name: i for i, name in enumerate(names)}
    out = code.copy()
    for j in np.flatnonzero(code < 0):
        out[j] = number.setdefault(read[int(tid[j])], len(number))
    return out


def with_rows(s: Session, kept: list[tuple[float, int]]) -> list[tuple[float, repo.TemplateInfo]]:
    """The kept templates with their full rows (read in the caller's session)."""
    with s.no_autoflush:
        info = repo.template_info(s, [tid for _, tid in kept])
    return [(score, info[tid]) for score, tid in kept]
