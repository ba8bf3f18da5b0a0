"""Exact in-memory index in NumPy: the reference implementation and the test fake.

Scores are exact (fp64 sums of fp32 products, ``exact_scores``), ties go to the lower id."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from leadguard.index.base import IdArray, ScoreArray, as_matrix, exact_scores


class ExactIndex:
    def __init__(self, space_key: str, dim: int) -> None:
        self.space_key = space_key
        self.dim = dim
        self._ids = np.empty(0, dtype=np.int64)
        self._vectors = np.empty((0, dim), dtype=np.float32)

    def __len__(self) -> int:
        return int(self._ids.size)

    def add(self, ids: IdArray, vectors: npt.NDArray[np.float32]) -> None:
        mat = as_matrix(vectors, self.dim)
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size != mat.shape[0]:
            raise ValueError("ids and vectors differ in length")
        if np.intersect1d(ids, self._ids).size:
            raise ValueError("some ids are already in the index")
        self._ids = np.concatenate([self._ids, ids])
        self._vectors = np.vstack([self._vectors, mat])

    def remove(self, ids: IdArray) -> int:
        keep = ~np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        removed = int((~keep).sum())
        self._ids, self._vectors = self._ids[keep], self._vectors[keep]
        return removed

    def ids(self) -> IdArray:
        return self._ids.copy()

    def search(self, query: npt.NDArray[np.float32], k: int) -> tuple[ScoreArray, IdArray]:
        q = as_matrix(query, self.dim)
        n = len(self)
        out_s = np.full((q.shape[0], k), -np.inf, dtype=np.float32)
        out_i = np.full((q.shape[0], k), -1, dtype=np.int64)
        take = min(k, n)
        if take:
            # stable sort on (-score, id) so ties are ordered the same way every time
            for row in range(q.shape[0]):
                scores = exact_scores(self._vectors, q[row])
                order = np.lexsort((self._ids, -scores))[:take]
                out_s[row, :take] = scores[order]
                out_i[row, :take] = self._ids[order]
        return out_s, out_i
