"""What the running server keeps: the services' context (face model, quality policy and
vector index resident in it), one lock that serialises service calls (the audit chain is
appended to by one writer at a time), the login rate limiter and the CSRF secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from leadguard.services.context import Context

P = ParamSpec("P")
T = TypeVar("T")


class RateLimiter:
    """At most ``limit`` attempts per key within ``window`` seconds (a sliding window)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float:
        """Record an attempt; 0 if allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= now - self.window:
                q.popleft()
            if len(q) >= self.limit:
                return q[0] + self.window - now
            q.append(now)
            return 0.0


@dataclass
class ServerState:
    ctx: Context
    secure_cookies: bool = True
    login_limit: int = 10
    login_window: float = 60.0
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    lock: threading.RLock = field(default_factory=threading.RLock)
    search_threads: int | None = 1
    limiter: RateLimiter = field(init=False)
    _local: threading.local = field(default_factory=threading.local)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.login_limit, self.login_window)

    def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run one service call, one at a time."""
        with self.lock:
            self._thread_setup()
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
