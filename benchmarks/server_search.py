"""The API search path with the server resident: upload of a real LFW probe to candidate
list JSON, at galleries of 10k and 100k templates.

The gallery templates are SYNTHETIC unit vectors (as in search_latency.py: LFW has 13k faces
and enrolling 100k real ones takes hours here; an exact scan costs the same whatever the
vectors hold). The probe is a real LFW photo, uploaded over HTTP on the loopback address to
`leadguard serve`'s application (uvicorn, one worker) as a supervisor's urgent search:
POST /api/search -> the candidate list JSON.

Reported, p50 and p95 of --repeats requests after two warm-ups, per gallery size:
  api        the whole request as the client sees it: upload, intake (probe stored, audited),
             decode, detect, embed, quality gate, gallery part, search log, audit, JSON
  probe      decode + detect + embed alone, on the server's resident model
  gallery    the gallery part inside those same requests, timed in the server's request
             thread: the gallery generation (one row: did anything change?), the index kept
             in step with the database, the gallery counts, the exact scan and the
             candidates' rows (the search's calls of templates_stamp, synced_index,
             gallery_counts, best_subject_templates and with_rows, wrapped with a timer here)
  api-probe  everything but the face model
  cli-gallery  the same three calls on a fresh workspace object each time, in the same run:
             what a one-shot `leadguard` process pays (index file read, gallery re-counted)

Usage: python benchmarks/server_search.py [--sizes 10000 100000] [--repeats 30]
       [--backend compressed|faiss-flat]
"""

from __future__ import annotations

import socket
import statistics
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import uvicorn

import leadguard.search.rank as search_rank
import leadguard.search.run as search_module
from _common import LFW, new_workspace, sweep
from leadguard.gallery.maintenance import gallery_counts, synced_index
from leadguard.pipeline.compose import FacePipeline, FaceSelection
from leadguard.server.app import create_app
from leadguard.services import accounts
from leadguard.services.casework import service
from leadguard.services.context import Context
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace
from search_latency import fill

BEST = search_rank.best_per_subject  # unwrapped, for the CLI-like measurement
PROBE = LFW / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
PW = "benchmark password 1"


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p * (len(xs) - 1)))]


