"""Which vector-index backend a workspace uses: chosen by the ``index_backend`` setting.

- ``compressed`` (default): exact 5-bit scan with error bounds, then exact scores of what can
  matter (index/compressed.py), one folder of append-only segments per space; 5-7x faster
  than a flat scan at 1M-10M templates (docs/performance.md).
- ``faiss-flat``: FAISS IndexFlatIP, one file per embedding space.
- ``milvus``: a Milvus collection per space with a FLAT (exact) index (index/milvus_index.py);
  ``milvus_uri`` names the server, or a local milvus-lite file by default.

Every backend is exact and returns the same top-k (ties by id; FAISS and Milvus score in fp32,
so candidates whose scores differ only in the last fp32 bits may swap places there).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from leadguard.index.base import IdArray, VectorIndex

BACKENDS = ("faiss-flat", "compressed", "milvus")


class StoredIndex(VectorIndex, Protocol):
    def save(self, path: Path) -> None: ...

    def stored(self, chunk: int = ...) -> Iterator[tuple[IdArray, npt.NDArray[np.float32]]]:
        """(ids, vectors) exactly as held, chunk by chunk (``index check``)."""
        ...


def index_location(index_dir: Path, space_key: str, backend: str) -> Path:
    """Where the backend keeps (or records) the index of one space."""
    suffix = {"faiss-flat": ".faiss", "compressed": ".lgc", "milvus": ".milvus.json"}
    if backend not in suffix:
        raise ValueError(f"unknown index backend {backend!r}; choose one of {BACKENDS}")
    return index_dir / f"{space_key}{suffix[backend]}"


def new_index(backend: str, space_key: str, dim: int, milvus_uri: str = "") -> StoredIndex:
    if backend == "compressed":
        from leadguard.index.compressed import CompressedIndex

        return CompressedIndex(space_key, dim)
    if backend == "milvus":
        from leadguard.index.milvus_index import MilvusIndex

        return MilvusIndex(space_key, dim, milvus_uri, fresh=True)
    from leadguard.index.faiss_index import FaissExactIndex

    return FaissExactIndex(space_key, dim)


def load_index(
    backend: str, path: Path, space_key: str, dim: int, milvus_uri: str = ""
) -> StoredIndex:
    if backend == "compressed":
        from leadguard.index.compressed import CompressedIndex

        return CompressedIndex.load(path, space_key, dim)
    if backend == "milvus":
        from leadguard.index.milvus_index import MilvusIndex

        return MilvusIndex.load(path, space_key, dim, milvus_uri)
    from leadguard.index.faiss_index import FaissExactIndex

    return FaissExactIndex.load(path, space_key, dim)


def stored_meta(backend: str, path: Path) -> dict[str, Any] | None:
    """The fingerprint the saved index records (count, id_sum, id_max), without loading it."""
    if backend == "compressed":
        from leadguard.index.compressed import read_meta as compressed_meta

        return compressed_meta(path)
    from leadguard.index.faiss_index import read_meta

    if backend == "milvus":
        from leadguard.index.milvus_index import read_meta as milvus_meta

        return milvus_meta(path)
    return read_meta(path)
