"""The evaluation cache under the chain: what the digest adds to storing cached templates,
to every evaluation's read of the cache, and to ``audit verify``.

A real workspace (SQLite) is filled with ``--rows`` SYNTHETIC cached templates (random
128-float vectors, one in 50 a cached failure, as LFW's 13,233 images are cached) in
batches of 256, as an evaluation stores them (``store_cached``: the rows and their
``eval.cache.state`` entry in one transaction). Reported, medians of ``--runs``:
- storing: seconds a batch, and of that the digest update;
- an evaluation's read of the cache: reading the rows alone, and the rows plus the check
  against the chain (``cache_state.check_space``), the part every evaluation now adds;
- ``audit verify``'s recomputation of the space's digest (``TRACKED.of_table``).

Usage: python benchmarks/cache_digest.py [--rows 13233] [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import save, timed
from leadguard.audit import cache_state
from leadguard.evaluation.templates import store_cached
from leadguard.face_models import model_space
from leadguard.storage import cache_queries as cq
from leadguard.storage.workspace import Workspace

BATCH = 256
log = logging.getLogger("cache_digest")


def rows(n: int, seed: int = 0) -> list[cq.CacheRow]:
    rng = np.random.default_rng(seed)
    out: list[cq.CacheRow] = []
    for i in range(n):
        sha = hashlib.sha256(f"synthetic-{i}".encode()).hexdigest()
        if i % 50 == 49:
            out.append((sha, None, 0, "no_face", "no face found"))
        else:
            out.append((sha, rng.standard_normal(128).astype(np.float32).tobytes(), 1, "", ""))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=13233)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.init(Path(tmp) / "ws")
        key = model_space(ws.settings).key
        all_rows = rows(args.rows)
        store_s, digest_s = [], []
        for start in range(0, len(all_rows), BATCH):
            batch = all_rows[start : start + BATCH]
            t = time.perf_counter()
            cache_state.TRACKED.of_rows(key, batch)  # the digest's share of the update
            digest_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            store_cached(ws, key, list(batch))
            store_s.append(time.perf_counter() - t)

        def read() -> None:
            with ws.read_session() as s:
                list(cq.iter_cache_rows(s, key))

        def read_and_check() -> None:
            with ws.read_session() as s:
                got = list(cq.iter_cache_rows(s, key))
                cache_state.check_space(s, key, got)

        def verify_digest() -> None:
            with ws.read_session() as s:
                cache_state.TRACKED.of_table(s, key)

        result = {
            "rows": args.rows,
            "synthetic": True,
            "batch": BATCH,
            "store_batch_s": statistics.median(store_s),
            "digest_of_batch_s": statistics.median(digest_s),
            "read_cache_s": timed(read, args.runs),
            "read_and_check_s": timed(read_and_check, args.runs),
            "verify_digest_s": timed(verify_digest, args.runs),
        }
        ws.close()
    for k, v in result.items():
        log.info("%s: %s", k, round(v, 4) if isinstance(v, float) else v)
    log.info("saved %s", save("cache_digest", result))


if __name__ == "__main__":
    main()
