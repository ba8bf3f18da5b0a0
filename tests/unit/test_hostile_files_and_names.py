"""Doors an adversarial pass found open (2026-12-08): files written over a device or a FIFO,
an anchor replaced, anchor and JSON files read without bound or nested without end, refusal
entries of any size, account names and units that reorder what is shown after them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leadguard.audit import anchor as anchors
from leadguard.audit.records import read_chain
from leadguard.cli.casework import _json_object
from leadguard.cli.common import read_json
from leadguard.core.errors import InputError
from leadguard.core.files import replace_file
from leadguard.server.web_format import shown
from leadguard.services import accounts
from leadguard.services.context import (
    MAX_REFUSAL_OBJECT,
    MAX_REFUSAL_REASON,
    Context,
    record_refusal,
)
from leadguard.services.reports import write_atomic
from leadguard.storage.workspace import Workspace
from tests.unit.accounts_kit import PW, north_desk

DEEP = "[" * 100_000


def test_a_file_is_never_written_over_a_fifo_or_a_folder(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for target in (fifo, tmp_path):
        with pytest.raises(InputError, match="LeadGuard writes only regular files"):
            write_atomic(target, b"data")  # a report, a packet: the user's --out
        with pytest.raises(FileExistsError):  # a cache's writer: an OSError, as before
            replace_file(target, b"data")
    assert fifo.exists() and not fifo.is_file()  # still the FIFO
    plain = tmp_path / "plain.txt"
    replace_file(plain, b"one")
    replace_file(plain, b"two")  # a regular file is replaced, as before
    assert plain.read_bytes() == b"two"


def test_an_anchor_is_never_replaced_and_hostile_anchor_files_are_refused(
    tmp_path: Path,
) -> None:
    earlier = tmp_path / "a1.json"
    earlier.write_text('{"an": "earlier anchor"}')
    with pytest.raises(anchors.AnchorError, match="never replaced"):
        anchors.write({"anchor": {}}, earlier, None)
    assert earlier.read_text() == '{"an": "earlier anchor"}'
    with pytest.raises(anchors.AnchorError, match="not a regular file"):
        anchors.load(Path("/dev/zero"))  # refused before a byte is read
    with pytest.raises(anchors.AnchorError, match="not a regular file"):
        anchors.load_public_key(Path("/dev/zero"))
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    with pytest.raises(anchors.AnchorError, match="nested too deeply"):
        anchors.load(deep)


def test_deeply_nested_json_from_the_cli_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    with pytest.raises(InputError, match="nested too deeply"):
        read_json(deep, "decisions")
    with pytest.raises(InputError, match="nested too deeply"):
        _json_object(DEEP, "--attributes")


def test_a_refusal_entry_keeps_a_bounded_part_of_what_was_asked(tmp_path: Path) -> None:
    c = Context(Workspace.init(tmp_path / "ws"))
    try:
        record_refusal(c, None, "case.read", "case:" + "A" * 65_000, InputError("B" * 70_000))
        with c.read_session() as s:
            last = read_chain(s)[-1]
        assert last.action == "refused"
        assert len(last.object) < MAX_REFUSAL_OBJECT + 50 and "65005 characters" in last.object
        reason = last.details["reason"]
        assert len(reason) < MAX_REFUSAL_REASON + 50 and "70000 characters" in reason
    finally:
        c.close()


def test_account_names_and_units_hold_no_bidi_or_control_characters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = north_desk(tmp_path / "ws", monkeypatch)
    try:
        admin = accounts.login(c, "admin", PW).actor
        hostile = [("ex\u202e2", "north"), ("ex2", "\u202enorth"), ("ex2", "n" * 65)]
        hostile += [("ex2\nadmin", "north"), ("ex2", "north\tsouth")]
        for name, unit in hostile:
            with pytest.raises(InputError):
                accounts.add_user(c, admin, name, PW, "examiner", unit)
        accounts.add_user(c, admin, "Zoë O'Brien-Nuñez", PW, "examiner", "north")  # real names
    finally:
        c.close()
    assert shown("user:ex1\u202e") == "user:ex1\\u202e"  # what the audit page shows
