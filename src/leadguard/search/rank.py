"""Subjects ranked by their best template's score (the exact search's ranking step)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sqlalchemy.orm import Session

from leadguard.index.base import VectorIndex
from leadguard.storage import queries as repo


def best_per_subject(
    index: VectorIndex,
    query: np.ndarray,
    k: int,
    s: Session,
    subjects: Mapping[int, str] | None = None,
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
    subjects: Mapping[int, str] | None = None,
) -> list[tuple[float, int]]:
    """``best_per_subject``'s (score, template id) pairs, without the templates' rows."""
    total = len(index)
    want = min(total, k * 4)
    while True:
        scores, ids = index.search(query, max(want, 1))
        valid = [(int(i), float(s)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
        held = subjects or {}
        missing = [i for i, _ in valid if i not in held]
        with s.no_autoflush:
            read = repo.template_subjects(s, missing) if missing else {}
        subject = {i: held[i] if i in held else read[i] for i, _ in valid}
        best: dict[str, tuple[float, int]] = {}
        for tid, score in valid:  # scores arrive best first: a subject's first hit is its best
            best.setdefault(subject[tid], (score, tid))
        if len(best) >= k or want >= total:
            return sorted(best.values(), key=lambda b: (-b[0], b[1]))[:k]
        want = min(total, want * 2)


def with_rows(s: Session, kept: list[tuple[float, int]]) -> list[tuple[float, repo.TemplateInfo]]:
    """The kept templates with their full rows (read in the caller's session)."""
    with s.no_autoflush:
        info = repo.template_info(s, [tid for _, tid in kept])
    return [(score, info[tid]) for score, tid in kept]
