"""``core.files.replace_file``: a reader sees the old file or the new one, never a part."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leadguard.core.files import replace_file


def test_replaces_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "cache.npz"
    replace_file(target, b"first")
    with open(target, "rb") as held:  # a reader that opened the old file reads the old file
        replace_file(target, b"second, longer")
        assert held.read() == b"first"
    assert target.read_bytes() == b"second, longer"
    assert sorted(p.name for p in target.parent.iterdir()) == ["cache.npz"]


def test_a_failed_write_keeps_the_old_file_and_removes_its_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "cache.npz"
    replace_file(target, b"old")

    def no_rename(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", no_rename)
    with pytest.raises(OSError, match="No space"):
        replace_file(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["cache.npz"]
