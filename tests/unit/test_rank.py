"""The ranking step: each subject once, at its best template, best first, ties by template id."""

from __future__ import annotations

from contextlib import nullcontext
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from leadguard.index.exact import ExactIndex
from leadguard.search import rank
from leadguard.search.rank import SubjectCodes, best_subject_templates


def _reference(index: ExactIndex, query: np.ndarray, subject: dict[int, str], k: int) -> list:
    """The rule written out plainly: every template scored, each subject's best kept."""
    scores, ids = index.search(query, len(index))
    best: dict[str, tuple[float, int]] = {}
    for sc, tid in zip(scores[0], ids[0], strict=True):
        name = subject[int(tid)]
        if name not in best or (-float(sc), int(tid)) < (-best[name][0], best[name][1]):
            best[name] = (float(sc), int(tid))
    return sorted(best.values(), key=lambda b: (-b[0], b[1]))[:k]


def _gallery(seed: int) -> tuple[ExactIndex, dict[int, str], np.ndarray]:
    """Templates with coarse vectors (many exact ties), about 2.4 per subject, sparse ids."""
    rng = np.random.default_rng(seed)
    n = 600
    vecs = rng.integers(-2, 3, size=(n, 8)).astype(np.float32)
    vecs[np.linalg.norm(vecs, axis=1) == 0, 0] = 1.0
    ids = rng.choice(10**6, size=n, replace=False).astype(np.int64)
    subject = {int(t): f"S{int(rng.integers(0, 250)):03d}" for t in ids}
    index = ExactIndex("space", 8)
    index.add(ids, vecs)
    query = rng.integers(-2, 3, size=8).astype(np.float32)
    return index, subject, query


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 5, 40, 300])
def test_each_subject_once_at_its_best_template_ties_by_id(seed: int, k: int) -> None:
    index, subject, query = _gallery(seed)
    got = best_subject_templates(index, query, k, None, SubjectCodes.of(subject))  # type: ignore[arg-type]
    assert got == _reference(index, query, subject, k)
    names = [subject[t] for _, t in got]
    assert len(names) == len(set(names))


def test_templates_not_held_are_read_and_keep_their_subjects_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A template enrolled after the held table was read: its subject is read from the
    session, and a subject already held is still listed once."""
    index, subject, query = _gallery(7)
    held = dict(list(subject.items())[:400])  # the other 200 templates are not held
    reads: list[list[int]] = []

    def template_subjects(s: Any, ids: list[int]) -> dict[int, str]:
        reads.append(ids)
        return {i: subject[i] for i in ids}

    monkeypatch.setattr(rank.repo, "template_subjects", template_subjects)
    session: Any = SimpleNamespace(no_autoflush=nullcontext())
    got = best_subject_templates(index, query, 300, session, SubjectCodes.of(held))
    assert got == _reference(index, query, subject, 300)
    assert reads and all(i not in held for i in reads[0])


def test_subject_codes_look_up_held_templates_and_mark_the_others() -> None:
    codes = SubjectCodes.of({30: "B", 10: "A", 20: "B"})
    assert codes.names == ("B", "A")
    got = codes.lookup(np.array([10, 20, 30, 25, 99, 0], dtype=np.int64))
    assert got.tolist() == [1, 0, 0, -1, -1, -1]
    assert SubjectCodes.of({}).lookup(np.array([1], dtype=np.int64)).tolist() == [-1]
