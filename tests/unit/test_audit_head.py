"""A keyed log cut off at its end is caught without an anchor (``audit.head``): this
account's head receipt, kept outside the database, records the last entry it wrote. Writing
more entries does not hide a cut; an admin accepts a restore from a backup, recorded; normal
use (threads writing while verify reads, a copy of the workspace, a rolled-back
transaction) raises no alarm. SQLite and PostgreSQL where it matters."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from leadguard.audit import head, keyed
from leadguard.audit import log as audit
from leadguard.cli.main import app
from leadguard.core.errors import InputError
from leadguard.services import accounts
from leadguard.services.audit import verify as verify_service
from leadguard.services.audit_key import accept_restore, adopt_key
from leadguard.services.authz import NotAllowed
from leadguard.services.context import Context
from leadguard.storage import audit_head
from leadguard.storage.tables import AuditEntry
from leadguard.storage.workspace import Workspace
from tests.conftest import new_database_url
from tests.pgserver import copy_workspace
from tests.unit.accounts_kit import cheap_hashing

PW = "correct horse battery staple"


@pytest.fixture
def ctx(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Iterator[Context]:
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    c = Context(Workspace.init(tmp_path / "ws", database_url=new_database_url(request, backend)))
    adopt_key(c, None, keys / "audit.key")
    _notes(c, 5)
    yield c
    c.close()


def _notes(c: Context, n: int) -> None:
    for i in range(n):
        with c.session() as s:
            audit.append(s, "note", "workspace", {"n": i})


def _check(c: Context, actor: accounts.Actor | None = None) -> audit.ChainCheck:
    return verify_service(c, actor).check


def _cut(c: Context, n: int) -> None:
    """An insider deletes the newest ``n`` entries and their codes (no key needed)."""
    with c.ws.engine.begin() as conn:
        top = conn.execute(text("SELECT max(seq) FROM audit_log")).scalar_one()
        conn.execute(text("DELETE FROM audit_macs WHERE seq > :s"), {"s": top - n})
        conn.execute(text("DELETE FROM audit_log WHERE seq > :s"), {"s": top - n})


def _receipt(c: Context) -> Path:
    with c.read_session() as s:
        path = s.info[audit_head.FILE]
    assert isinstance(path, Path) and path.is_file()
    return path


@pytest.mark.usefixtures("database")
def test_a_cut_is_named_and_more_entries_do_not_hide_it(ctx: Context) -> None:
    check = _check(ctx)
    assert check.intact, check.problems
    assert check.head_note.startswith("head receipt: entry 7 as this account wrote it")
    _cut(ctx, 2)
    check = _check(ctx)
    assert check.broken_at is None  # the chain alone holds, and so does every code
    assert not check.intact
    assert "the log ends at entry 5, but this account wrote entry 7" in check.head_problems[0]
    assert "entries 6 to 7 were cut off" in check.head_problems[0]
    assert "accept-restore" in check.head_problems[0]
    _notes(ctx, 4)  # past the receipt's entry: the receipt is marked, the cut still named
    check = _check(ctx)
    assert not check.intact
    assert "when entry 6 was written, the log no longer held entry 7" in check.head_problems[0]


@pytest.mark.usefixtures("database")
def test_a_hash_put_back_for_a_moment_does_not_clear_the_mark(ctx: Context) -> None:
    """A red-team pass (2026-12-07): after a cut and new entries past the receipt's number,
    the insider set that entry's hash to the receipt's for one legitimate write, then put
    it back; the receipt had moved on and every check held. The mark is kept for good."""
    with ctx.read_session() as s:
        receipt = audit_head.read(s.info[audit_head.FILE], keyed.session_key(s) or b"")
    assert isinstance(receipt, audit_head.Receipt) and receipt.seq == 7
    _cut(ctx, 2)
    _notes(ctx, 3)  # entries 6, 7, 8 again, each written with the key
    with ctx.ws.engine.begin() as conn:
        real = conn.execute(text("SELECT hash FROM audit_log WHERE seq = 7")).scalar_one()
        conn.execute(text("UPDATE audit_log SET hash = :h WHERE seq = 7"), {"h": receipt.hash})
    _notes(ctx, 1)  # a legitimate write while the hash is the receipt's
    with ctx.ws.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET hash = :h WHERE seq = 7"), {"h": real})
    check = _check(ctx)
    assert check.broken_at is None and not check.intact
    assert "when entry 6 was written" in check.head_problems[0]


@pytest.mark.usefixtures("database")
def test_an_admin_accepts_a_restore_with_a_reason(ctx: Context, monkeypatch) -> None:
    cheap_hashing(monkeypatch)
    accounts.add_user(ctx, None, "admin", PW, "admin")
    admin = accounts.login(ctx, "admin", PW).actor
    accounts.add_user(ctx, admin, "ex1", PW, "examiner", "north")
    accounts.add_user(ctx, admin, "aud", PW, "auditor")
    ex1 = accounts.login(ctx, "ex1", PW).actor
    aud = accounts.login(ctx, "aud", PW).actor
    with pytest.raises(InputError, match="nothing to accept"):
        accept_restore(ctx, admin, "the nightly backup")
    _cut(ctx, 1)
    with pytest.raises(NotAllowed):
        accept_restore(ctx, ex1, "the nightly backup")
    with pytest.raises(InputError, match="--reason"):
        accept_restore(ctx, admin, "  ")
    done = accept_restore(ctx, admin, "restored the backup of 2026-12-06")
    check = _check(ctx, aud)
    assert check.intact, check.problems
    assert f"entry {done.seq} as this account wrote it" in check.head_note
    with ctx.read_session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.seq == done.seq)).one()
    assert entry.action == head.RESTORE and entry.actor == "admin"
    assert entry.details["reason"] == "restored the backup of 2026-12-06"
    assert "the log no longer held entry" in entry.details["problem"]  # (refusals since)
    assert set(entry.details["receipt"]) == {"seq", "hash"}


def test_a_forged_receipt_is_named_and_a_damaged_one_is_said(ctx: Context) -> None:
    path = _receipt(ctx)
    body = json.loads(path.read_text())
    path.write_text(json.dumps({**body, "seq": body["seq"] + 50}))  # without the key
    check = _check(ctx)
    assert not check.intact and "wrong authentication code" in check.head_problems[0]
    _notes(ctx, 1)  # a write does not replace it: verify goes on naming it
    assert "wrong authentication code" in _check(ctx).head_problems[0]
    path.write_text('{"format": "leadguard-audit-')  # a write cut short
    check = _check(ctx)
    assert check.intact and "is damaged" in check.head_note
    _notes(ctx, 1)  # the next write makes a good one again
    assert "as this account wrote it" in _check(ctx).head_note


def test_a_rolled_back_transaction_moves_no_receipt(ctx: Context) -> None:
    before = _receipt(ctx).read_text()
    with pytest.raises(RuntimeError), ctx.session() as s:
        audit.append(s, "note", "workspace", {"n": "rolled back"})
        raise RuntimeError("the change failed")
    assert _receipt(ctx).read_text() == before
    assert _check(ctx).intact


def test_a_copy_keeps_a_receipt_of_its_own(
    ctx: Context, tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    """As the demo's casework copy: both share the key, each folder has its receipt."""
    ctx.ws.close()
    server = request.getfixturevalue("pg_server") if backend == "postgres" else None
    copy_workspace(ctx.root, tmp_path / "copy", server)
    copy = Context(Workspace.open(tmp_path / "copy"))
    try:
        check = _check(copy)
        assert check.intact and "none for this workspace's folder" in check.head_note
        _notes(copy, 3)
        assert _check(copy).intact and _check(ctx).intact
        _notes(ctx, 1)
        assert _check(copy).intact and _check(ctx).intact
        assert _receipt(copy) != _receipt(ctx)
    finally:
        copy.close()


