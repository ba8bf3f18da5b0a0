"""How fast the compressed index's kernel streams codes: the scan alone, nothing kept.

SYNTHETIC DATA: random 5-bit codes for --n templates of 128 dimensions (80 bytes each), with
the search's floor set above every bound so that no template is kept or scored exactly (as
for the great majority of blocks in a real search, once its floor has risen): what is timed
is reading and scoring the codes, on 1 thread and on --threads threads (the blocks split
between them), median of --repeats runs each. Reports ms per scan and GB/s of codes
streamed. (Until 2026-11-29 the floor stayed at minus infinity, so every row of every block
went through the selection too: 42.7 ms at 10M on 2 threads, more than a search's scan.)

Each compiled path named is timed (--kernel: "portable" C, "avx2", and "best", which is
AVX-512 VNNI where the CPU has it, else AVX2); the paths this CPU runs are recorded with the
results, in results/scan_bandwidth_<fastest path of this CPU>.json (the 2026-11-29 run on a
CPU with AVX-512 VNNI is results/scan_bandwidth.json).

Usage: python benchmarks/scan_bandwidth.py [--n 10000000] [--repeats 7] [--threads 2]
           [--kernel best portable avx2]
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from _common import save
from leadguard.index import _qkernel

log = logging.getLogger("scan_bandwidth")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--kernel", nargs="+", choices=sorted(_qkernel.KERNELS), default=["best"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    blocks = args.n // 16
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(blocks, 16 * _qkernel.BLOCK_BYTES), dtype=np.uint8)
    err = np.zeros(blocks * 16, np.float16)
    dead = np.ones(blocks * 16, np.uint8)  # nothing is kept: the scan alone is timed
    p = rng.integers(-127, 128, 128).astype(np.int8)
    query = _qkernel.Query(p, 1e-5, 1.0, 0.0, np.zeros(128, np.float32))
    vectors = np.zeros((1, 128), np.float32)
    rows = []

    def scan(job: tuple[int, int, np.ndarray, str]) -> _qkernel.Candidates:
        b0, b1, shared, kernel = job
        data = _qkernel.Stored(codes, err, dead, vectors)
        return _qkernel.scan(data, b0, b1, query, 50, shared, True, kernel)

    runs = [(kernel, threads) for kernel in args.kernel for threads in sorted({1, args.threads})]
    with ThreadPoolExecutor(args.threads) as pool:
        for kernel, threads in runs:
            step = -(-blocks // threads)
            times = []
            for _ in range(args.repeats):
                shared = np.full(1, np.inf)  # no bound reaches it: nothing is kept
                ends = [(b0, min(blocks, b0 + step)) for b0 in range(0, blocks, step)]
                jobs = [(b0, b1, shared, kernel) for b0, b1 in ends]
                t = time.perf_counter()
                list(pool.map(scan, jobs))
                times.append(time.perf_counter() - t)
            ms = 1000 * float(np.median(times))
            rate = codes.nbytes / ms / 1e6
            rows.append({"kernel": kernel, "threads": threads, "scan_ms": ms, "gb_per_s": rate})
            log.info("%s, %d thread(s): scan %.1f ms, %.1f GB/s", kernel, threads, ms, rate)
    cpu = sorted(_qkernel.kernels())
    found = {"synthetic": True, "n": args.n, "code_bytes": codes.nbytes, "cpu_kernels": cpu}
    fastest = next((k for k in ("vnni", "avx2", "portable") if k in cpu), "numpy")
    save(f"scan_bandwidth_{fastest}", {**found, "rows": rows})  # one file per kind of CPU


if __name__ == "__main__":
    main()
