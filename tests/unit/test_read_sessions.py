"""Reads take no writer lock: a read session answers while another thread holds a write
transaction open (held by a threading.Event, released by the test, never timed), it refuses
to write, and writers of one process still queue (the second begins only after the first
commits). On SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from leadguard.services.context import Context
from leadguard.storage.tables import Subject
from leadguard.storage.workspace import Workspace

pytestmark = pytest.mark.usefixtures("database")  # SQLite, and again on PostgreSQL


def hold_writer(
    ws: Workspace,
    entered: threading.Event,
    release: threading.Event,
    waits: list[bool],
    order: list[str],
) -> None:
    with ws.session() as s:
        s.execute(text("SELECT 1"))  # the transaction has begun: the writer lock is held
        entered.set()
        waits.append(release.wait(120))  # False only if nobody released it
        order.append("first commits")


def test_a_read_session_answers_while_a_writer_is_held(tmp_path: Path) -> None:
    Workspace.init(tmp_path / "ws").close()
    ctx = Context.open(tmp_path / "ws")
    entered, release = threading.Event(), threading.Event()
    waits: list[bool] = []
    order: list[str] = []
    writer = threading.Thread(target=hold_writer, args=(ctx.ws, entered, release, waits, order))
    writer.start()
    try:
        assert entered.wait(120)
        with ctx.read_session() as s:
            users = s.execute(text("SELECT count(*) FROM users")).scalar()
        assert ctx.has_accounts() is False
        still_held = not release.is_set() and not order
    finally:
        release.set()
        writer.join(120)
        ctx.close()
    assert users == 0 and still_held
    assert waits == [True]


def test_a_read_session_refuses_to_write(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    try:
        with pytest.raises(RuntimeError, match="read session"), ws.read_session() as s:
            s.add(Subject(external_id="S-1"))
            s.flush()
        with ws.read_session() as s:
            assert s.execute(text("SELECT count(*) FROM subjects")).scalar() == 0
    finally:
        ws.close()


def test_writers_of_one_process_still_queue(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    entered, release = threading.Event(), threading.Event()
    waits: list[bool] = []
    order: list[str] = []
    first = threading.Thread(target=hold_writer, args=(ws, entered, release, waits, order))
    first.start()

    trying = threading.Event()

    def second() -> None:
        with ws.session() as s:
            trying.set()
            s.execute(text("SELECT 1"))  # begins here: waits for the first to commit
            order.append("second begins")

    assert entered.wait(120)
    later = threading.Thread(target=second)
    later.start()
    assert trying.wait(120)
    release.set()
    first.join(120)
    later.join(120)
    ws.close()
    assert waits == [True]
    assert order == ["first commits", "second begins"]
