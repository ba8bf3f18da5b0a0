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

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from leadguard.index.base import IdArray, VectorIndex


class StoredIndex(VectorIndex, Protocol):
    def save(self, path: Path) -> None: ...

    def stored(self, chunk: int = ...) -> Iterator[tuple[IdArray, npt.NDArray[np.float32]]]:
        """(ids, vectors) exactly as held, chunk by chunk (``index check``)."""
        ...


@dataclass(frozen=True)
class Backend:
    """One index backend: where it keeps a space's index and how to make, load and
    fingerprint it (each loads its module only when used)."""

    name: str
    suffix: str  # of the index's file or folder, after the space key
    folder: bool  # the index is a folder of files (else one file, perhaps with a sidecar)
    sidecar: bool  # a ``.json`` beside the file records its fingerprint
    create: Callable[[str, int, str], StoredIndex]  # (space key, dim, Milvus URI)
    load: Callable[[Path, str, int, str], StoredIndex]
    meta: Callable[[Path], dict[str, Any] | None]

    def head(self, path: Path) -> str:
        """The file every save rewrites (its commit record)."""
        if self.folder:
            return "meta.json"
        return path.with_suffix(".json").name if self.sidecar else path.name


def _compressed_new(space_key: str, dim: int, uri: str) -> StoredIndex:
    from leadguard.index.compressed import CompressedIndex

    return CompressedIndex(space_key, dim)


def _compressed_load(path: Path, space_key: str, dim: int, uri: str) -> StoredIndex:
    from leadguard.index.compressed import CompressedIndex

    return CompressedIndex.load(path, space_key, dim)


def _compressed_meta(path: Path) -> dict[str, Any] | None:
    from leadguard.index.compressed import read_meta

    return read_meta(path)


def _faiss_new(space_key: str, dim: int, uri: str) -> StoredIndex:
    from leadguard.index.faiss_index import FaissExactIndex

    return FaissExactIndex(space_key, dim)


def _faiss_load(path: Path, space_key: str, dim: int, uri: str) -> StoredIndex:
    from leadguard.index.faiss_index import FaissExactIndex

    return FaissExactIndex.load(path, space_key, dim)


def _faiss_meta(path: Path) -> dict[str, Any] | None:
    from leadguard.index.faiss_index import read_meta

    return read_meta(path)


def _milvus_new(space_key: str, dim: int, uri: str) -> StoredIndex:
    from leadguard.index.milvus_index import MilvusIndex

    return MilvusIndex(space_key, dim, uri, fresh=True)


def _milvus_load(path: Path, space_key: str, dim: int, uri: str) -> StoredIndex:
    from leadguard.index.milvus_index import MilvusIndex

    return MilvusIndex.load(path, space_key, dim, uri)


def _milvus_meta(path: Path) -> dict[str, Any] | None:
    from leadguard.index.milvus_index import read_meta

    return read_meta(path)


REGISTRY: dict[str, Backend] = {
    b.name: b
    for b in (
        Backend("faiss-flat", ".faiss", False, True, _faiss_new, _faiss_load, _faiss_meta),
        Backend(
            "compressed", ".lgc", True, False, _compressed_new, _compressed_load, _compressed_meta
        ),
        Backend("milvus", ".milvus.json", False, False, _milvus_new, _milvus_load, _milvus_meta),
    )
}
BACKENDS = tuple(REGISTRY)


def backend(name: str) -> Backend:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown index backend {name!r}; choose one of {BACKENDS}") from None


def index_location(index_dir: Path, space_key: str, name: str) -> Path:
    """Where the backend keeps (or records) the index of one space."""
    return index_dir / f"{space_key}{backend(name).suffix}"


def new_index(name: str, space_key: str, dim: int, milvus_uri: str = "") -> StoredIndex:
    return backend(name).create(space_key, dim, milvus_uri)


def load_index(
    name: str, path: Path, space_key: str, dim: int, milvus_uri: str = ""
) -> StoredIndex:
    return backend(name).load(path, space_key, dim, milvus_uri)


def stored_meta(name: str, path: Path) -> dict[str, Any] | None:
    """The fingerprint the saved index records (count, id_sum, id_max), without loading it."""
    return backend(name).meta(path)
