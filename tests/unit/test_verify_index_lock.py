"""``audit verify`` checks the index files under the workspace's write lock, as they are
saved: read while a removal was saving them, they differed from their recorded digests (a
false alarm, 1 of 7 verifies run during a removal in a red-team pass, 2026-12-07). Asserted
without timing: the check itself tries the lock, which must be taken."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from leadguard.gallery import index_files
from leadguard.services import audit as audit_service
from leadguard.services.context import Context
from leadguard.storage.workspace import LOCK_FILE, Workspace
from tests.unit.lookalike_kit import enroll_batch


def test_the_index_files_are_checked_under_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    ctx = Context(ws)
    try:
        enroll_batch(ws, 0, [1, 1, 2])  # saves the index and records its files' digests
        seen: list[str] = []
        real = index_files.check

        def check(*args: object) -> list[str]:
            fd = os.open(ws.root / LOCK_FILE, os.O_RDWR)  # another open file: flock conflicts
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(fd, fcntl.LOCK_UN)
                seen.append("free")
            except BlockingIOError:
                seen.append("held")
            finally:
                os.close(fd)
            return real(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(index_files, "check", check)
        result = audit_service.verify(ctx, None)
        assert seen == ["held"], seen
        assert result.index_problems == []
    finally:
        ctx.close()
