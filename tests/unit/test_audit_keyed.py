"""A keyed audit log (``audit.keyed``): once an admin adopts a key kept outside the
workspace, every entry carries an authentication code; an insider who can write the
database but not read the key cannot append or recompute entries unseen, not even the
state entry an evaluation trusts; a process without the key writes nothing. SQLite and
PostgreSQL where it matters."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from leadguard.audit import cache_state, keyed
from leadguard.audit import log as audit
from leadguard.cli.main import app
from leadguard.core.errors import InputError, WorkspaceError
from leadguard.evaluation.templates import compute_templates, store_cached
from leadguard.face_models import model_space
from leadguard.services import accounts
from leadguard.services.audit_key import adopt_key
from leadguard.services.authz import NotAllowed
from leadguard.services.context import Context
from leadguard.storage.workspace import Workspace
from tests.conftest import new_database_url
from tests.unit.accounts_kit import cheap_hashing
from tests.unit.migration_kit import downgrade

PW = "correct horse battery staple"


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    return folder


@pytest.fixture
def ctx(tmp_path: Path, keys: Path, backend: str, request) -> Iterator[Context]:
    """A workspace keyed after its first entries (SQLite and PostgreSQL)."""
    c = Context(Workspace.init(tmp_path / "ws", database_url=new_database_url(request, backend)))
    with c.session() as s:
        audit.append(s, "note", "workspace", {"n": 1})  # an entry before the key
    adopt_key(c, None, keys / "audit.key")
    with c.session() as s:
        audit.append(s, "note", "workspace", {"n": 2})
    yield c
    c.close()


def _check(ws: Workspace, key: bytes | None = None) -> audit.ChainCheck:
    with ws.session() as s:
        return audit.verify(s, key)


def _forge_head(ws: Workspace) -> int:
    """An entry with a correct hash appended outside LeadGuard (no key): its number."""
    with Session(ws.engine) as s, s.begin():  # no workspace session: no key, no code
        return audit.append(s, "settings.set", "settings:target_fpir", {"new": 0.3}).seq


@pytest.mark.usefixtures("database")
def test_a_keyed_log_verifies_and_names_a_forged_entry(ctx: Context) -> None:
    check = _check(ctx.ws)
    assert check.intact, check.key_problems
    assert "checked with key" in check.keyed_note
    seq = _forge_head(ctx.ws)
    check = _check(ctx.ws)
    assert check.broken_at is None  # the chain alone cannot tell
    assert not check.intact
    assert "without an authentication code" in check.key_problems[0]
    assert f"entry {seq}" in check.key_problems[0]


@pytest.mark.usefixtures("database")
def test_a_process_without_the_key_writes_nothing(ctx: Context) -> None:
    before = _check(ctx.ws).entries
    other = Workspace(ctx.root, ctx.settings.model_copy(update={"audit_mac_key": None}))
    try:
        with (
            pytest.raises(keyed.KeyMissing, match="no key: a running `leadguard serve`"),
            other.session() as s,
        ):
            audit.append(s, "note", "workspace", {})
        check = _check(other)  # without the key nothing about the codes is proven
        assert check.broken_at is None and not check.intact
        assert keyed.NOT_CHECKED in check.key_problems[0] and "--mac-key" in check.key_problems[0]
        with ctx.ws.engine.begin() as conn:  # codes deleted do not unkey the log
            conn.execute(text("DELETE FROM audit_macs"))
        with pytest.raises(keyed.KeyMissing), other.session() as s:
            audit.append(s, "note", "workspace", {})
    finally:
        other.close()
    after = _check(ctx.ws)
    assert after.entries == before and "without an authentication code" in after.key_problems[0]


@pytest.mark.usefixtures("database")
def test_another_key_and_a_hand_set_key_are_named(ctx: Context, keys: Path) -> None:
    stranger = keyed.create_key(keys / "other.key", ctx.root)
    found = _check(ctx.ws, stranger).key_problems
    assert len(found) == 1 and f"the key given is {keyed.key_id(stranger)}" in found[0]
    bare = Workspace.init(ctx.root.parent / "bare")  # keyed by hand: no adoption entry
    try:
        with bare.session() as s:
            audit.append(s, "note", "workspace", {})
        found = _check(bare, stranger).key_problems
        assert len(found) == 1 and "no entry records a key's adoption" in found[0]
    finally:
        bare.close()


@pytest.mark.usefixtures("database")
def test_codes_left_by_entries_cut_off_the_end_are_named(ctx: Context) -> None:
    with ctx.ws.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)"))
    found = _check(ctx.ws).key_problems
    assert len(found) == 1 and "codes of entries that are not in the log" in found[0]


def test_an_evaluation_refuses_a_forged_state_entry(tmp_path: Path, keys: Path) -> None:
    """The red-team forgery of stop 46: edited cached rows and a correctly hashed state entry
    recording them, appended at the head. The evaluation now refuses it (no code)."""
    ws = Workspace.init(tmp_path / "ws")
    ctx = Context(ws)
    adopt_key(ctx, None, keys / "audit.key")
    space = model_space(ws.settings)
    paths = []
    for i in range(3):
        p = tmp_path / f"{i}.bin"
        p.write_bytes(b"photo %d" % i)
        paths.append(p)
    rng = np.random.default_rng(1)
    rows = [
        (hashlib.sha256(p.read_bytes()).hexdigest(), rng.random(8, np.float32).tobytes(), 1, "", "")
        for p in paths
    ]
    store_cached(ws, space.key, list(rows))  # (it empties the list it is given)
    compute_templates(ws, space, paths)  # reads the recorded cache
    with ws.engine.begin() as conn:
        conn.execute(text("DELETE FROM template_cache WHERE sha256 = :s"), {"s": rows[0][0]})
    with Session(ws.engine) as s, s.begin():  # the insider's entry: LeadGuard's code, no key
        cache_state.TRACKED.record_table(s, space.key, "evaluation")
    with pytest.raises(cache_state.CacheChanged, match="has no authentication code"):
        compute_templates(ws, space, paths)
    ctx.close()


def test_adopting_a_key_is_an_admins_and_refused_where_unsafe(
    tmp_path: Path, keys: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cheap_hashing(monkeypatch)
    ctx = Context(Workspace.init(tmp_path / "ws"))
    accounts.add_user(ctx, None, "admin", PW, "admin")
    accounts.add_user(ctx, accounts.login(ctx, "admin", PW).actor, "ex", PW, "examiner", "n")
    with pytest.raises(NotAllowed):
        adopt_key(ctx, accounts.login(ctx, "ex", PW).actor, keys / "a.key")
    assert not (keys / "a.key").exists()
    admin = accounts.login(ctx, "admin", PW).actor
    with pytest.raises(InputError, match="inside the workspace"):
        adopt_key(ctx, admin, ctx.root / "a.key")
    with pytest.raises(InputError, match="absolute path"):
        adopt_key(ctx, admin, Path("a.key"))
    (keys / "loose.key").write_text(f"{keyed.FORMAT}\n{'ab' * 32}\n")
    (keys / "loose.key").chmod(0o644)
    with pytest.raises(InputError, match="can be read by other accounts"):
        adopt_key(ctx, admin, keys / "loose.key")
    done = adopt_key(ctx, admin, keys / "a.key")
    assert done.created and (keys / "a.key").stat().st_mode & 0o077 == 0
    with pytest.raises(InputError, match="never replaced"):
        adopt_key(ctx, admin, keys / "b.key")
    check = _check(ctx.ws)
    assert check.intact and f"from entry {done.seq} on" in check.keyed_note
    ctx.close()


def test_the_commands_at_80_columns(tmp_path: Path, keys: Path) -> None:
    ws = tmp_path / "ws"
    Workspace.init(ws).close()
    run = CliRunner().invoke
    env = {"COLUMNS": "80"}
    bad = run(app, ["audit", "key", "--key", str(ws / "k.key"), "-w", str(ws)], env=env)
    assert bad.exit_code == 2 and "inside the workspace" in bad.output
    ok = run(app, ["audit", "key", "--key", str(keys / "k.key"), "-w", str(ws)], env=env)
    assert ok.exit_code == 0 and "audit log keyed from entry" in ok.output
    assert f'audit_mac_key = "{keys / "k.key"}"' in (ws / "leadguard.toml").read_text()
    shown = run(app, ["audit", "verify", "-w", str(ws)], env=env)
    assert shown.exit_code == 0 and "authentication codes: 1 entries" in shown.output
    opened = Workspace.open(ws)
    try:
        _forge_head(opened)
    finally:
        opened.close()
    shown = run(app, ["audit", "verify", "-w", str(ws)], env=env)
    assert shown.exit_code == 1 and "1 problem(s)" in shown.output
    assert "audit log NOT proven" in shown.output and "audit log intact" not in shown.output
    (ws / "leadguard.toml").write_text(
        (ws / "leadguard.toml").read_text().replace(f'"{keys / "k.key"}"', '"/nonexistent.key"')
    )
    gone = run(app, ["audit", "verify", "-w", str(ws)], env=env)
    assert gone.exit_code == 1 and "audit key /nonexistent.key cannot be read" in gone.output
    assert "Traceback" not in gone.output
    refused = run(app, ["settings", "set", "top_k", "30", "-w", str(ws)], env=env)
    assert refused.exit_code == 2 and "audit_mac_key names cannot be used" in refused.output
    assert "Nothing was written" in refused.output and "nonexistent" not in refused.output
    given = run(app, ["audit", "verify", "-w", str(ws), "--mac-key", str(keys / "k.key")], env=env)
    assert given.exit_code == 1 and "without an authentication code" in given.output


def test_a_keyed_log_is_not_taken_below_its_codes(tmp_path: Path, keys: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    adopt_key(Context(ws), None, keys / "audit.key")
    with pytest.raises(WorkspaceError, match="the audit log is keyed"):
        downgrade(ws, "0021")
    opened = Workspace.open(tmp_path / "ws")
    try:
        assert _check(opened).intact
    finally:
        opened.close()


def test_an_adoption_cut_off_after_the_settings_file_is_finished(
    tmp_path: Path, keys: Path
) -> None:
    """Killed between writing leadguard.toml and committing the adoption entry: the file
    names the key, no entry records it. The next entries get codes; verify says how to
    finish; the same command with the same key finishes it (another key is refused)."""
    ws = Workspace.init(tmp_path / "ws")
    key_file = keys / "audit.key"
    key = keyed.create_key(key_file, ws.root)
    settings = ws.root / "leadguard.toml"
    settings.write_text(settings.read_text() + f'audit_mac_key = "{key_file}"\n')
    ws.close()
    ctx = Context(Workspace.open(tmp_path / "ws"))
    with ctx.session() as s:
        audit.append(s, "note", "workspace", {})
    found = _check(ctx.ws).key_problems
    assert len(found) == 1 and "with the same file, records the adoption" in found[0]
    with pytest.raises(InputError, match="names an audit key already"):
        adopt_key(ctx, None, keys / "other.key")
    done = adopt_key(ctx, None, key_file)
    assert done.key_id == keyed.key_id(key) and not done.created
    check = _check(ctx.ws)
    assert check.intact and f"from entry {done.seq} on" in check.keyed_note
    with pytest.raises(InputError, match="keyed already"):
        adopt_key(ctx, None, key_file)
    ctx.close()


def test_a_code_planted_in_an_unkeyed_log_is_named_and_blocks_nothing(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    try:
        with ws.engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_macs (seq, code) VALUES (999, '00')"))
        with ws.session() as s:  # not keyed: no adoption entry
            audit.append(s, "note", "workspace", {})
        found = _check(ws).key_problems
        assert len(found) == 1 and "holds 1 authentication code(s), but no entry" in found[0]
    finally:
        ws.close()


@pytest.mark.parametrize("value", ["ééé", "00", "ABC"])
def test_any_stored_code_is_compared_safely(ctx: Context, value: str) -> None:
    with ctx.ws.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_macs SET code = :c WHERE seq = (SELECT max(seq) FROM audit_macs)"),
            {"c": value},
        )
    found = _check(ctx.ws).key_problems
    assert len(found) == 1 and "authentication code is wrong" in found[0]


def test_a_key_path_that_is_no_plain_file_is_refused_unread(tmp_path: Path, keys: Path) -> None:
    import os

    ws = tmp_path / "ws"
    fifo = keys / "fifo"
    os.mkfifo(fifo)
    big = keys / "big.key"
    big.write_bytes(b"0" * 100_000)
    big.chmod(0o600)
    for path, why in (
        (Path("/dev/zero"), "not a plain file"),
        (fifo, "not a plain file"),  # never opened: a FIFO would hang
        (keys, "not a plain file"),
        (big, "not a LeadGuard audit key"),
        (Path("relative.key"), "give an absolute path"),
    ):
        with pytest.raises(InputError, match=why):
            keyed.load_key(path, ws)