def summary(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": statistics.median(xs) * 1000, "p95_ms": pct(xs, 0.95) * 1000}


class GalleryTimer:
    """Wraps the search's gallery calls (the gallery generation read once, then index,
    counts, scan and rows); ``spent`` is their time in one request."""

    NAMES = ("synced_index", "gallery_counts", "best_subject_templates", "with_rows")

    def __init__(self) -> None:
        self.spent = 0.0
        self.parts: dict[str, list[float]] = {name: [] for name in (*self.NAMES, "stamp")}
        for name in self.NAMES:
            setattr(search_module, name, self.timed(name, getattr(search_module, name)))
        search_module.repo = SimpleNamespace(  # type: ignore[assignment]
            **{n: getattr(repo, n) for n in dir(repo) if not n.startswith("__")}
        )
        search_module.repo.templates_stamp = self.timed("stamp", repo.templates_stamp)

    def timed(self, name: str, fn: Any) -> Any:
        def run(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                took = time.perf_counter() - t
                self.spent += took
                self.parts[name].append(took)

        return run


def cli_gallery(root: Path, space: Any, vector: Any) -> float:
    """The gallery part as a one-shot CLI process pays it: a new workspace object."""
    ws = Workspace.open(root)
    try:
        t = time.perf_counter()
        index, _ = synced_index(ws, space)
        with ws.session() as s:
            gallery_counts(ws, s, space.key)
            BEST(index, vector, 10, s)
        return time.perf_counter() - t
    finally:
        ws.close()


def serve(ctx: Context) -> tuple[uvicorn.Server, str]:
    app = create_app(ctx, secure_cookies=False, login_limit=1000)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def measure(n: int, repeats: int, backend: str = "compressed") -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = new_workspace(Path(tmp) / "ws", backend)
        t0 = time.perf_counter()
        fill(ws, n)
        fill_s = time.perf_counter() - t0
        ws.close()  # as after `leadguard enroll`: then `leadguard serve` opens the workspace
        ctx = Context.open(Path(tmp) / "ws")
        accounts.add_user(ctx, None, "admin", PW, "admin")
        admin = accounts.login(ctx, "admin", PW).actor
        accounts.add_user(ctx, admin, "sup", PW, "supervisor", "north")
        sup = accounts.login(ctx, "sup", PW).actor
        service.open_case(
            ctx, sup, "BENCH-1", "robbery", date(2026, 1, 1), "benchmark", {}, "o", "a"
        )
        server, base = serve(ctx)
        data = PROBE.read_bytes()
        model = ctx.face_model()
        timer = GalleryTimer()
        pipeline = FacePipeline(model, 1, 10**9)
        api, probe, gallery, cli = [], [], [], []
        root = Path(tmp) / "ws"
        with httpx.Client(base_url=base, timeout=900) as client:  # the first search
            # at 1M computes the gallery's score tail once (minutes): a warm-up, not timed
            r = client.post("/api/login", json={"username": "sup", "password": PW})
            headers = {"Authorization": f"Bearer {r.json()['token']}"}
            form = {"case": "BENCH-1", "reason": "benchmark", "source_type": "other"}
            files = {"probe": (PROBE.name, data, "image/jpeg")}
            for i in range(repeats + 2):
                timer.spent = 0.0
                t = time.perf_counter()
                r = client.post("/api/search", headers=headers, data=form, files=files)
                took = time.perf_counter() - t
                assert r.status_code == 200, r.text
                result = r.json()
                assert result["gallery_searched"]["templates"] == n
                took_gallery = timer.spent
                t = time.perf_counter()
                vector = pipeline.process(data, PROBE.name, FaceSelection()).template.vector
                took_probe = time.perf_counter() - t
                took_cli = cli_gallery(root, model.space, vector)
                if i >= 2:  # two warm-ups
                    api.append(took)
                    probe.append(took_probe)
                    gallery.append(took_gallery)
                    cli.append(took_cli)
        server.should_exit = True
        ctx.close()
    rest = [a - p for a, p in zip(api, probe, strict=True)]
    return {
        "templates": n,
        "index_backend": backend,
        "gallery_vectors": "synthetic unit vectors (labelled: not faces)",
        "probe": str(PROBE.relative_to(LFW.parent)),
        "fill_s": round(fill_s, 1),
        "api": summary(api),
        "probe_part": summary(probe),
        "gallery_part": summary(gallery),
        "api_minus_probe": summary(rest),
        "cli_gallery_part": summary(cli),
        "gallery_calls_p50_ms": {
            k: statistics.median(v[2:]) * 1000 for k, v in timer.parts.items() if len(v) > 2
        },
    }


def _line(n: int, r: dict) -> str:
    calls = {k: round(v, 2) for k, v in r["gallery_calls_p50_ms"].items()}
    return (
        f"{n:>7} synthetic templates: api p50 {r['api']['p50_ms']:.0f} ms "
        f"(p95 {r['api']['p95_ms']:.0f}); probe p50 {r['probe_part']['p50_ms']:.0f} ms "
        f"(p95 {r['probe_part']['p95_ms']:.0f}); gallery p50 "
        f"{r['gallery_part']['p50_ms']:.1f} ms (p95 {r['gallery_part']['p95_ms']:.1f}); "
        f"api-probe p50 {r['api_minus_probe']['p50_ms']:.0f} ms; cli-gallery p50 "
        f"{r['cli_gallery_part']['p50_ms']:.0f} ms\n  gallery calls p50 ms: {calls}"
    )


def main() -> None:
    sweep("server_search", [10_000, 100_000], 30, measure, _line)


if __name__ == "__main__":
    main()
