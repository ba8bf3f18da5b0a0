"""The VectorIndex protocol. ``ExactIndex`` is the reference and the test fake."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from leadguard.core.errors import SpaceMismatch

IdArray = npt.NDArray[np.int64]
ScoreArray = npt.NDArray[np.float32]


class VectorIndex(Protocol):
    """Inner-product search over unit vectors of one embedding space, keyed by template id."""

    space_key: str
    dim: int

    def __len__(self) -> int: ...

    def add(self, ids: IdArray, vectors: npt.NDArray[np.float32]) -> None: ...

    def remove(self, ids: IdArray) -> int: ...

    def ids(self) -> IdArray: ...

    def search(self, query: npt.NDArray[np.float32], k: int) -> tuple[ScoreArray, IdArray]:
        """Top-k (scores, ids) for each row of ``query``; missing slots have id -1."""
        ...


def check_space(index_space: str, template_space: str) -> None:
    if index_space != template_space:
        raise SpaceMismatch(
            f"template from embedding space {template_space} cannot be searched in the index "
            f"of space {index_space}; re-enroll or search with the gallery's settings"
        )


def as_matrix(vectors: npt.NDArray[np.float32], dim: int) -> npt.NDArray[np.float32]:
    arr = np.ascontiguousarray(vectors, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"expected vectors of dimension {dim}, got shape {arr.shape}")
    return arr


def search_rows(
    query: npt.NDArray[np.float32],
    dim: int,
    k: int,
    one: Callable[[npt.NDArray[np.float32], int], tuple[npt.NDArray[np.float64], IdArray]],
) -> tuple[ScoreArray, IdArray]:
    """Top-k of every query row by ``one`` (a single-query search), padded with -inf / -1
    where fewer than k templates exist: the batch shape every index returns."""
    q = as_matrix(query, dim)
    if k <= 0:
        raise ValueError("k must be positive")
    out_s = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
    out_i = np.full((q.shape[0], k), -1, dtype=np.int64)
    for row in range(q.shape[0]):
        scores, ids = one(q[row], k)
        out_s[row, : ids.size] = scores
        out_i[row, : ids.size] = ids
    return out_s, out_i


def exact_scores(
    vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    """Exact inner products of fp32 vectors with an fp32 query: every product is exact in fp64
    and each row is summed the same way whatever the number of rows, so every index that
    re-scores with this function orders near-ties identically."""
    v = np.asarray(vectors, dtype=np.float64)
    return np.multiply(v, np.asarray(query, dtype=np.float64)).sum(axis=1)
