"""Audit appends from several processes and threads at once, on SQLite and on PostgreSQL:
none fails, none is lost, and the chain stays one intact line (no fork, no doubled number)."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadguard.audit import log as audit
from leadguard.storage.tables import AuditEntry
from leadguard.storage.workspace import Workspace

pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL

PROCESSES = 4
THREADS = 2
EACH = 15


def append_many(root: str, tag: str) -> int:
    """Open the workspace afresh (its settings file names the database) and append from
    ``THREADS`` threads at once; the number of entries written."""
    ws = Workspace.open(Path(root))
    done: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(THREADS)

    def worker(t: int) -> None:
        start.wait()
        try:
            for i in range(EACH):
                with ws.session() as s:
                    audit.append(s, "test.append", f"{tag}/{t}/{i}", {"i": i}, actor=tag)
                done.append(1)
        except BaseException as exc:  # reported to the parent, which fails the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ws.close()
    if errors:
        raise RuntimeError(f"{tag}: {errors[0]!r}")
    return len(done)


def test_concurrent_appends_keep_one_intact_chain(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    with ws.session() as s:
        audit.append(s, "test.start", "-", {})
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(PROCESSES) as pool:
        written = pool.starmap(append_many, [(str(ws.root), f"p{n}") for n in range(PROCESSES)])
    assert written == [THREADS * EACH] * PROCESSES
    with ws.session() as s:
        check = audit.verify(s)
        seqs = list(s.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq)))
        objects = set(s.scalars(select(AuditEntry.object)))
        total = s.scalar(select(func.count()).select_from(AuditEntry))
    expected = 2 + PROCESSES * THREADS * EACH  # the schema's entry (init) and test.start
    assert check.intact, check.reason
    assert total == expected and seqs == list(range(1, expected + 1))
    assert all(
        f"p{n}/{t}/{i}" in objects
        for n in range(PROCESSES)
        for t in range(THREADS)
        for i in range(EACH)
    )
    ws.close()
