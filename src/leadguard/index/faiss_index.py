"""Exact FAISS index (IndexFlatIP inside IndexIDMap2), persisted to disk atomically.

Exact is the default on purpose: an investigator must be able to say that every template
in the gallery was compared with the probe.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from leadguard.core.errors import IndexError_
from leadguard.index.base import IdArray, ScoreArray, as_matrix


def _faiss() -> Any:
    import faiss

    return faiss


def id_summary(ids: IdArray) -> dict[str, int]:
    """Count, sum and maximum of the ids: a cheap fingerprint to compare with the database."""
    return {
        "count": int(ids.size),
        "id_sum": int(ids.sum()) if ids.size else 0,
        "id_max": int(ids.max()) if ids.size else 0,
    }


def read_meta(path: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads(FaissExactIndex.meta_path(path).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


class FaissExactIndex:
    def __init__(self, space_key: str, dim: int) -> None:
        self.space_key = space_key
        self.dim = dim
        faiss = _faiss()
        self._index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def add(self, ids: IdArray, vectors: npt.NDArray[np.float32]) -> None:
        mat = as_matrix(vectors, self.dim)
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if ids.size != mat.shape[0]:
            raise ValueError("ids and vectors differ in length")
        if ids.size:
            self._index.add_with_ids(mat, ids)

    def remove(self, ids: IdArray) -> int:
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        if not ids.size:
            return 0
        return int(self._index.remove_ids(_faiss().IDSelectorBatch(ids)))

    def ids(self) -> IdArray:
        return _faiss().vector_to_array(self._index.id_map).astype(np.int64)

    def stored(self, chunk: int = 65536) -> Iterator[tuple[IdArray, npt.NDArray[np.float32]]]:
        """(ids, vectors) exactly as held in the index, in storage order, chunk by chunk (for
        a thorough check against the database)."""
        ids = self.ids()
        flat = self._index.index
        for start in range(0, int(ids.size), chunk):
            n = min(chunk, int(ids.size) - start)
            yield ids[start : start + n], np.asarray(flat.reconstruct_n(start, n), np.float32)

    def search(self, query: npt.NDArray[np.float32], k: int) -> tuple[ScoreArray, IdArray]:
        q = as_matrix(query, self.dim)
        if k <= 0:
            raise ValueError("k must be positive")
        scores, ids = self._index.search(q, k)
        return scores.astype(np.float32), ids.astype(np.int64)

    # --- persistence ---
    @staticmethod
    def meta_path(path: Path) -> Path:
        return path.with_suffix(".json")

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".faiss.tmp")
        _faiss().write_index(self._index, str(tmp))
        meta = {"space_key": self.space_key, "dim": self.dim, **id_summary(self.ids())}
        meta_tmp = self.meta_path(path).with_suffix(".json.tmp")
        meta_tmp.write_text(json.dumps(meta))
        os.replace(tmp, path)
        os.replace(meta_tmp, self.meta_path(path))

    @classmethod
    def load(cls, path: Path, space_key: str, dim: int) -> FaissExactIndex:
        meta_file = cls.meta_path(path)
        try:
            meta = json.loads(meta_file.read_text())
            raw = _faiss().read_index(str(path))
        except (OSError, ValueError, RuntimeError) as exc:
            raise IndexError_(
                f"index {path} cannot be read ({exc}); run: leadguard index rebuild"
            ) from exc
        if meta.get("space_key") != space_key or raw.d != dim:
            raise IndexError_(
                f"index {path} belongs to space {meta.get('space_key')} (dim {raw.d}), "
                f"not {space_key} (dim {dim}); run: leadguard index rebuild"
            )
        obj = cls(space_key, dim)
        # read_index already returns the concrete class; keep that object (it owns the memory)
        if not isinstance(raw, _faiss().IndexIDMap2):
            raise IndexError_(
                f"index {path} is not an id-mapped index; run: leadguard index rebuild"
            )
        obj._index = raw
        return obj
