"""What one request costs the server, without load: the server process's CPU time (all its
threads, from /proc) per GET /api/me (4 client threads, --me requests a round) and per
urgent search (POST /api/search with a real LFW photo, one client, one after another,
--searches a round), over --rounds rounds; the median round is reported, with every round.

Beside it, the same search called in-process through the service (`services.search.search`,
no HTTP; this process's CPU time): the search's cost outside HTTP, so the difference is
what the HTTP side (parsing, authentication, the candidate list's validation and JSON)
costs a search.

The gallery is server_load.py's (synthetic templates); --http-stack picks uvicorn's event
loop and parser (auto: uvloop and httptools, as `leadguard serve` runs; asyncio: the
pure-Python stack). Run both in one sitting to compare them: the machine is shared.

Usage: PYTHONPATH=src:benchmarks python benchmarks/request_cost.py [--templates 10000]
           [--workspace DIR] [--http-stack auto|asyncio] [--rounds 5]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from _common import save
from server_load import PROBE, PW, STACKS, cpu_seconds, prepare, start_server, token

log = logging.getLogger("request_cost")


def _rounds(pid: int, rounds: int, count: int, work: Any) -> list[float]:
    """ms of the server's CPU per request, one figure a round of ``count`` requests."""
    out = []
    for _ in range(rounds):
        cpu = cpu_seconds(pid)
        work()
        out.append(round((cpu_seconds(pid) - cpu) / count * 1000, 2))
    return out


def served(root: Path, stack: str, rounds: int, me: int, searches: int) -> dict[str, Any]:
    server, base = start_server(root, None, stack)
    assert server.pid is not None
    try:
        auth = {"Authorization": f"Bearer {token(base, 'sup0')}"}
        data = PROBE.read_bytes()

        def me_loop(k: int) -> None:
            with httpx.Client() as c:
                for _ in range(k):
                    assert c.get(f"{base}/api/me", headers=auth).status_code == 200

        def me_round() -> None:
            threads = [threading.Thread(target=me_loop, args=(me // 4,)) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()

        client = httpx.Client(timeout=300)

        def search() -> None:
            r = client.post(
                f"{base}/api/search",
                headers=auth,
                data={"case": "LOAD-1", "reason": "request cost", "source_type": "other"},
                files={"probe": (PROBE.name, data, "image/jpeg")},
            )
            assert r.status_code == 200, r.text

        def search_round() -> None:
            for _ in range(searches):
                search()

        me_loop(50)  # warm
        for _ in range(5):
            search()
        me_ms = _rounds(server.pid, rounds, me // 4 * 4, me_round)
        search_ms = _rounds(server.pid, rounds, searches, search_round)
        client.close()
    finally:
        server.terminate()
        server.join(30)
    return {
        "me_cpu_ms": statistics.median(me_ms),
        "me_cpu_ms_rounds": me_ms,
        "search_cpu_ms": statistics.median(search_ms),
        "search_cpu_ms_rounds": search_ms,
    }


def in_process(root: Path, tmp: Path, rounds: int, searches: int) -> list[float]:
    from leadguard.services import accounts
    from leadguard.services.context import Context
    from leadguard.services.search import Override, SearchRequest, search

    ctx = Context.open(root, expensive_per_user=10**6, expensive_per_address=10**6)
    try:
        sup = accounts.login(ctx, "sup0", PW).actor
        probe = tmp / PROBE.name
        probe.write_bytes(PROBE.read_bytes())
        wanted = SearchRequest(probe, "other", probe_name=PROBE.name)
        for _ in range(3):
            search(ctx, sup, wanted, Override("LOAD-1", "request cost"))
        out = []
        for _ in range(rounds):
            c = time.process_time()
            for _ in range(searches):
                search(ctx, sup, wanted, Override("LOAD-1", "request cost"))
            out.append(round((time.process_time() - c) / searches * 1000, 2))
        return out
    finally:
        ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", type=int, default=10_000)
    ap.add_argument("--workspace", default=None, help="kept between runs (made if missing)")
    ap.add_argument("--http-stack", choices=sorted(STACKS), default="auto")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--me", type=int, default=2000, help="GET /api/me requests a round")
    ap.add_argument("--searches", type=int, default=30, help="searches a round")
    ap.add_argument("--name", default="request_cost")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.workspace) if a.workspace else Path(tmp) / "ws"
        if not root.exists():
            prepare(root, a.templates, 2)
        http = served(root, a.http_stack, a.rounds, a.me, a.searches)
        service = in_process(root, Path(tmp), a.rounds, a.searches)
    result = {
        "templates": a.templates,
        "http_stack": a.http_stack,
        **http,
        "service_search_cpu_ms": statistics.median(service),
        "service_search_cpu_ms_rounds": service,
        "http_side_of_a_search_ms": round(http["search_cpu_ms"] - statistics.median(service), 2),
    }
    print(
        f"{a.http_stack}: GET /api/me {result['me_cpu_ms']} ms, search "
        f"{result['search_cpu_ms']} ms over HTTP, {result['service_search_cpu_ms']} ms "
        f"in-process: HTTP side {result['http_side_of_a_search_ms']} ms (server CPU, medians "
        f"of {a.rounds} rounds)",
        flush=True,
    )
    print(f"saved {save(a.name, result)}")


if __name__ == "__main__":
    main()
