"""What the running server keeps: the services' context (face models, quality policy and
vector index resident in it), the compute slots of expensive requests, the rate limiters
(logins; expensive requests per user and per address), the CSRF secret and the probes held
between a request's preview and its filing (``server/held.py``).

No lock serialises service calls: each service's records are written in one transaction,
and the database queues transactions (SQLite ``BEGIN IMMEDIATE``, PostgreSQL's advisory
lock; ``storage/db.py``), so the audit chain keeps one writer. A search decodes, measures
and embeds before its transaction (``search.run.prepare``), with a face model of its own."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ParamSpec, TypeVar

import anyio

from leadguard.server.errors import ServerBusy
from leadguard.server.held import HeldUploads
from leadguard.services.context import Actor, Context, acting_through

P = ParamSpec("P")
T = TypeVar("T")


class RateLimiter:
    """At most ``limit`` attempts per key within ``window`` seconds (a sliding window)."""

    SWEEP_FROM = 1024  # keys kept before the first sweep of expired ones

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._sweep_at = self.SWEEP_FROM

    def __len__(self) -> int:
        return len(self._hits)

    def hit(self, key: str) -> float:
        """Record an attempt; 0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            if len(self._hits) >= self._sweep_at:
                # keys whose attempts have all left the window (names tried once, rotated
                # addresses): without this every name ever tried would stay in memory
                old = now - self.window
                self._hits = {k: q for k, q in self._hits.items() if q and q[-1] > old}
                self._sweep_at = max(self.SWEEP_FROM, 2 * len(self._hits))
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return q[0] + self.window - now
            q.append(now)
            return 0.0


class ComputeSlots:
    """The threads expensive requests run in: at most ``slots`` at once (one face model
    each, ``Context.share_models``), at most ``queue`` waiting (then ServerBusy, 503). The
    waiting is asynchronous: no thread of the server's pool is held by a queued request,
    so the requests that are not expensive always find one."""

    def __init__(self, slots: int, queue: int) -> None:
        self.slots = max(1, slots)
        self.queue = queue
        self.limiter = anyio.CapacityLimiter(self.slots)
        self.waiting = 0
        self.lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        with self.lock:
            if self.limiter.available_tokens < 1 and self.waiting >= self.queue:
                raise ServerBusy(
                    f"the server is busy: {self.slots} searches or previews running and "
                    f"{self.waiting} waiting; try again shortly"
                )
            self.waiting += 1
        counted = True

        def started() -> None:
            nonlocal counted
            with self.lock:
                if counted:
                    self.waiting -= 1
                    counted = False

        try:

            def go() -> T:
                started()
                return fn(*args)

            return await anyio.to_thread.run_sync(partial(go), limiter=self.limiter)
        finally:
            started()


@dataclass
class ServerState:
    ctx: Context
    secure_cookies: bool = True
    login_limit: int = 10
    login_window: float = 60.0
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    search_threads: int | None = 1
    held: HeldUploads = field(default_factory=HeldUploads)  # probes kept from a preview
    limiter: RateLimiter = field(init=False)
    per_user: RateLimiter = field(init=False)
    per_address: RateLimiter = field(init=False)
    compute: ComputeSlots = field(init=False)
    _local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        settings = self.ctx.settings
        self.limiter = RateLimiter(self.login_limit, self.login_window)
        self.per_user = RateLimiter(settings.expensive_per_user, 60.0)
        self.per_address = RateLimiter(settings.expensive_per_address, 60.0)
        slots = settings.server_compute_slots or os.cpu_count() or 1
        self.compute = ComputeSlots(slots, settings.server_compute_queue)

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one service call (in the calling thread; the services' transactions queue
        in the database)."""
        self._thread_setup()
        actor = next((a for a in (*args, *kwargs.values()) if isinstance(a, Actor)), None)
        with acting_through(actor):
            return fn(*args, **kwargs)

    def _thread_setup(self) -> None:
        """FAISS's thread count is a per-thread OpenMP setting: set it in each thread that
        runs searches (the request threads), once."""
        if self.search_threads is None or getattr(self._local, "ready", False):
            return
        self._local.ready = True
        try:
            import faiss
        except ImportError:  # no FAISS backend installed
            return
        faiss.omp_set_num_threads(self.search_threads)

    def csrf_for(self, session_token: str) -> str:
        """The CSRF token bound to a login session (an HMAC: nothing to store)."""
        return hmac.new(self.secret, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session_token: str, given: Any) -> bool:
        return isinstance(given, str) and hmac.compare_digest(self.csrf_for(session_token), given)
