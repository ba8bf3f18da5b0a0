"""SQLite against PostgreSQL on this machine: enrollment, searches (each writes its probe,
search-log row and audit entry) and audit appends, alone and from several processes at once.

PostgreSQL is a throw-away server started here (Debian's binaries, unix socket, fsync and
synchronous commit ON, as in production) unless ``--database-url`` names one; SQLite is the
workspace's own file (WAL, synchronous=NORMAL). Backends are measured interleaved, median of
``--runs`` runs each, into fresh workspaces / databases.

Usage: python benchmarks/postgres_throughput.py [--images 60] [--searches 8] [--appends 300]
       [--processes 4] [--runs 3] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.pgserver

from tests.pgserver import PgServer

from _common import LFW, lfw_paths, median, save, write_manifest
from leadguard.audit import log as audit
from leadguard.gallery.enroll import enroll
from leadguard.services.context import Context
from leadguard.services.search import SearchRequest, search
from leadguard.storage.workspace import Workspace


def appender(root: str, n: int) -> None:
    ws = Workspace.open(Path(root))
    for i in range(n):
        with ws.session() as s:
            audit.append(s, "bench.append", f"x/{i}", {"i": i})
    ws.close()


def measure(root: Path, url: str, args: argparse.Namespace) -> dict[str, float]:
    ws = Workspace.init(
        root, database_url=url or None, workers=2, multiple_faces="central", source_roots=[LFW]
    )
    manifest = root / "gallery.csv"
    write_manifest(manifest, lfw_paths(args.images))
    t = time.perf_counter()
    report = enroll(ws, manifest)
    assert report.enrolled > 0.8 * args.images, report.failures_by_code()
    enroll_s = time.perf_counter() - t
    ctx = Context(ws)
    probes = [p for p, _ in lfw_paths(args.searches, offset=args.images)]
    search(ctx, None, SearchRequest(probes[0], investigation=10))  # model loaded before timing
    t = time.perf_counter()
    for probe in probes:
        search(ctx, None, SearchRequest(probe, investigation=10))
    search_s = time.perf_counter() - t
    t = time.perf_counter()
    appender(str(root), args.appends)
    single_s = time.perf_counter() - t
    each = args.appends // args.processes
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool:
        pool.starmap(appender, [(str(root), 0)] * args.processes)  # interpreters warm
        t = time.perf_counter()
        pool.starmap(appender, [(str(root), each)] * args.processes)
        concurrent_s = time.perf_counter() - t
    with ws.session() as s:
        check = audit.verify(s)
    assert check.intact, check.reason  # the chain survived the concurrent writers
    ws.close()
    return {
        "enroll_faces_per_s": report.enrolled / enroll_s,
        "searches_per_s": len(probes) / search_s,
        "audit_appends_per_s_one_writer": args.appends / single_s,
        "audit_appends_per_s_concurrent": each * args.processes / concurrent_s,
        "audit_entries": float(check.entries),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--searches", type=int, default=8)
    ap.add_argument("--appends", type=int, default=300)
    ap.add_argument("--processes", type=int, default=4)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--database-url", default="", help="an existing server's empty database")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    server = None if args.database_url else PgServer(durable=True).start()
    fresh: Callable[[], str] = (
        (lambda: args.database_url) if server is None else server.new_database
    )
    runs: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgresql": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.runs):
                for backend in runs:
                    url = fresh() if backend == "postgresql" else ""
                    res = measure(Path(tmp) / f"{backend}-{r}", url, args)
                    runs[backend].append(res)
                    if server is not None and url:
                        server.drop_database(url)
                    print(backend, r, {k: round(v, 1) for k, v in res.items()}, flush=True)
    finally:
        if server is not None:
            server.stop()
    table = {b: {k: median([x[k] for x in rs]) for k in rs[0]} for b, rs in runs.items()}
    for b, row in table.items():
        print(b, {k: round(v, 1) for k, v in row.items()})
    out = save(
        "postgres_throughput",
        {
            "args": vars(args) | {"database_url": "throw-away" if server else "given"},
            "median": table,
            "runs": runs,
        },
    )
    print(f"saved {out}")


if __name__ == "__main__":
    main()
