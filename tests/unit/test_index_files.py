"""The index files' digests are in the audit chain: ``index check`` and ``audit verify`` name
a segment file changed on disk (zeroed, truncated, a byte flipped, two files swapped), and
normal enrollment, removal, compaction and rebuilds raise no alarm; on SQLite and on
PostgreSQL (where the digests are recorded in the server's database)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from leadguard.audit import log as audit
from leadguard.core.types import Box, Detection, FaceTemplate, ImageMeta
from leadguard.face_models import model_space
from leadguard.gallery import index_files
from leadguard.gallery.enroll import register_space
from leadguard.gallery.maintenance import (
    check_index,
    open_index,
    rebuild_index,
    remove_subject,
    save_index,
    synced_index,
)
from leadguard.storage import queries as repo
from leadguard.storage.audited_rows import audited_rows
from leadguard.storage.workspace import Workspace
from tests.conftest import new_database_url
from tests.pgserver import copy_workspace

_DET = Detection(Box(0, 0, 100, 100), 1.0, ())
pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL


def enroll(ws: Workspace, start: int, n: int, record: bool = True) -> None:
    """A batch as enrollment commits it: rows, then the index saved with its digests
    (``record=False``: killed after the save, before its entry)."""
    space = model_space(ws.settings)
    rng = np.random.default_rng(start)
    vecs = rng.normal(size=(n, space.dim)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    rows = []
    for i, v in enumerate(vecs, start=start):
        sha = hashlib.sha256(f"synthetic-{i}".encode()).hexdigest()
        meta = ImageMeta(f"synthetic/{i}.jpg", sha, "JPEG", 250, 250, 10_000)
        info = repo.SubjectInfo(external_id=f"S{i // 2:04d}")
        rows.append(repo.NewTemplate(info, meta, FaceTemplate(_DET, v, space.key), 1))
    with ws.session() as s:
        register_space(s, space)  # with the entry naming its row
    index, _ = synced_index(ws, space)  # agrees with the database before this batch
    with ws.session() as s:
        new_ids = repo.save_templates(s, rows)
        shas = [r.image.sha256 for r in rows]
        records = audited_rows(s, new_ids, shas)
        audit.append(s, "enroll_batch", f"gallery:{space.key}", {}, records=records)
    index.add(np.asarray(new_ids, dtype=np.int64), vecs)
    with ws.write_lock():
        if record:
            save_index(ws, space, index, "enroll")
        else:
            index.save(ws.index_path(space.key))


def chain_intact(ws: Workspace) -> bool:
    with ws.session() as s:
        return audit.verify(s).intact


def file_problems(ws: Workspace) -> list[str]:
    backend = ws.settings.index_backend
    with ws.session() as s:
        return [
            p
            for key in index_files.recorded_spaces(s, backend)
            for p in index_files.check(s, key, backend, ws.index_path(key))
        ]


@pytest.fixture(scope="module", params=["compressed", "faiss-flat"])
def built(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, backend: str
) -> tuple[Path, str]:
    """A workspace with eleven batches, built once per index backend and database."""
    root = tmp_path_factory.mktemp("index-files") / "ws"
    url = new_database_url(request, backend)
    w = Workspace.init(root, index_backend=request.param, database_url=url)
    enroll(w, 0, 40)  # first batch: built from the database, then saved
    for b in range(1, 11):  # ten small batches: the compressed index merges its segments
        enroll(w, 30 + 10 * b, 10)
    w.close()
    return root, str(request.param)


@pytest.fixture
def ws(
    built: tuple[Path, str], tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> Workspace:
    server = request.getfixturevalue("pg_server") if backend == "postgres" else None
    copy_workspace(built[0], tmp_path / "ws", server)
    return Workspace.open(tmp_path / "ws", index_backend=built[1])


def test_normal_use_raises_no_alarm(ws: Workspace) -> None:
    space = model_space(ws.settings)
    assert check_index(ws, space).consistent
    for i in range(0, 30):  # removals: the compressed index compacts dead-heavy segments
        remove_subject(ws, f"S{i:04d}")
    enroll(ws, 1000, 6)
    check = check_index(ws, space)
    assert check.consistent, check.file_problems
    assert len(open_index(ws, space)) == 140 - 60 + 6
    assert chain_intact(ws) and file_problems(ws) == []
    with ws.session() as s:
        entries = list(audit.export(s, "index:"))
    reasons = {e["details"]["reason"] for e in entries if e["action"] == index_files.ACTION}
    assert {"enroll", "remove"} <= reasons
    ws.close()


def _zero(p: Path) -> None:
    """Zero the payload (an .npy file keeps its header, so that it still loads)."""
    data = p.read_bytes()
    keep = 0
    if p.suffix == ".npy":
        with open(p, "rb") as fh:
            np.lib.format.read_array_header_1_0(fh) if np.lib.format.read_magic(fh) == (
                1,
                0,
            ) else np.lib.format.read_array_header_2_0(fh)
            keep = fh.tell()
    p.write_bytes(data[:keep] + b"\0" * (len(data) - keep))


def _truncate(p: Path) -> None:
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[-3] ^= 0x5A
    p.write_bytes(bytes(data))


EDITS: dict[str, Callable[[Path], None]] = {"zero": _zero, "truncate": _truncate, "flip": _flip}


def _targets(ws: Workspace) -> dict[str, Path]:
    path = ws.index_path(model_space(ws.settings).key)
    if ws.settings.index_backend == "compressed":
        seg = sorted(p.name.split(".")[0] for p in path.glob("seg-*.codes.npy"))[0]
        return {"codes": path / f"{seg}.codes.npy", "rows": path / f"{seg}.vec.npy"}
    return {"codes": path, "rows": path.with_suffix(".json")}


@pytest.mark.parametrize("edit", sorted(EDITS))
@pytest.mark.parametrize("part", ["codes", "rows"])
def test_a_changed_file_is_named(ws: Workspace, part: str, edit: str) -> None:
    space = model_space(ws.settings)
    assert chain_intact(ws) and file_problems(ws) == []
    target = _targets(ws)[part]
    EDITS[edit](target)
    check = check_index(ws, space)
    assert not check.consistent
    assert any(target.name in p and "differs" in p for p in check.file_problems), check
    found = file_problems(ws)
    assert any(target.name in p for p in found), found
    assert chain_intact(ws)  # the chain itself is untouched: the files are what differ
    ws.close()


def test_two_segment_files_swapped_are_named(tmp_path: Path) -> None:
    w = Workspace.init(tmp_path / "ws", index_backend="compressed")
    enroll(w, 0, 40)
    enroll(w, 40, 40)
    path = w.index_path(model_space(w.settings).key)
    a, b = sorted(path.glob("seg-*.codes.npy"))[:2]
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    check = check_index(w, model_space(w.settings))
    named = " ".join(check.file_problems)
    assert not check.consistent and a.name in named and b.name in named
    found = " ".join(file_problems(w))
    assert a.name in found and b.name in found
    w.close()


def test_zeroed_codes_detected_and_rebuild_repairs(tmp_path: Path) -> None:
    """A zeroed code file makes a mated search miss; index check names it, a rebuild (and the
    search's own repair) records fresh digests."""
    w = Workspace.init(tmp_path / "ws", index_backend="compressed")
    enroll(w, 0, 40)
    space = model_space(w.settings)
    path = w.index_path(space.key)
    for codes in path.glob("seg-*.codes.npy"):
        _zero(codes)
    check = check_index(w, space)
    assert not check.consistent and check.file_problems
    assert check.vectors_differ == 0  # the fp32 rows still match: only the digests tell
    rebuild_index(w, space)
    assert check_index(w, space).consistent and file_problems(w) == []
    w.close()


def test_an_index_saved_outside_leadguard_is_named(tmp_path: Path) -> None:
    """A vector planted and saved by hand: the new segment's files are recorded nowhere and
    meta.json differs from its digest."""
    w = Workspace.init(tmp_path / "ws", index_backend="compressed")
    space = model_space(w.settings)
    enroll(w, 0, 20)
    index = open_index(w, space)
    index.add(np.asarray([999], dtype=np.int64), np.ones((1, space.dim), np.float32) / 8)
    index.save(w.index_path(space.key))
    check = check_index(w, space)
    named = " ".join(check.file_problems)
    assert "meta.json differs" in named and "not recorded in any audit entry" in named
    assert check.not_in_database == 1
    w.close()


def test_the_commands_name_the_file(tmp_path: Path) -> None:
    """``leadguard index check`` and ``leadguard audit verify`` (and the service behind the
    API's /api/audit/verify) exit 1 naming the changed file; before the change both pass."""
    from typer.testing import CliRunner

    from leadguard.cli.main import app
    from leadguard.services.audit import verify
    from leadguard.services.context import Context

    w = Workspace.init(tmp_path / "ws", index_backend="compressed")
    enroll(w, 0, 30)
    root = str(w.root)
    run = CliRunner()
    for args in (["index", "check", "-w", root], ["audit", "verify", "-w", root]):
        ok = run.invoke(app, args, env={"COLUMNS": "250"})
        assert ok.exit_code == 0, ok.output
    codes = _targets(w)["codes"]
    _flip(codes)
    for args in (["index", "check", "-w", root], ["audit", "verify", "-w", root]):
        bad = run.invoke(app, args, env={"COLUMNS": "250"})
        assert bad.exit_code == 1 and codes.name in bad.output, bad.output
    result = verify(Context(w), None)
    assert not result.intact and result.check.intact
    assert any(codes.name in p for p in result.index_problems)
    w.close()


def test_a_save_whose_entry_was_never_written_is_repaired(tmp_path: Path) -> None:
    """Killed between saving the index and recording its digests: the next search or batch
    (``synced_index``) sees the commit record unrecorded, checks and rebuilds."""
    w = Workspace.init(tmp_path / "ws", index_backend="compressed")
    space = model_space(w.settings)
    enroll(w, 0, 20)
    enroll(w, 20, 6, record=False)  # the index agrees with the database, unrecorded
    assert not check_index(w, space).consistent
    w.resident.clear()
    _, check = synced_index(w, space)
    assert not check.consistent and check.missing_from_index == 0  # only the files differed
    assert check_index(w, space).consistent and file_problems(w) == []
    w.close()


def test_files_a_killed_save_left_behind_raise_no_alarm(tmp_path: Path) -> None:
    """Segment files no meta.json names (a save killed before its commit) are not part of
    the index: never read, removed by the next save."""
    w = Workspace.init(tmp_path / "ws", index_backend="compressed")
    space = model_space(w.settings)
    enroll(w, 0, 20)
    path = w.index_path(space.key)
    for part in ("ids", "codes", "vec"):
        (path / f"seg-999999.{part}.npy").write_bytes(b"left behind")
    assert check_index(w, space).consistent
    enroll(w, 20, 4)  # the next save removes them
    assert not list(path.glob("seg-999999.*")) and check_index(w, space).consistent
    w.close()
