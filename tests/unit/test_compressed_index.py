"""The compressed index's own guarantees: the error bound, storage, fingerprint, crashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leadguard.core.errors import IndexError_
from leadguard.index._qkernel import pack, unpack
from leadguard.index.compressed import CompressedIndex, _pool, encode, id_hash


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    v = rng.normal(size=(n, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def test_error_bound_holds_for_every_vector() -> None:
    rng = np.random.default_rng(0)
    dim = 30  # not a multiple of 8: padded dimensions
    x = unit(rng, 5000, dim)
    x[:10] *= 3  # a few vectors far outside the trained range of the rest are still bounded
    enc = encode(x[10:], dim)
    enc_all = encode(x, dim)
    for e in (enc, enc_all):
        assert e["err"].dtype == np.float16  # rounded up, so never below the fp64 error
        assert float(e["err"].max()) >= e["err_max"] > 0
    c = unpack(enc_all["codes"])[: len(x)].astype(np.int64)
    assert c.min() >= -16 and c.max() <= 15
    assert np.array_equal(pack(unpack(enc_all["codes"])), enc_all["codes"])
    assert np.linalg.norm(c, axis=1).max() <= enc_all["cnorm_max"]
    scale = enc_all["scale"]
    x64 = np.zeros((len(x), scale.size))
    x64[:, :dim] = x
    err = enc_all["err"][: len(x)].astype(np.float64)
    assert np.all(np.linalg.norm(x64 - c * scale, axis=1) <= err)  # the stored error holds
    for q in unit(rng, 20, dim):
        w = np.zeros(scale.size)
        w[:dim] = q.astype(np.float64)
        w *= scale
        t = np.abs(w).max() / 127
        p = np.clip(np.rint(w / t), -127, 127)
        a = c @ p.astype(np.int64)
        rnorm = np.linalg.norm(w - t * p)
        bound = np.linalg.norm(q) * err + rnorm * enc_all["cnorm_max"]
        exact = x.astype(np.float64) @ q.astype(np.float64)
        assert np.all(np.abs(exact - t * a) <= bound)


def test_the_fitted_scale_keeps_the_error_near_the_best_for_gaussian_data() -> None:
    rng = np.random.default_rng(5)
    x = unit(rng, 20000, 128)
    err = encode(x, 128)["err"][:20000].astype(np.float64)
    # 32 uniform levels on Gaussian data: at best about 0.0037 of the variance per dimension
    # (norm of the error ~0.0608 for unit vectors of 128 dimensions)
    assert float(np.sqrt((err**2).mean())) < 1.1 * np.sqrt(0.0037)


def test_fingerprint_is_kept_incrementally() -> None:
    rng = np.random.default_rng(1)
    index = CompressedIndex("s", 8)
    ids = rng.permutation(10**5)[:300].astype(np.int64)
    index.add(ids[:200], unit(rng, 200, 8))
    index.add(ids[200:], unit(rng, 100, 8))
    index.remove(ids[:120])
    index.remove(np.array([ids.max()]))
    live = index.ids()
    assert set(live.tolist()) == set(ids[120:].tolist()) - {int(ids.max())}
    assert index.fingerprint() == {
        "count": live.size,
        "id_sum": int(live.sum()),
        "id_max": int(live.max()),
        "id_xor": id_hash(live),
    }


def test_appends_write_new_segments_and_keep_old_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    index = CompressedIndex("s", 16)
    index.add(np.arange(1000, dtype=np.int64), unit(rng, 1000, 16))
    index.save(tmp_path)
    first = {f.name: f.stat().st_mtime_ns for f in tmp_path.glob("seg-000001.*")}
    index.add(np.arange(1000, 1010, dtype=np.int64), unit(rng, 10, 16))
    index.remove(np.arange(5, dtype=np.int64))  # a tombstone file, not a rewrite
    index.save(tmp_path)
    assert {
        f.name: f.stat().st_mtime_ns
        for f in tmp_path.glob("seg-000001.*")
        if ".dead-" not in f.name
    } == first
    loaded = CompressedIndex.load(tmp_path, "s", 16)
    assert len(loaded) == 1005
    assert loaded.fingerprint() == index.fingerprint()


def test_a_crash_before_the_commit_leaves_the_previous_state(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    index = CompressedIndex("s", 16)
    index.add(np.arange(500, dtype=np.int64), unit(rng, 500, 16))
    index.save(tmp_path)
    before = (tmp_path / "meta.json").read_bytes()
    index.add(np.arange(500, 600, dtype=np.int64), unit(rng, 100, 16))
    index.remove(np.arange(10, dtype=np.int64))
    index.save(tmp_path)
    # simulate a crash after the new files were written but before meta.json was replaced
    (tmp_path / "meta.json").write_bytes(before)
    loaded = CompressedIndex.load(tmp_path, "s", 16)
    assert len(loaded) == 500 and set(loaded.ids().tolist()) == set(range(500))
    # a rebuild into the same folder never overwrites the files the committed state names
    fresh = CompressedIndex("s", 16)
    fresh.add(np.arange(7, dtype=np.int64), unit(rng, 7, 16))
    fresh.save(tmp_path)
    assert len(CompressedIndex.load(tmp_path, "s", 16)) == 7


def test_damaged_or_foreign_index_is_a_clear_error(tmp_path: Path) -> None:
    index = CompressedIndex("s", 4)
    index.add(np.arange(3, dtype=np.int64), np.eye(3, 4, dtype=np.float32))
    index.save(tmp_path)
    with pytest.raises(IndexError_, match="belongs to space"):
        CompressedIndex.load(tmp_path, "other", 4)
    next(tmp_path.glob("*.ids.npy")).unlink()
    with pytest.raises(IndexError_, match="cannot be read"):
        CompressedIndex.load(tmp_path, "s", 4)


def test_many_small_appends_are_merged_and_removals_compacted() -> None:
    rng = np.random.default_rng(4)
    index = CompressedIndex("s", 8)
    for i in range(20):
        index.add(np.arange(i * 5, i * 5 + 5, dtype=np.int64), unit(rng, 5, 8))
    assert len(index._segments) <= 9
    index.remove(np.arange(0, 100, 2, dtype=np.int64))
    assert all(s.live / s.rows >= 0.75 for s in index._segments)
    assert sorted(index.ids().tolist()) == list(range(1, 100, 2))


def test_compiled_kernel_loads_where_there_is_a_compiler_and_agrees_with_numpy() -> None:
    import shutil

    from leadguard.index import _qkernel
    from leadguard.index.compressed import _prepare, _Segment

    lib = _qkernel.native()
    assert (lib is not None) == (shutil.which("cc") is not None or shutil.which("gcc") is not None)
    rng = np.random.default_rng(6)
    x = unit(rng, 3000, 32)
    x[100:110] = x[5]  # duplicates: equal scores at the floor
    enc = encode(x, 32)
    seg = _Segment("s", np.arange(3000, dtype=np.int64), vectors=x, **enc)
    blocks = enc["codes"].shape[0]
    for q in (x[5] + 0.01, unit(rng, 1, 32)[0]):
        q32 = q.astype(np.float32)
        query = _prepare(seg, q32.astype(np.float64), q32, float(np.linalg.norm(q32)))
        found = []
        for native, kernel in ((True, "best"), (True, "portable"), (True, "avx2"), (False, "")):
            shared = np.full(1, -np.inf)
            data = _qkernel.Stored(enc["codes"], enc["err"], enc["dead"], x)
            res = _qkernel.scan(data, 0, blocks, query, 10, shared, native, kernel or "best")
            assert 10 <= res.rows.size <= res.checked < 3000  # it pruned, and kept enough
            exact = x[res.rows].astype(np.float64) @ q32.astype(np.float64)
            found.append(sorted(res.rows[np.argsort(-exact, kind="stable")[:10]].tolist()))
        truth = x.astype(np.float64) @ q32.astype(np.float64)
        top = np.lexsort((np.arange(3000), -truth))[:10]
        assert all(f == sorted(top.tolist()) for f in found)


def _reference_top(vectors: dict[int, np.ndarray], q: np.ndarray, k: int) -> list[int]:
    from leadguard.index.exact import ExactIndex

    ref = ExactIndex("ref", q.size)
    ids = np.array(sorted(vectors), dtype=np.int64)
    ref.add(ids, np.stack([vectors[i] for i in ids.tolist()]))
    return ref.search(q[None], k)[1][0].tolist()


def test_saved_rows_mapped_or_read_by_pread_give_the_exact_top_k(tmp_path: Path) -> None:
    from leadguard.index.segment_files import RowFile

    rng = np.random.default_rng(8)
    x = unit(rng, 6000, 32)
    x[4000:4010] = x[17]  # duplicates at the top for a query near row 17
    index = CompressedIndex("s", 32)
    index.add(np.arange(3000, dtype=np.int64), x[:3000])
    index.add(np.arange(3000, 6000, dtype=np.int64), x[3000:])
    index.remove(np.arange(0, 6000, 7, dtype=np.int64))
    index.save(tmp_path)
    live = {i: x[i] for i in range(6000) if i % 7}
    loaded = CompressedIndex.load(tmp_path, "s", 32)
    assert all(
        isinstance(s.vectors, RowFile) and s.vectors.mapped is not None for s in loaded._segments
    )
    for q in (x[17] + 0.02 * unit(rng, 1, 32)[0], unit(rng, 1, 32)[0]):
        want = _reference_top(live, q, 40)
        for map_rows in (True, False):
            loaded = CompressedIndex.load(tmp_path, "s", 32, map_rows=map_rows)
            for native in (True, False):
                loaded.use_native = native
                assert loaded.search(q[None], 40)[1][0].tolist() == want, (map_rows, native)


def test_a_loaded_index_keeps_searching_after_another_writer_drops_its_files(
    tmp_path: Path,
) -> None:
    """A server holds the rows mapped while an enrollment elsewhere compacts the segment
    and unlinks its files: the server's maps stay valid until it reloads."""
    rng = np.random.default_rng(9)
    x = unit(rng, 2000, 16)
    index = CompressedIndex("s", 16)
    index.add(np.arange(2000, dtype=np.int64), x)
    index.save(tmp_path)
    server = CompressedIndex.load(tmp_path, "s", 16)
    writer = CompressedIndex.load(tmp_path, "s", 16)
    writer.remove(np.arange(0, 2000, 2, dtype=np.int64))  # past the compaction fraction
    writer.save(tmp_path)
    assert not (tmp_path / "seg-000001.vec.npy").exists()  # the old segment's files are gone
    q = unit(rng, 1, 16)[0]
    assert server.search(q[None], 25)[1][0].tolist() == _reference_top(dict(enumerate(x)), q, 25)
    reloaded = CompressedIndex.load(tmp_path, "s", 16)
    odd = {i: x[i] for i in range(1, 2000, 2)}
    assert reloaded.search(q[None], 25)[1][0].tolist() == _reference_top(odd, q, 25)


