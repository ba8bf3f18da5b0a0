"""One urgent search through the service, in-process (no HTTP): `services.search.search`
with a real LFW probe against a gallery of synthetic templates (as server_load.py makes it).

Prints the median wall time and CPU time (this process's, every thread) of --runs
searches after three warm-ups: the CPU time is what compares with the server's CPU time
a search in server_load.py. To compare two versions of the
code in one sitting, run this alternately with each tree's ``src`` first on PYTHONPATH
(for example a ``git worktree`` of the commit before), on the same --workspace.

Usage: PYTHONPATH=src:benchmarks python benchmarks/service_search.py \\
           [--templates 100000] [--runs 60] [--workspace DIR]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from server_load import PROBE, PW, prepare

log = logging.getLogger("service_search")


def main() -> None:
    from leadguard.services import accounts
    from leadguard.services.context import Context
    from leadguard.services.search import Override, SearchRequest, search

    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=60)
    ap.add_argument("--workspace", default=None, help="kept between runs (made if missing)")
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.workspace) if a.workspace else Path(tmp) / "ws"
        if not root.exists():
            prepare(root, a.templates, 2)
        ctx = Context.open(root, expensive_per_user=10**6, expensive_per_address=10**6)
        sup = accounts.login(ctx, "sup0", PW).actor
        probe = Path(tmp) / PROBE.name
        probe.write_bytes(PROBE.read_bytes())
        wanted = SearchRequest(probe, "surveillance_still", probe_name=PROBE.name)
        times, cpu = [], []
        for i in range(3 + a.runs):
            t, c = time.perf_counter(), time.process_time()
            search(ctx, sup, wanted, Override("LOAD-1", "service benchmark"))
            if i >= 3:
                times.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
        ctx.close()
    log.info(
        "median %.1f ms wall, %.1f ms CPU over %d searches",
        statistics.median(times) * 1000,
        statistics.median(cpu) * 1000,
        a.runs,
    )


if __name__ == "__main__":
    main()