@pytest.mark.usefixtures("database")
def test_writers_in_threads_while_verify_reads_raise_no_alarm(ctx: Context) -> None:
    """Receipts are written after commits, verify reads the receipt before the database:
    a commit between the two can never look like a cut."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for i in range(40):
                with ctx.session() as s:
                    audit.append(s, "note", "workspace", {"w": i})
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            stop.set()

    writers = [threading.Thread(target=write) for _ in range(2)]
    for w in writers:
        w.start()
    checks = 0
    while not stop.is_set() or checks < 3:
        check = _check(ctx)
        assert check.intact, (check.reason, check.problems)
        checks += 1
    for w in writers:
        w.join()
    assert not errors
    assert _check(ctx).intact and "entry 87 as this account wrote it" in _check(ctx).head_note


def test_no_receipt_folder_blocks_nothing_and_is_said(
    ctx: Context, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    fresh = Context(Workspace.open(ctx.root))
    try:
        _notes(fresh, 2)
        check = _check(fresh)
        assert check.intact and "none is kept (its folder cannot be made)" in check.head_note
    finally:
        fresh.close()


def test_the_commands_at_80_columns(ctx: Context) -> None:
    ctx.ws.close()
    run = CliRunner().invoke
    env = {"COLUMNS": "80"}
    ws = str(ctx.root)
    shown = run(app, ["audit", "verify", "-w", ws], env=env)
    assert shown.exit_code == 0 and "head receipt: entry 7 as this account wrote it" in shown.output
    _cut(ctx, 1)
    shown = run(app, ["audit", "verify", "-w", ws], env=env)
    assert shown.exit_code == 1 and "entry 7 was cut off" in shown.output
    assert "audit log intact" not in shown.output and "Traceback" not in shown.output
    # named under the receipt's own heading, not counted among the authentication codes
    assert "head receipt: 1 problem(s)" in shown.output
    codes = next(x for x in shown.output.splitlines() if x.startswith("authentication codes"))
    assert "problem" not in codes, codes
    empty = run(app, ["audit", "accept-restore", "-w", ws, "--reason", ""], env=env)
    assert empty.exit_code == 2 and "--reason" in empty.output
    done = run(app, ["audit", "accept-restore", "-w", ws, "--reason", "backup 12-06"], env=env)
    assert done.exit_code == 0 and "accepted in audit entry 8" in done.output  # 7: refusal
    assert run(app, ["audit", "verify", "-w", ws], env=env).exit_code == 0


def test_verify_with_the_auditors_key_reads_the_same_receipt(ctx: Context) -> None:
    key_file = ctx.settings.audit_mac_key
    assert key_file is not None
    _cut(ctx, 1)
    check = verify_service(ctx, None, mac_key=key_file).check
    assert not check.intact and "entry 7 was cut off" in check.head_problems[0]
    assert keyed.load_key(key_file, ctx.root)  # (the same key as the workspace's)


def test_keying_again_never_resets_a_receipt_the_log_does_not_hold(tmp_path: Path) -> None:
    """A red-team pass (2026-12-07): an insider cut the log from its adoption entry on, and
    keying it again as `verify` advised (`audit key`, or `init` once more) reset the receipt
    clean: the cut was gone without a trace. The same holds for a workspace removed and made
    again in its folder with the same key file: the receipt is kept and named until an
    admin records why."""
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o700)
    c = Context(Workspace.init(tmp_path / "ws"))
    try:
        adopt_key(c, None, keys / "audit.key")
        _notes(c, 4)
        with c.ws.engine.begin() as conn:
            conn.execute(text("DELETE FROM audit_macs"))
            conn.execute(text("DELETE FROM audit_log WHERE seq >= 2"))
    finally:
        c.close()
    settings = tmp_path / "ws" / "leadguard.toml"
    settings.write_text(settings.read_text().replace("audit_mac_key =", "# audit_mac_key ="))
    c = Context(Workspace.open(tmp_path / "ws"))
    try:
        again = adopt_key(c, None, keys / "audit.key")
        assert again.earlier is not None and "this account wrote entry 6" in again.earlier
        _notes(c, 6)  # past entry 6 again
        check = _check(c)
        assert not check.intact and "no longer held entry 6" in check.head_problems[0]
        accept_restore(c, None, "keyed again after a cut: see the incident report")
        assert _check(c).intact
    finally:
        c.close()

    shutil.rmtree(tmp_path / "ws")  # made again in its folder, with the same key file
    code = CliRunner().invoke(
        app,
        ["init", str(tmp_path / "ws"), "--audit-key", str(keys / "audit.key")],
        env={"COLUMNS": "80"},
    )
    assert code.exit_code == 0 and "warning" in code.output and "accept-restore" in code.output
    c = Context(Workspace.open(tmp_path / "ws"))
    try:
        assert not _check(c).intact
    finally:
        c.close()


def test_a_path_through_a_symlink_and_dotdot_names_the_folder_it_reaches(tmp_path: Path) -> None:
    """A red-team pass: ``lnk/../ws`` (lnk a symlink) named another workspace's receipt,
    and that untouched workspace's receipt was marked."""
    (tmp_path / "far" / "sub").mkdir(parents=True)
    (tmp_path / "lnk").symlink_to(tmp_path / "far" / "sub")
    key = b"k" * 32
    near = audit_head.head_file(key, tmp_path / "ws")
    far = audit_head.head_file(key, tmp_path / "far" / "ws")
    assert near != far
    assert audit_head.head_file(key, tmp_path / "lnk" / ".." / "ws") == far
    moved = tmp_path / "moved"
    moved.mkdir()
    (tmp_path / "ws").symlink_to(moved)  # a workspace moved, a symlink left in its place
    assert audit_head.head_file(key, tmp_path / "ws") == near