def test_every_compiled_path_finds_the_same_candidates_as_the_portable_one() -> None:
    """The SIMD paths (AVX2, AVX-512 VNNI where the CPU has them) compute the same integer
    sums as the portable C: the same rows kept, the same exact scores, for every width of
    code and queries near stored rows, far from them and at the extremes of int8."""
    from leadguard.index import _qkernel
    from leadguard.index.compressed import _prepare, _Segment

    if _qkernel.native() is None:
        pytest.skip("no C compiler: only the NumPy scan runs here (tested elsewhere)")
    paths = ["portable"] + [k for k in ("avx2",) if k in _qkernel.kernels()] + ["best"]
    rng = np.random.default_rng(11)
    for dim in (8, 32, 128, 256):
        x = unit(rng, 4000, dim)
        x[:, 0] *= 4  # an uneven scale: some dimensions use the whole code range
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        enc = encode(x, dim)
        enc["dead"][::13] = 1
        seg = _Segment("s", np.arange(4000, dtype=np.int64), vectors=x, **enc)
        for q in (x[7] + 0.01 * unit(rng, 1, dim)[0], unit(rng, 1, dim)[0], -x[9]):
            q32 = q.astype(np.float32)
            query = _prepare(seg, q32.astype(np.float64), q32, float(np.linalg.norm(q32)))
            got = {}
            for path in paths:
                data = _qkernel.Stored(enc["codes"], enc["err"], enc["dead"], x)
                blocks = enc["codes"].shape[0]
                res = _qkernel.scan(data, 0, blocks, query, 25, np.full(1, -np.inf), True, path)
                assert res.checked < 4000  # it pruned
                best = np.lexsort((res.rows, -res.scores))[:25]
                got[path] = (res.rows[best].tolist(), res.scores[best].tolist())
            live = np.flatnonzero(enc["dead"][:4000] == 0)
            truth = x[live].astype(np.float64) @ q32.astype(np.float64)
            top = live[np.lexsort((live, -truth))[:25]].tolist()
            assert all(g[0] == top for g in got.values()), (dim, sorted(got))
            assert all(g == got["portable"] for g in got.values())  # the same exact scores


