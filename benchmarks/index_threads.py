"""One compressed index searched on 1 thread and on 2, alternating: wall and CPU time.

SYNTHETIC DATA: --n random 128-d unit vectors; each query is a stored vector plus noise.
Prints the median wall and CPU ms of --repeats searches for top --k, per thread count,
twice each in turn (how `compressed.MIN_THREAD_BLOCKS` was chosen: docs/performance.md).

Usage: PYTHONPATH=src python benchmarks/index_threads.py [--n 1000000] [--k 40 1016]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

import numpy as np

from leadguard.index.compressed import CompressedIndex

log = logging.getLogger("index_threads")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, nargs="+", default=[40, 1016])
    ap.add_argument("--repeats", type=int, default=15)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(a.n, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = CompressedIndex("s", 128, 2)
    index.add(np.arange(a.n, dtype=np.int64), x)
    for k in a.k:
        for threads in (1, 2, 1, 2):
            index.threads = threads
            wall, cpu = [], []
            for i in range(a.repeats):
                q = x[i] + 0.5 * rng.normal(size=128).astype(np.float32) / np.sqrt(128)
                q /= np.linalg.norm(q)
                t, c = time.perf_counter(), time.process_time()
                index.search(q[None].astype(np.float32), k)
                wall.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            log.info(
                "n %d, k %d, %d thread(s): wall %.2f ms, CPU %.2f ms, %d scored exactly",
                a.n,
                k,
                threads,
                statistics.median(wall) * 1e3,
                statistics.median(cpu) * 1e3,
                index.last_candidates,
            )


if __name__ == "__main__":
    main()
