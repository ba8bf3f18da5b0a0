"""An uploaded probe held between the request form's preview and its filing, so that the
requester need not choose the file again.

The bytes stay in the server's memory, never on a path the client names: the form carries
only a random token (256 bits), and a token is honoured only for the login session that
uploaded it, before its expiry. Another user's token, another session's, an expired or an
unknown one are all refused with the same message (nothing says which). The store is
bounded: each entry is at most ``max_image_bytes`` (checked when it was read), a session
holds a few at most and the server a fixed number and a fixed total of bytes (the oldest go
first). Filing still hands
the bytes to ``request_search``, which makes the same header and decode checks as for a
fresh upload; a filed upload is dropped."""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from leadguard.core.errors import InputError

TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
REFUSED = (
    "the probe held from the preview is no longer available (it expired, was filed, or "
    "belongs to another login): choose the file again"
)


@dataclass(frozen=True)
class Held:
    owner: str
    data: bytes
    name: str
    sha256: str
    expires: float


def owner_of(user_id: int, session_token: str) -> str:
    """The login session an upload belongs to: the user and a digest of the session token
    (the token itself is not kept)."""
    return f"{user_id}:{hashlib.sha256(session_token.encode()).hexdigest()}"


class HeldUploads:
    def __init__(
        self,
        ttl: float = 900.0,
        per_owner: int = 3,
        total: int = 32,
        clock: Callable[[], float] = time.monotonic,
        total_bytes: int = 256 * 1024 * 1024,
    ) -> None:
        self.ttl, self.per_owner, self.total, self.clock = ttl, per_owner, total, clock
        self.total_bytes = total_bytes
        self._items: OrderedDict[str, Held] = OrderedDict()
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        for token in [t for t, h in self._items.items() if h.expires <= now]:
            del self._items[token]

    def put(self, owner: str, data: bytes, name: str) -> tuple[str, Held]:
        """Hold ``data`` for ``owner``: the new token and what it holds."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = self.clock()
            self._expire(now)
            mine = [t for t, h in self._items.items() if h.owner == owner]
            for t in mine[: max(0, len(mine) - self.per_owner + 1)]:
                del self._items[t]
            while len(self._items) >= self.total or (
                self._items
                and sum(len(h.data) for h in self._items.values()) + len(data) > self.total_bytes
            ):
                self._items.popitem(last=False)
            held = Held(owner, data, name, hashlib.sha256(data).hexdigest(), now + self.ttl)
            self._items[token] = held
        return token, held

    def get(self, owner: str, token: str) -> Held:
        """The upload ``owner`` holds under ``token``; InputError otherwise."""
        if not TOKEN.fullmatch(token):
            raise InputError(REFUSED)
        with self._lock:
            self._expire(self.clock())
            held = self._items.get(token)
        if held is None or not secrets.compare_digest(held.owner, owner):
            raise InputError(REFUSED)
        return held

    def drop(self, owner: str, token: str) -> None:
        with self._lock:
            held = self._items.get(token)
            if held is not None and held.owner == owner:
                del self._items[token]
