"""The server under load (issue 27): N concurrent API clients, each a supervisor running
urgent searches (POST /api/search with a real LFW photo) back to back for a fixed time,
against a gallery of synthetic templates, while a hostile client every few seconds sends a
300 MB upload (half declared by Content-Length, half streamed without one) or a web
preview of a 7000 x 7000 PNG (under the pixel limit), and a prober asks GET /api/me every
50 ms.

The server is `leadguard serve`'s application (uvicorn, one worker) in a child process; the
clients are threads of this process, on the loopback address. The gallery templates are
SYNTHETIC unit vectors (search_latency.fill: an exact scan costs the same whatever the
vectors hold); the 7000 x 7000 PNG is generated in a temporary folder (an LFW photo
enlarged on a flat ground), never written to the repository.

Reported per N: completed searches per second, their p50/p95/p99 latency, refusals by the
bounded compute queue (503 ServerBusy, retried after Retry-After), errors (any other
status or a failed connection), the hostile uploads' answers, GET /api/me p50/p99 overall
and while a 7000 x 7000 preview is in flight (a preview shed by the full queue, 503, is
tried again each second), and the throughput as a share of the compute bound: the
pipeline's own rate (decode + detect + embed of the probe, `cores` threads at once, each
with its face model, for --bound-seconds) measured in this process before the server starts
and after it stops, the mean of the two. Beside it, the share of cores / the single-probe
time (the median of --probe-runs runs), which assumes the cores are this run's alone.

The per-user and per-address limits are raised for this run (every client is one address,
127.0.0.1): the benchmark measures the compute path, not the limits.

Usage: python benchmarks/server_load.py [--templates 100000] [--seconds 60]
       [--clients 10 30 50] [--hostile-every 5] [--slots K] [--http-stack auto|asyncio]

Also reported per N: the server process's CPU time per completed search and the clients'
CPU time as a share of the cores (both from /proc, all threads).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import re
import socket
import statistics
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from _common import LFW, new_workspace, save
from search_latency import fill

PROBE = LFW / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
PW = "benchmark password 1"
log = logging.getLogger("server_load")


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))] * 1000


def big_png(path: Path, side: int = 7000) -> int:
    """A side x side PNG under the pixel limit: the probe enlarged on a flat grey ground."""
    from PIL import Image

    img = Image.new("RGB", (side, side), (128, 128, 128))
    face = Image.open(PROBE).convert("RGB").resize((1500, 1500))
    img.paste(face, ((side - 1500) // 2, (side - 1500) // 2))
    img.save(path, format="PNG", compress_level=6)
    return path.stat().st_size


def prepare(root: Path, n: int, clients: int) -> None:
    """The workspace: n synthetic templates, a case, supervisors sup0.. and an examiner."""
    from leadguard.services import accounts
    from leadguard.services.casework import service
    from leadguard.services.context import Context

    ws = new_workspace(root, "compressed")
    fill(ws, n)
    ws.close()
    ctx = Context.open(root)
    accounts.add_user(ctx, None, "admin", PW, "admin")
    admin = accounts.login(ctx, "admin", PW).actor
    for i in range(clients):
        accounts.add_user(ctx, admin, f"sup{i}", PW, "supervisor", "north")
    accounts.add_user(ctx, admin, "ex", PW, "examiner", "north")
    sup = accounts.login(ctx, "sup0", PW).actor
    service.open_case(ctx, sup, "LOAD-1", "robbery", date(2026, 1, 1), "benchmark", {}, "o", "a")
    service.assign(ctx, sup, "LOAD-1", "ex")
    ctx.close()


STACKS = {  # uvicorn's event loop and HTTP parser
    "auto": ("auto", "auto"),  # what `leadguard serve` gets: uvloop and httptools, installed
    "asyncio": ("asyncio", "h11"),  # the pure-Python stack, as before 2026-12-03 evening
}


def run_server(root: str, port: int, slots: int | None = None, stack: str = "auto") -> None:
    """The child process: the workspace opened as `leadguard serve` would, on uvicorn."""
    import uvicorn

    from leadguard.server.app import create_app
    from leadguard.services.context import Context

    ctx = Context.open(
        Path(root),
        expensive_per_user=10**6,
        expensive_per_address=10**6,
        server_compute_slots=slots,  # None: the setting's default (one per core)
    )
    app = create_app(ctx, secure_cookies=False, login_limit=10**6)
    loop, http = STACKS[stack]
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        proxy_headers=False,
        loop=loop,  # type: ignore[arg-type]
        http=http,  # type: ignore[arg-type]
    )


def start_server(
    root: Path, slots: int | None = None, stack: str = "auto"
) -> tuple[multiprocessing.process.BaseProcess, str]:
    """``run_server`` in a spawned child, once it answers; the process and its base URL."""
    port = free_port()
    server = multiprocessing.get_context("spawn").Process(
        target=run_server, args=(str(root), port, slots, stack), daemon=True
    )
    server.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            httpx.get(f"{base}/api/me", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    return server, base


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def token(base: str, user: str) -> str:
    r = httpx.post(f"{base}/api/login", json={"username": user, "password": PW}, timeout=60)
    r.raise_for_status()
    return str(r.json()["token"])


class Run:
    """One N: the clients, the hostile client and the prober, until ``stop``."""

    def __init__(self, base: str, tokens: list[str], probe: bytes, seconds: float) -> None:
        self.base, self.tokens, self.probe, self.seconds = base, tokens, probe, seconds
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok: list[float] = []
        self.shed = 0
        self.errors: dict[str, int] = {}
        self.me: list[tuple[float, bool]] = []  # (latency, during a big preview)
        self.previewing = threading.Event()
        self.hostile: list[dict[str, Any]] = []

    def error(self, what: str) -> None:
        with self.lock:
            self.errors[what] = self.errors.get(what, 0) + 1

    def client(self, tok: str) -> None:
        form = {"case": "LOAD-1", "reason": "load benchmark", "source_type": "other"}
        files = {"probe": (PROBE.name, self.probe, "image/jpeg")}
        headers = {"Authorization": f"Bearer {tok}"}
        with httpx.Client(base_url=self.base, timeout=300) as c:
            while not self.stop.is_set():
                t = time.perf_counter()
                try:
                    r = c.post("/api/search", headers=headers, data=form, files=files)
                except httpx.HTTPError as exc:
                    self.error(type(exc).__name__)
                    continue
                took = time.perf_counter() - t
                if self.stop.is_set():
                    break  # finished after the window: not counted
                if r.status_code == 200:
                    with self.lock:
                        self.ok.append(took)
                elif r.status_code == 503 and r.json().get("error") == "ServerBusy":
                    with self.lock:
                        self.shed += 1
                    self.stop.wait(float(r.headers.get("Retry-After", "1")))
                else:
                    self.error(str(r.status_code))

    def prober(self, tok: str) -> None:
        with httpx.Client(base_url=self.base, timeout=300) as c:
            while not self.stop.is_set():
                during = self.previewing.is_set()
                t = time.perf_counter()
                r = c.get("/api/me", headers={"Authorization": f"Bearer {tok}"})
                took = time.perf_counter() - t
                if r.status_code != 200:
                    self.error(f"me {r.status_code}")
                with self.lock:
                    self.me.append((took, during or self.previewing.is_set()))
                self.stop.wait(0.05)

    def attacker(self, every: float, png: bytes) -> None:
        with httpx.Client(base_url=self.base, timeout=600) as web:
            page = web.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert csrf
            web.post("/login", data={"csrf": csrf[1], "username": "ex", "password": PW})
            page = web.get("/cases/LOAD-1/requests/new").text
            form_csrf = re.search(r'name="csrf" value="([^"]+)"', page)
            assert form_csrf, "no request form for the examiner"
            kinds = ["declared", "preview", "streamed", "preview"]
            i = 0
            while not self.stop.wait(every):
                kind = kinds[i % len(kinds)]
                i += 1
                t = time.perf_counter()
                tries = 0
                while True:  # a preview shed by the full queue (503) is tried again
                    tries += 1
                    try:
                        status = self.attack(web, kind, png, form_csrf[1])
                    except httpx.HTTPError as exc:
                        status = type(exc).__name__
                    if status != 503 or kind != "preview" or self.stop.wait(1.0):
                        break
                took = time.perf_counter() - t
                self.hostile.append(
                    {"kind": kind, "status": status, "s": round(took, 2), "tries": tries}
                )

    def attack(self, web: httpx.Client, kind: str, png: bytes, csrf: str) -> int | str:
        tok = self.tokens[0]
        headers = {"Authorization": f"Bearer {tok}"}
        big = 300 * 1024 * 1024
        if kind == "declared":  # Content-Length 300 MB, the body never sent past a first chunk
            with socket.create_connection(("127.0.0.1", int(self.base.rsplit(":", 1)[1]))) as s:
                s.sendall(
                    b"POST /api/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
                    + tok.encode()
                    + b"\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                    + f"Content-Length: {big}\r\n\r\n".encode()
                    + b"x" * 65536
                )
                answer = s.recv(4096).split(b" ", 2)
                return int(answer[1]) if len(answer) > 1 else "no answer"
        if kind == "streamed":  # no Content-Length: 1 MiB chunks up to 300 MB

            def chunks() -> Any:
                for _ in range(300):
                    yield b"x" * (1 << 20)

            h = {**headers, "Content-Type": "multipart/form-data; boundary=b"}
            try:
                r = httpx.post(f"{self.base}/api/search", headers=h, content=chunks(), timeout=120)
                return r.status_code
            except httpx.HTTPError as exc:  # the server may close while we still send
                return f"closed ({type(exc).__name__})"
        self.previewing.set()
        try:
            r = web.post(
                "/cases/LOAD-1/requests",
                data={
                    "csrf": csrf,
                    "action": "preview",
                    "source_type": "surveillance_still",
                    "purpose": "hostile preview",
                },
                files={"probe": ("big.png", png, "image/png")},
            )
            return r.status_code
        finally:
            self.previewing.clear()


def logins(base: str, n_clients: int) -> tuple[list[str], str]:
    """The clients' tokens and the prober's (before the CPU counters are read: a login's
    password hash is not a search's cost)."""
    return [token(base, f"sup{i}") for i in range(n_clients)], token(base, "ex")


def one_n(
    base: str, logged_in: tuple[list[str], str], seconds: float, every: float, png: bytes
) -> dict[str, Any]:
    tokens, prober = logged_in
    n_clients = len(tokens)
    run = Run(base, tokens, PROBE.read_bytes(), seconds)
    threads = [threading.Thread(target=run.client, args=(t,)) for t in tokens]
    threads.append(threading.Thread(target=run.prober, args=(prober,)))
    threads.append(threading.Thread(target=run.attacker, args=(every, png)))
    for t in threads:
        t.start()
    time.sleep(seconds)
    run.stop.set()
    for t in threads:
        t.join(600)
    me_all = [x for x, _ in run.me]
    me_big = [x for x, during in run.me if during]
    return {
        "clients": n_clients,
        "seconds": seconds,
        "completed": len(run.ok),
        "searches_per_s": round(len(run.ok) / seconds, 3),
        "latency_ms": {
            "p50": pct(run.ok, 0.5),
            "p95": pct(run.ok, 0.95),
            "p99": pct(run.ok, 0.99),
        },
        "shed_503": run.shed,
        "errors": run.errors,
        "hostile": run.hostile,
        "me_ms": {
            "count": len(me_all),
            "p50": pct(me_all, 0.5),
            "p99": pct(me_all, 0.99),
            "during_big_preview_count": len(me_big),
            "during_big_preview_p50": pct(me_big, 0.5),
            "during_big_preview_p99": pct(me_big, 0.99),
        },
    }


def pipeline_time(root: Path, runs: int) -> float:
    """Median single-probe pipeline time (decode + detect + embed) in this process."""
    from leadguard.pipeline.compose import FacePipeline, FaceSelection
    from leadguard.services.context import Context
    from leadguard.storage.workspace import Workspace

    ws = Workspace.open(root)
    try:
        pipe = FacePipeline(Context(ws).face_model(), 1, 10**9)
        data = PROBE.read_bytes()
        pipe.process(data, PROBE.name, FaceSelection())  # warm
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            pipe.process(data, PROBE.name, FaceSelection())
            times.append(time.perf_counter() - t)
        return statistics.median(times)
    finally:
        ws.close()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (Linux /proc), threads included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pipeline_rate(root: Path, threads: int, seconds: float) -> float:
    """Probes per second through the pipeline (decode + detect + embed) alone, ``threads``
    at once (each with a face model of its own, as the server's compute slots), for
    ``seconds``, in this process while the server is idle: the compute bound as this
    machine gives it now (on a shared machine, less than cores / single-probe time)."""
    from leadguard.pipeline.compose import FacePipeline, FaceSelection
    from leadguard.services.context import Context

    ctx = Context.open(root)
    ctx.share_models(threads)
    data = PROBE.read_bytes()
    done = [0] * threads
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def work(i: int) -> None:
        with ctx.borrowed_model() as model:
            pipe = FacePipeline(model, 1, 10**9)
            pipe.process(data, PROBE.name, FaceSelection())  # warm (loads the model)
            start.wait()
            while not stop.is_set():
                pipe.process(data, PROBE.name, FaceSelection())
                done[i] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    t = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    took = time.perf_counter() - t
    ctx.close()
    return sum(done) / took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--templates", type=int, default=100_000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--clients", type=int, nargs="+", default=[10, 30, 50])
    ap.add_argument("--hostile-every", type=float, default=5)
    ap.add_argument("--probe-runs", type=int, default=7)
    ap.add_argument("--bound-seconds", type=float, default=10)
    ap.add_argument("--name", default="server_load")
    ap.add_argument(
        "--slots", type=int, default=None, help="server_compute_slots (default: one per core)"
    )
    ap.add_argument("--http-stack", choices=sorted(STACKS), default="auto")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        t0 = time.perf_counter()
        prepare(root, args.templates, max(args.clients))
        fill_s = time.perf_counter() - t0
        png_path = Path(tmp) / "big.png"
        png_bytes = big_png(png_path)
        png = png_path.read_bytes()
        single = pipeline_time(root, args.probe_runs)
        cores = os.cpu_count() or 1
        naive = cores / single
        rate_before = pipeline_rate(root, cores, args.bound_seconds)
        server, base = start_server(root, args.slots, args.http_stack)
        token(base, "sup0")
        warm = httpx.post(  # the first search loads the index and the gallery's score tail
            f"{base}/api/search",
            headers={"Authorization": f"Bearer {token(base, 'sup0')}"},
            data={"case": "LOAD-1", "reason": "warm-up", "source_type": "other"},
            files={"probe": (PROBE.name, PROBE.read_bytes(), "image/jpeg")},
            timeout=900,
        )
        assert warm.status_code == 200, warm.text
        rows = []
        for n in args.clients:  # where the cores went: the server's and the clients' CPU time
            logged_in = logins(base, n)
            cpu0 = (cpu_seconds(server.pid), cpu_seconds(os.getpid()))
            r = one_n(base, logged_in, args.seconds, args.hostile_every, png)
            cpu1 = (cpu_seconds(server.pid), cpu_seconds(os.getpid()))
            done = max(1, round(r["searches_per_s"] * r["seconds"]))
            r["server_cpu_ms_per_search"] = round((cpu1[0] - cpu0[0]) / done * 1000, 1)
            r["client_cpu_share_of_cores"] = round((cpu1[1] - cpu0[1]) / r["seconds"] / cores, 3)
            rows.append(r)
        server.terminate()
        server.join(30)
        rate_after = pipeline_rate(root, cores, args.bound_seconds)  # the server stopped
        bound = (rate_before + rate_after) / 2
        for r in rows:
            n = r["clients"]
            r["share_of_compute_bound"] = round(r["searches_per_s"] / bound, 3)
            r["share_of_cores_over_single_probe"] = round(r["searches_per_s"] / naive, 3)
            lat = r["latency_ms"]
            print(
                f"N={n}: {r['searches_per_s']} searches/s ({r['share_of_compute_bound']:.0%} of "
                f"the measured bound {bound:.2f}/s, {r['share_of_cores_over_single_probe']:.0%} "
                f"of cores/single {naive:.2f}/s), p50 {lat['p50']:.0f} p95 {lat['p95']:.0f} p99 "
                f"{lat['p99']:.0f} ms, shed {r['shed_503']}, errors {r['errors']}, "
                f"/api/me p99 {r['me_ms']['p99']:.0f} ms (during 7000x7000 previews: "
                f"{r['me_ms']['during_big_preview_p99']} ms, "
                f"{r['me_ms']['during_big_preview_count']} probes), server CPU "
                f"{r['server_cpu_ms_per_search']} ms a search, clients' CPU "
                f"{r['client_cpu_share_of_cores']:.0%} of the cores, hostile {r['hostile']}",
                flush=True,
            )
    out = save(
        args.name,
        {
            "templates": args.templates,
            "gallery_vectors": "synthetic unit vectors (labelled: not faces)",
            "probe": str(PROBE.relative_to(LFW.parent)),
            "fill_s": round(fill_s, 1),
            "big_png_bytes": png_bytes,
            "hostile_every_s": args.hostile_every,
            "single_probe_pipeline_ms": round(single * 1000, 1),
            "cores": cores,
            "server_compute_slots": args.slots or "one per core",
            "http_stack": args.http_stack,
            "cores_over_single_probe_per_s": round(naive, 3),
            "pipeline_rate_before_per_s": round(rate_before, 3),
            "pipeline_rate_after_per_s": round(rate_after, 3),
            "compute_bound_searches_per_s": round(bound, 3),
            "compute_bound": "mean of the pipeline's rate with `cores` threads before and after",
            "limits_raised_for_the_run": "expensive_per_user, expensive_per_address",
            "results": rows,
        },
    )
    print(f"saved {out}")


if __name__ == "__main__":
    main()
