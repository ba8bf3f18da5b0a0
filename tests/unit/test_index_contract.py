"""One contract for every vector-index backend: exact NumPy, FAISS, compressed (compiled and
NumPy kernels) and Milvus (milvus-lite). Each must return the exact top-k of the reference
``ExactIndex`` (fp64 scores of fp32 vectors, ties by lower id) on random and adversarial data.

FAISS scores in fp32 without re-scoring, so for FAISS alone two candidates whose exact scores
differ by less than fp32 rounding may swap places; every other backend must match exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from leadguard.index.base import exact_scores
from leadguard.index.compressed import CompressedIndex
from leadguard.index.exact import ExactIndex
from leadguard.index.faiss_index import FaissExactIndex

FP32_TIE = 1e-5
_space = itertools.count()

Factory = Callable[[int], object]


def _compressed_numpy(dim: int) -> CompressedIndex:
    index = CompressedIndex(f"s{next(_space)}", dim)
    index.use_native = False
    return index


@pytest.fixture(scope="module")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("milvus") / "contract.db")


@pytest.fixture(params=["exact", "faiss", "compressed", "compressed-numpy", "milvus"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, Factory]]:
    name = request.param
    if name == "milvus":
        from leadguard.index.milvus_index import MilvusIndex

        uri = request.getfixturevalue("milvus_uri")
        yield name, lambda dim: MilvusIndex(f"s{next(_space)}", dim, uri, fresh=True)
        return
    makers: dict[str, Factory] = {
        "exact": lambda dim: ExactIndex(f"s{next(_space)}", dim),
        "faiss": lambda dim: FaissExactIndex(f"s{next(_space)}", dim),
        "compressed": lambda dim: CompressedIndex(f"s{next(_space)}", dim),
        "compressed-numpy": _compressed_numpy,
    }
    yield name, makers[name]


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


class Pair:
    """The backend under test and the reference, changed together."""

    def __init__(self, name: str, make: Factory, dim: int) -> None:
        self.name, self.dim = name, dim
        self.index = make(dim)
        self.ref = ExactIndex("ref", dim)
        self.vectors: dict[int, np.ndarray] = {}

    def add(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        self.index.add(ids, vecs)  # type: ignore[attr-defined]
        self.ref.add(ids, vecs)
        self.vectors.update(zip(ids.tolist(), vecs, strict=True))

    def remove(self, ids: np.ndarray) -> None:
        assert self.index.remove(ids) == self.ref.remove(ids)  # type: ignore[attr-defined]
        assert len(self.index) == len(self.ref)  # type: ignore[arg-type]

    def check(self, queries: np.ndarray, k: int) -> None:
        got_s, got_i = self.index.search(queries, k)  # type: ignore[attr-defined]
        ref_s, ref_i = self.ref.search(queries, k)
        assert got_i.shape == ref_i.shape == (len(queries), k)
        assert np.array_equal(got_i == -1, ref_i == -1), "different number of results"
        if self.name != "faiss":
            assert np.array_equal(got_i, ref_i)
            assert np.allclose(got_s[ref_i >= 0], ref_s[ref_i >= 0], atol=1e-6)
            return
        for row in range(len(queries)):
            for j in np.flatnonzero(got_i[row] != ref_i[row]):
                exact = exact_scores(self.vectors[int(got_i[row, j])][None], queries[row])[0]
                assert abs(exact - ref_s[row, j]) < FP32_TIE, "FAISS differs beyond a tie"
        assert np.allclose(got_s[ref_i >= 0], ref_s[ref_i >= 0], atol=FP32_TIE)


def test_random_data_with_appends_and_removals(backend) -> None:
    rng = np.random.default_rng(7)
    pair = Pair(*backend, dim=32)
    vecs = unit(rng, 3000, 32)
    ids = rng.permutation(10**6)[:3000].astype(np.int64)
    for s in range(0, 3000, 700):  # several appends (several segments)
        pair.add(ids[s : s + 700], vecs[s : s + 700])
    queries = np.vstack([vecs[:5] + 0.1 * unit(rng, 5, 32), unit(rng, 5, 32)]).astype(np.float32)
    for k in (1, 10, 50):
        pair.check(queries, k)
    pair.remove(ids[::3])  # a third of everything, across segments
    pair.remove(np.array([-5, 10**9], dtype=np.int64))  # ids never added: nothing removed
    pair.check(queries, 50)
    pair.add(np.arange(2 * 10**6, 2 * 10**6 + 50, dtype=np.int64), vecs[:50])
    pair.check(queries, 50)


def test_duplicates_are_ordered_by_id(backend) -> None:
    rng = np.random.default_rng(1)
    pair = Pair(*backend, dim=16)
    base = unit(rng, 40, 16)
    dup = np.repeat(base[:3], 10, axis=0)  # 30 identical copies of three vectors
    pair.add(np.arange(100, 140, dtype=np.int64), base)
    pair.add(rng.permutation(np.arange(1000, 1030)).astype(np.int64), dup)
    pair.check(base[:3] + 0.01, 12)
    pair.check(base[:3], 35)


def test_exact_ties(backend) -> None:
    # basis vectors against a query with equal components: every score is the same number
    dim = 16
    pair = Pair(*backend, dim=dim)
    basis = np.eye(dim, dtype=np.float32)
    pair.add(np.array([9, 3, 15, 1, 12, 7, 0, 4, 2, 14, 5, 11, 8, 13, 6, 10]) + 50, basis)
    q = np.full((1, dim), 0.25, dtype=np.float32)
    for k in (1, 5, 16, 20):
        pair.check(q, k)


def test_near_equal_scores_in_the_last_bits(backend) -> None:
    rng = np.random.default_rng(3)
    dim = 32
    pair = Pair(*backend, dim=dim)
    v = unit(rng, 1, dim)[0]
    variants = np.repeat(v[None], 24, axis=0)
    for i in range(1, 24):  # nudge one component by a few ulps, up or down
        j = i % dim
        variants[i, j] = np.float32(v[j]) + np.float32(np.spacing(v[j])) * (i % 5 - 2)
    ids = rng.permutation(np.arange(500, 524)).astype(np.int64)
    pair.add(ids, variants)
    pair.add(np.arange(10, 210, dtype=np.int64), unit(rng, 200, dim))
    q = (v + 0.001 * unit(rng, 1, dim)[0]).astype(np.float32)[None]
    for k in (5, 12, 24, 30):
        pair.check(q, k)


def test_clustered_vectors_where_the_bound_is_loose(backend) -> None:
    rng = np.random.default_rng(5)
    dim = 64
    pair = Pair(*backend, dim=dim)
    centre = unit(rng, 1, dim)[0]
    cluster = centre + 2e-3 * rng.normal(size=(2000, dim))
    cluster = (cluster / np.linalg.norm(cluster, axis=1, keepdims=True)).astype(np.float32)
    pair.add(np.arange(2000, dtype=np.int64), cluster)
    q = np.vstack([centre, cluster[17] + 1e-4]).astype(np.float32)
    pair.check(q, 50)
    if isinstance(pair.index, CompressedIndex):
        # the int8 error is larger than the spread: almost everything is re-scored exactly
        assert pair.index.last_candidates > 500


def test_k_larger_than_gallery_empty_and_removal_of_everything(backend) -> None:
    rng = np.random.default_rng(11)
    pair = Pair(*backend, dim=8)
    q = unit(rng, 2, 8)
    pair.check(q, 5)  # empty index
    vecs = unit(rng, 7, 8)
    ids = np.arange(30, 37, dtype=np.int64)
    pair.add(ids, vecs)
    pair.check(q, 20)  # k larger than the gallery: 7 results, then -1
    pair.remove(ids)
    assert len(pair.index) == 0  # type: ignore[arg-type]
    pair.check(q, 3)
    pair.add(ids[:2], vecs[:2])  # usable again after everything was removed
    pair.check(q, 3)


@pytest.mark.parametrize("name", ["faiss", "compressed", "milvus"])
def test_saved_index_loads_with_the_same_results(name: str, tmp_path: Path, milvus_uri) -> None:
    from leadguard.index.registry import load_index, new_index, stored_meta

    backend = {"faiss": "faiss-flat", "compressed": "compressed", "milvus": "milvus"}[name]
    rng = np.random.default_rng(2)
    vecs = unit(rng, 400, 16)
    ids = np.arange(1, 401, dtype=np.int64)
    index = new_index(backend, "space-x", 16, milvus_uri)
    index.add(ids, vecs)
    index.remove(ids[:50])
    path = tmp_path / "x"
    index.save(path)
    loaded = load_index(backend, path, "space-x", 16, milvus_uri)
    q = unit(rng, 3, 16)
    assert np.array_equal(loaded.search(q, 20)[1], index.search(q, 20)[1])
    meta = stored_meta(backend, path)
    assert meta is not None
    assert (meta["count"], meta["id_sum"], meta["id_max"]) == (350, int(ids[50:].sum()), 400)


def test_milvus_record_behind_the_collection_is_refused(tmp_path: Path, milvus_uri) -> None:
    from leadguard.core.errors import IndexError_
    from leadguard.index.milvus_index import MilvusIndex

    rng = np.random.default_rng(9)
    index = MilvusIndex("space-behind", 8, milvus_uri, fresh=True)
    index.add(np.arange(10, dtype=np.int64), unit(rng, 10, 8))
    record = tmp_path / "behind.milvus.json"
    index.save(record)
    index.add(np.arange(10, 15, dtype=np.int64), unit(rng, 5, 8))  # not recorded: a crash
    with pytest.raises(IndexError_, match="holds 15 templates"):
        MilvusIndex.load(record, "space-behind", 8, milvus_uri)


def test_stored_gives_back_every_live_vector_for_index_check(backend) -> None:
    name, make = backend
    if name == "exact":
        return  # the reference keeps no stored form; index check reads saved backends
    rng = np.random.default_rng(11)
    index = make(16)
    vecs = unit(rng, 500, 16)
    ids = np.arange(1000, 1500, dtype=np.int64)
    index.add(ids[:300], vecs[:300])
    index.add(ids[300:], vecs[300:])
    index.remove(ids[::7])
    got: dict[int, np.ndarray] = {}
    for chunk_ids, chunk_vecs in index.stored(chunk=64):
        got.update(zip(chunk_ids.tolist(), chunk_vecs, strict=True))
    live = {int(i): v for i, v in zip(ids, vecs, strict=True) if (i - 1000) % 7}
    assert set(got) == set(live)
    assert all(np.array_equal(got[i], live[i]) for i in live)