def test_a_scan_split_between_threads_gives_the_exact_top_k(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Threads share the running floor; split or not, the top k is the exact one. Small
    galleries are scanned on one thread (the parts' size is lowered here to split them)."""
    from leadguard.index import compressed

    rng = np.random.default_rng(12)
    x = unit(rng, 9000, 32)
    x[8000:8010] = x[3]  # equal scores at the top for a query near row 3
    index = CompressedIndex("s", 32, threads=3)
    index.add(np.arange(5000, dtype=np.int64), x[:5000])
    index.add(np.arange(5000, 9000, dtype=np.int64), x[5000:])
    live = {i: x[i] for i in range(9000)}
    ran: list[int] = []
    monkeypatch.setattr(compressed, "_pool", lambda n: ran.append(n) or _pool(n))
    for q in (x[3] + 0.01 * unit(rng, 1, 32)[0], unit(rng, 1, 32)[0]):
        want = _reference_top(live, q, 30)
        for part in (compressed.MIN_THREAD_BLOCKS, 16):
            monkeypatch.setattr(compressed, "MIN_THREAD_BLOCKS", part)
            ran.clear()
            assert index.search(q[None], 30)[1][0].tolist() == want, part
            assert ran == ([3] if part == 16 else [])  # split only into parts of that size