def test_hostile_receipt_files_block_nothing_and_follow_no_link(
    ctx: Context, tmp_path: Path
) -> None:
    """A red-team pass: a FIFO hung every write, 4,000 '[' ended in a traceback, a symlink
    at the temporary file's name overwrote its target."""
    path = _receipt(ctx)
    path.unlink()
    os.mkfifo(path)
    check = _check(ctx)  # not waited on
    assert check.intact and "not a plain file" in check.head_note
    _notes(ctx, 1)  # nor here: the FIFO is replaced by a receipt
    assert path.is_file() and "as this account wrote it" in _check(ctx).head_note
    path.unlink()
    path.write_text("[" * 4000)
    _notes(ctx, 1)
    assert _check(ctx).intact and "as this account wrote it" in _check(ctx).head_note
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    path.unlink()
    path.symlink_to(victim)  # the receipt itself a link: read as none, replaced, not followed
    _notes(ctx, 1)
    assert victim.read_text() == "keep me"
    assert not path.is_symlink() and "as this account wrote it" in _check(ctx).head_note


def test_a_linked_data_folder_is_used_and_its_target_keeps_its_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Noticed at stop 48: a symlinked ``audit-heads`` folder had its target chmodded 0700
    (a link to /etc, run as root, would lock it)."""
    from leadguard.storage.audit_key import data_folder

    target = tmp_path / "shared-folder"
    target.mkdir(mode=0o755)
    target.chmod(0o755)
    (tmp_path / "xdg" / "leadguard").mkdir(parents=True)
    (tmp_path / "xdg" / "leadguard" / "audit-heads").symlink_to(target)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert data_folder("audit-heads").resolve() == target.resolve()
    assert (target.stat().st_mode & 0o777) == 0o755
    assert (data_folder("audit-keys").stat().st_mode & 0o777) == 0o700  # a folder it makes
