from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leadguard.core.errors import IndexError_, SpaceMismatch
from leadguard.index.base import check_space
from leadguard.index.exact import ExactIndex
from leadguard.index.faiss_index import FaissExactIndex


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vecs = unit_vectors(500, 16, 1)
    ids = np.arange(1000, 1500, dtype=np.int64)
    queries = unit_vectors(7, 16, 2)
    return ids, vecs, queries


def test_faiss_agrees_with_exact_reference(data) -> None:
    ids, vecs, queries = data
    ref, fx = ExactIndex("s", 16), FaissExactIndex("s", 16)
    ref.add(ids, vecs)
    fx.add(ids, vecs)
    rs, ri = ref.search(queries, 10)
    fs, fi = fx.search(queries, 10)
    assert np.array_equal(ri, fi)
    assert np.allclose(rs, fs, atol=1e-5)
    # and both equal brute force
    brute = queries @ vecs.T
    assert np.allclose(rs[:, 0], brute.max(axis=1), atol=1e-5)


def test_remove_and_ids(data) -> None:
    ids, vecs, queries = data
    for index in (ExactIndex("s", 16), FaissExactIndex("s", 16)):
        index.add(ids, vecs)
        top = index.search(queries[:1], 1)[1][0, 0]
        assert index.remove(np.array([top])) == 1
        assert len(index) == 499
        assert top not in set(index.ids().tolist())
        assert index.search(queries[:1], 1)[1][0, 0] != top


def test_k_larger_than_index_pads_with_minus_one() -> None:
    for index in (ExactIndex("s", 4), FaissExactIndex("s", 4)):
        index.add(np.array([1, 2]), unit_vectors(2, 4, 3))
        _, got = index.search(unit_vectors(1, 4, 4), 5)
        assert got[0, :2].tolist() != [-1, -1] and got[0, 2:].tolist() == [-1, -1, -1]


def test_wrong_dimension_is_refused() -> None:
    index = FaissExactIndex("s", 8)
    with pytest.raises(ValueError, match="dimension 8"):
        index.add(np.array([1]), unit_vectors(1, 4, 0))


def test_save_load_roundtrip(tmp_path: Path, data) -> None:
    ids, vecs, queries = data
    fx = FaissExactIndex("space-a", 16)
    fx.add(ids, vecs)
    path = tmp_path / "space-a.faiss"
    fx.save(path)
    loaded = FaissExactIndex.load(path, "space-a", 16)
    assert len(loaded) == 500
    assert np.array_equal(np.sort(loaded.ids()), ids)
    assert np.array_equal(loaded.search(queries, 5)[1], fx.search(queries, 5)[1])


def test_load_refuses_other_space_and_damage(tmp_path: Path) -> None:
    fx = FaissExactIndex("space-a", 4)
    path = tmp_path / "i.faiss"
    fx.save(path)
    with pytest.raises(IndexError_, match="belongs to space space-a"):
        FaissExactIndex.load(path, "space-b", 4)
    path.write_bytes(b"garbage")
    with pytest.raises(IndexError_, match="cannot be read"):
        FaissExactIndex.load(path, "space-a", 4)


def test_cross_space_search_is_an_error() -> None:
    check_space("a", "a")
    with pytest.raises(SpaceMismatch, match="cannot be searched"):
        check_space("a", "b")
