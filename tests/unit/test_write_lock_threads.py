"""The workspace's write lock excludes the other threads of the same process (the server runs
service calls in several threads), and stays re-entrant in the thread that holds it."""

from __future__ import annotations

import threading
from pathlib import Path

from leadguard.storage.workspace import Workspace


def test_a_second_thread_waits_for_the_write_lock(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    order: list[str] = []
    entered = threading.Event()

    def other() -> None:
        with ws.write_lock():
            order.append("other in")
            entered.set()

    with ws.write_lock(), ws.write_lock():  # re-entrant in this thread
        order.append("first in")
        t = threading.Thread(target=other)
        t.start()
        # A slow machine can only make this pass without testing much, never fail: with a
        # lock that let the second thread in, it enters at once.
        assert not entered.wait(0.5)
        order.append("first out")
    t.join(30)
    assert order == ["first in", "first out", "other in"]
    ws.close()
