"""Exact top-k at millions of templates: the compressed index against FAISS IndexFlatIP.

SYNTHETIC DATA: the gallery is random 128-d unit vectors (isotropic: the hardest case for
the error bound, since every score is close to every other), generated in chunks of 1M from
fixed seeds. Queries are synthetic too: a gallery vector plus noise (cosine ~0.8 to it), so
each probe has one planted near neighbour as a real probe of an enrolled person would.

Both indexes are built from the same vectors in the same run and searched with the same
queries, one at a time, alternating which goes first (FAISS's OpenMP threads told to wait
passively: spinning, they took the cores from the compressed search timed after them).
Then the compressed index alone runs the same queries back to back (no FAISS scan of 5 GB
between two of its searches, as in a server), reported as "alone", and once more with 1 GiB
written between two searches so that each starts with cold caches ("cold"), and alone from
a second copy that reads the exact-score rows with a pread each ("pread"). Every
compressed result is checked against the FAISS fp32 scan: the same ids in the same order,
except where FAISS's fp32 scores put two candidates whose exact scores differ by less than
1e-6 in the other order (counted and reported). The compressed index is saved, dropped and
loaded again to time the load and its resident memory: the growth of the process's own
(anonymous) resident pages; the fp32 vectors scored exactly are memory-mapped (populated
at load), and the pages of that file (RssFile, shared with the page cache and reclaimable)
are reported apart.

Usage: python benchmarks/index_scale.py [--sizes 1000000 10000000] [--queries 30]
       [--k 50] [--threads 2] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

# FAISS's OpenMP threads otherwise spin for a while after each of its searches, on the same
# 2 cores as the compressed search timed next (read by libgomp when faiss loads it)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import faiss
import numpy as np

from _common import save
from leadguard.index.base import exact_scores
from leadguard.index.compressed import CompressedIndex

DIM = 128
CHUNK = 1_000_000
FLUSH_BYTES = 1 << 30
log = logging.getLogger("index_scale")


def rss_mb(field: str = "RssAnon") -> float:
    """The process's own resident memory (anonymous pages). Pages of the memory-mapped fp32
    vectors count under RssFile: the file's, shared and reclaimable (reported apart)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def chunk(n: int, start: int) -> np.ndarray:
    rows = min(CHUNK, n - start)
    rng = np.random.default_rng(1000 + start // CHUNK)
    v = rng.standard_normal((rows, DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def queries(n: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    planted = np.sort(rng.choice(n, size=count, replace=False))
    base = np.empty((count, DIM), dtype=np.float32)
    for c in np.unique(planted // CHUNK):
        sel = planted // CHUNK == c
        base[sel] = chunk(n, int(c) * CHUNK)[planted[sel] % CHUNK]
    noise = rng.standard_normal((count, DIM)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    q = base + 0.75 * noise
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32), planted


def measure(n: int, count: int, k: int, threads: int, workdir: Path) -> dict[str, float]:
    faiss.omp_set_num_threads(threads)
    folder = workdir / f"compressed-{n}"
    shutil.rmtree(folder, ignore_errors=True)
    comp = CompressedIndex("bench", DIM, threads=threads)
    flat = faiss.IndexFlatIP(DIM)
    build_c = build_f = 0.0
    for start in range(0, n, CHUNK):
        v = chunk(n, start)
        t = time.perf_counter()
        comp.add(np.arange(start, start + len(v), dtype=np.int64), v)
        comp.save(folder)  # each chunk is one appended segment; fp32 goes to a memmap
        build_c += time.perf_counter() - t
        t = time.perf_counter()
        flat.add(v)
        build_f += time.perf_counter() - t
        del v
        log.info("built %d / %d", min(n, start + CHUNK), n)
    del comp
    q, planted = queries(n, count)  # before the memory baseline: it regenerates vectors
    gc.collect()
    rss0, file0 = rss_mb(), rss_mb("RssFile")
    t = time.perf_counter()
    comp = CompressedIndex.load(folder, "bench", DIM)
    comp.threads = threads
    load_c = time.perf_counter() - t
    rss_loaded = rss_mb()
    comp.search(q[:2], k)  # warm: compiles/loads the kernel, thread pool
    flat.search(q[:2], k)
    # four ways per query, in rotating order: compressed and FAISS, each on 1 and on
    # `threads` threads (on a loaded machine more threads can be slower)
    ways = [("compressed", 1), ("compressed", threads), ("faiss", 1), ("faiss", threads)]
    ways = list(dict.fromkeys(ways))
    times: dict[tuple[str, int], list[float]] = {w: [] for w in ways}
    cands, swaps, found = [], 0, 0
    for i in range(count):
        res: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for j in range(len(ways)):
            kind, th = ways[(i + j) % len(ways)]
            comp.threads = th
            faiss.omp_set_num_threads(th)
            t = time.perf_counter()
            res[kind] = (
                comp.search(q[i : i + 1], k)
                if kind == "compressed"
                else flat.search(q[i : i + 1], k)
            )
            times[(kind, th)].append(time.perf_counter() - t)
        cands.append(comp.last_candidates)
        cs, ci = res["compressed"][0][0], res["compressed"][1][0]
        fi = res["faiss"][1][0]
        found += int(ci[0] == planted[i])
        for j in np.flatnonzero(ci != fi):  # only fp32 near-ties may differ
            exact = exact_scores(flat.reconstruct(int(fi[j]))[None], q[i])[0]
            assert abs(exact - cs[j]) < 1e-6, f"query {i}: compressed and FAISS differ at {j}"
            swaps += 1
    # then the compressed index alone, the same queries back to back on `threads` threads:
    # a server does not stream FAISS's 5 GB through the caches between two searches
    comp.threads = threads
    alone = []
    for i in range(count):
        t = time.perf_counter()
        comp.search(q[i : i + 1], k)
        alone.append(time.perf_counter() - t)
    # and alone with cold caches: 1 GiB (more than this VM's 480 MiB L3) written between
    # two searches, so that no code or row is left in any cache from the search before
    flush = np.zeros(FLUSH_BYTES, np.uint8)
    cold = []
    for i in range(count):
        flush += 1
        t = time.perf_counter()
        comp.search(q[i : i + 1], k)
        cold.append(time.perf_counter() - t)
    del flush
    # and alone once more from a second copy that reads the exact-score rows with a pread
    # each instead of the map (the way they were read until 2026-11-29), for comparison
    by_pread = CompressedIndex.load(folder, "bench", DIM, map_rows=False)
    by_pread.threads = threads
    by_pread.search(q[:2], k)
    pread = []
    for i in range(count):
        t = time.perf_counter()
        by_pread.search(q[i : i + 1], k)
        pread.append(time.perf_counter() - t)
    del by_pread
    p50 = {w: 1000 * float(np.median(v)) for w, v in times.items()}
    p95 = {w: 1000 * float(np.percentile(v, 95)) for w, v in times.items()}
    best_c = min((w for w in ways if w[0] == "compressed"), key=lambda w: p50[w])
    best_f = min((w for w in ways if w[0] == "faiss"), key=lambda w: p50[w])
    tc, tf = times[best_c], times[best_f]
    rss1, file1 = rss_mb(), rss_mb("RssFile")
    result = {
        "n": n,
        "queries": count,
        "k": k,
        "threads": threads,
        "p50_ms_by_way": {f"{kind}@{th}": v for (kind, th), v in p50.items()},
        "p95_ms_by_way": {f"{kind}@{th}": v for (kind, th), v in p95.items()},
        "best_compressed_threads": best_c[1],
        "best_faiss_threads": best_f[1],
        "compressed_p50_ms": 1000 * float(np.median(tc)),
        "compressed_p95_ms": 1000 * float(np.percentile(tc, 95)),
        "compressed_alone_p50_ms": 1000 * float(np.median(alone)),
        "compressed_alone_p95_ms": 1000 * float(np.percentile(alone, 95)),
        "compressed_alone_cold_p50_ms": 1000 * float(np.median(cold)),
        "compressed_alone_cold_p95_ms": 1000 * float(np.percentile(cold, 95)),
        "compressed_alone_pread_p50_ms": 1000 * float(np.median(pread)),
        "compressed_alone_pread_p95_ms": 1000 * float(np.percentile(pread, 95)),
        "faiss_flat_p50_ms": 1000 * float(np.median(tf)),
        "faiss_flat_p95_ms": 1000 * float(np.percentile(tf, 95)),
        "speedup_of_medians": float(np.median(tf) / np.median(tc)),
        "median_per_query_speedup": float(np.median(np.array(tf) / np.array(tc))),
        "same_threads_speedup": p50[("faiss", threads)] / p50[("compressed", threads)],
        "scored_exactly_median": float(np.median(cands)),
        "identical_queries": count,
        "fp32_near_tie_swaps": swaps,
        "planted_neighbour_first": found,
        "compressed_resident_mb": rss1 - rss0,
        "compressed_resident_after_load_mb": rss_loaded - rss0,
        "fp32_pages_mapped_mb": file1 - file0,
        "codes_mb": n * DIM * 5 / 8 / 2**20,  # 5 bits a dimension
        "compressed_build_s": build_c,
        "compressed_load_s": load_c,
        "faiss_flat_build_s": build_f,
        "faiss_flat_mb": flat.ntotal * DIM * 4 / 2**20,
        "disk_mb": sum(f.stat().st_size for f in folder.iterdir()) / 2**20,
    }
    log.info("%s", result)
    del comp, flat
    gc.collect()
    shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lg-index-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    rows = [measure(n, args.queries, args.k, args.threads, workdir) for n in args.sizes]
    print(
        f"{'n':>10} {'comp p50':>9} {'p95':>7} {'flat p50':>9} {'p95':>7} {'x':>5} "
        f"{'exact':>7} {'anon MB':>7} {'map MB':>7} {'build s':>8} {'load s':>7} "
        f"{'alone p50':>9} {'cold p50':>8} {'pread p50':>9}"
    )
    for r in rows:
        print(
            f"{r['n']:>10} {r['compressed_p50_ms']:>9.1f} {r['compressed_p95_ms']:>7.1f} "
            f"{r['faiss_flat_p50_ms']:>9.1f} {r['faiss_flat_p95_ms']:>7.1f} "
            f"{r['speedup_of_medians']:>5.2f} {r['scored_exactly_median']:>7.0f} "
            f"{r['compressed_resident_mb']:>7.0f} {r['fp32_pages_mapped_mb']:>7.0f} "
            f"{r['compressed_build_s']:>8.1f} "
            f"{r['compressed_load_s']:>7.1f} {r['compressed_alone_p50_ms']:>9.1f} "
            f"{r['compressed_alone_cold_p50_ms']:>8.1f} "
            f"{r['compressed_alone_pread_p50_ms']:>9.1f}"
        )
    save("index_scale", {"synthetic": True, "rows": rows})


if __name__ == "__main__":
    main()
