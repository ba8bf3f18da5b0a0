"""The evaluation cache under the chain (``audit.cache_state``): every write, expungement
and clearing records the space's digest; ``audit verify`` finds a cached template changed,
added or deleted by hand, and an evaluation refuses to fit from such a cache until
``eval clear-cache`` discards it. Migration 0021 adopts the rows written before it.
SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from leadguard.audit import cache_state, failures_state
from leadguard.audit import log as audit
from leadguard.cli.main import app
from leadguard.core import setdigest
from leadguard.core.config import load_settings
from leadguard.core.types import EmbeddingSpace
from leadguard.evaluation.templates import clear_cached, compute_templates, store_cached
from leadguard.face_models import model_space
from leadguard.gallery.maintenance import expunge_subject
from leadguard.storage import queries as repo
from leadguard.storage.tables import AuditEntry, TemplateCache
from leadguard.storage.workspace import Workspace
from tests.unit.lookalike_kit import enroll_batch
from tests.unit.migration_kit import downgrade

both = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL


def _files(folder: Path, n: int) -> list[Path]:
    """Distinct small files (the cache is keyed by their bytes' hash; never decoded here,
    as every one is cached)."""
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i}.jpg"
        p.write_bytes(f"image {i}".encode())
        paths.append(p)
    return paths


def _cache(ws: Workspace, key: str, shas: list[str], seed: int = 0) -> None:
    """Cache templates for these images as an evaluation stores them (one failure too)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i, sha in enumerate(shas):
        vec = None if i == 1 else rng.standard_normal(8).astype(np.float32).tobytes()
        rows.append((sha, vec, 0 if vec is None else 1, "no_face" if vec is None else "", ""))
    store_cached(ws, key, rows[:2])
    store_cached(ws, key, rows[2:])


def _findings(ws: Workspace) -> list[str]:
    with ws.session() as s:
        found = audit.verify(s).record_problems
    return [p for p in found if p.startswith(cache_state.TABLE)]


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    w = Workspace.init(tmp_path / "ws")
    yield w
    w.close()


def _space(ws: Workspace) -> EmbeddingSpace:
    return model_space(ws.settings)


def _other(ws: Workspace) -> EmbeddingSpace:
    """A second space (another pipeline revision of the same model)."""
    space = _space(ws)
    return replace(space, pipeline_revision=f"{space.pipeline_revision}-other")


@both
def test_an_evaluation_reads_a_recorded_cache_and_refuses_an_edited_one(
    ws: Workspace, tmp_path: Path
) -> None:
    space = _space(ws)
    paths = _files(tmp_path / "img", 4)
    _cache(ws, space.key, [_sha(p) for p in paths])
    _cache(ws, _other(ws).key, [_sha(p) for p in paths], seed=1)
    assert _findings(ws) == []
    got = compute_templates(ws, space, paths)  # all cached: no face model is loaded
    assert got[paths[1]].vector is None and got[paths[1]].error_code == "no_face"
    assert got[paths[0]].vector is not None and got[paths[0]].vector.shape == (8,)
    edited = np.zeros(8, np.float32).tobytes()
    with ws.engine.begin() as conn:  # an insider's edit: one cached template replaced
        conn.execute(
            text("UPDATE template_cache SET vector = :v WHERE sha256 = :s AND space_key = :k"),
            {"v": edited, "s": _sha(paths[0]), "k": space.key},
        )
    found = _findings(ws)
    assert len(found) == 1 and f"space {space.key} are not those audit entry" in found[0]
    assert "4 rows, as recorded, but their contents differ" in found[0]
    with pytest.raises(cache_state.CacheChanged) as refused:
        compute_templates(ws, space, paths)
    assert str(refused.value).startswith("evaluation refused: template_cache rows of space")
    assert f"leadguard eval clear-cache --space {space.key}" in str(refused.value)
    assert compute_templates(ws, _other(ws), paths)  # the other space: fine

    done = CliRunner().invoke(
        app, ["eval", "clear-cache", "--space", space.key, "-w", str(ws.root)]
    )
    assert done.exit_code == 0, done.output
    assert f"evaluation cache of space {space.key}: 4 cached templates discarded" in done.output
    assert _findings(ws) == []
    with ws.session() as s:
        left = s.scalars(select(TemplateCache.space_key).distinct()).all()
    assert left == [_other(ws).key]
    typo = CliRunner().invoke(app, ["eval", "clear-cache", "--space", "nope", "-w", str(ws.root)])
    assert typo.exit_code != 0 and "no evaluation cache for space 'nope'" in typo.output
    assert _other(ws).key in typo.output and "Traceback" not in typo.output
    _cache(ws, space.key, [_sha(p) for p in paths])  # computed again, recorded again
    assert _findings(ws) == []


@both
@pytest.mark.parametrize(
    "edit",
    [
        "INSERT INTO template_cache (sha256, space_key, vector, faces_in_image, error_code, error)"
        " VALUES ('ff', :k, NULL, 0, 'no_face', '')",
        "DELETE FROM template_cache WHERE sha256 = (SELECT min(sha256) FROM template_cache)",
        "UPDATE template_cache SET error_code = 'no_face', vector = NULL WHERE sha256 ="
        " (SELECT max(sha256) FROM template_cache WHERE vector IS NOT NULL)",
        "UPDATE template_cache SET sha256 = 'ab' || substr(sha256, 3)"
        " WHERE sha256 = (SELECT min(sha256) FROM template_cache)",
        "DELETE FROM template_cache",
    ],
    ids=["insert", "delete", "failure", "rehash", "empty"],
)
def test_each_edit_of_the_cache_is_found(ws: Workspace, tmp_path: Path, edit: str) -> None:
    space = _space(ws)
    paths = _files(tmp_path / "img", 4)
    _cache(ws, space.key, [_sha(p) for p in paths])
    with ws.engine.begin() as conn:
        assert conn.execute(text(edit), {"k": space.key}).rowcount >= 1
    found = _findings(ws)
    assert len(found) == 1 and "changed outside LeadGuard" in found[0], found
    with pytest.raises(cache_state.CacheChanged):
        compute_templates(ws, space, paths)


@both
def test_an_altered_state_entry_is_refused_by_an_evaluation(ws: Workspace, tmp_path: Path) -> None:
    """An edit of the cache made to agree with an edited entry: ``verify`` finds the chain
    broken, and the evaluation, which reads only the latest entry, checks that entry where
    it stands in the chain instead of fitting from the cache (a red-team pass did this)."""
    space = _space(ws)
    paths = _files(tmp_path / "img", 3)
    _cache(ws, space.key, [_sha(p) for p in paths])
    with ws.engine.begin() as conn:
        conn.execute(text("DELETE FROM template_cache WHERE vector IS NULL"))
    with ws.session() as s:
        digest = cache_state.TRACKED.of_table(s, space.key)
    with ws.engine.begin() as conn:  # the entry rewritten to record the edited rows
        seq = conn.execute(
            text("SELECT max(seq) FROM audit_log WHERE action = :a"), {"a": cache_state.ACTION}
        ).scalar_one()
        details = json.dumps(
            {"why": "evaluation", "rows": 2, "digest": setdigest.to_hex(digest.digest)}
        )
        conn.execute(
            text("UPDATE audit_log SET details = :d WHERE seq = :s"), {"d": details, "s": seq}
        )
    assert _findings(ws) == []  # the rows agree with the entry as it now reads
    with ws.session() as s:
        assert not audit.verify(s).intact
    with pytest.raises(cache_state.CacheChanged) as refused:
        compute_templates(ws, space, paths)
    assert f"audit entry {seq} (eval.cache.state of template_cache:{space.key}) was altered" in str(
        refused.value
    )


def test_damage_sqlite_allows_is_a_finding_not_a_traceback(tmp_path: Path) -> None:
    """SQLite keeps any value anywhere: a text of bytes that are not UTF-8 (its driver
    cannot decode one), a blob where the space key belongs (no text key matches it), a
    sequence number that is not a number. Each is a finding or a refusal, never a
    traceback (a red-team pass's)."""
    ws = Workspace.init(tmp_path / "ws")
    key = _space(ws).key
    enroll_batch(ws, 0, [1, 1, 2])
    shas = [hashlib.sha256(f"synthetic-{i}".encode()).hexdigest() for i in range(3)]
    paths = _files(tmp_path / "img", 3)
    try:
        _cache(ws, key, [_sha(p) for p in paths])
        with ws.engine.begin() as conn:
            conn.execute(text("UPDATE template_cache SET error = CAST(x'ff41' AS TEXT)"))
        assert "contents differ" in _findings(ws)[0]
        with pytest.raises(cache_state.CacheChanged):
            compute_templates(ws, _space(ws), paths)
        clear_cached(ws, key)

        _cache(ws, key, shas)
        with ws.engine.begin() as conn:  # a copy of a row under a key no text matches
            conn.execute(
                text(
                    "INSERT INTO template_cache (sha256, space_key, vector, faces_in_image,"
                    " error_code, error) SELECT sha256, CAST(space_key AS BLOB), vector,"
                    " faces_in_image, error_code, error FROM template_cache"
                    " WHERE sha256 = :s"
                ),
                {"s": shas[0]},
            )
        found = _findings(ws)
        assert len(found) == 1 and "whose space key is b'" in found[0], found
        expunge_subject(ws, "S001", "order 26-3")  # deletes that row too, records no space
        assert _findings(ws) == []

        with ws.engine.begin() as conn:  # an entry whose sequence number is not a number
            conn.execute(
                text(
                    "INSERT INTO audit_log (seq, at, actor, action, object, details, prev_hash,"
                    " hash) SELECT '999x', at, actor, action, object, details, prev_hash, hash"
                    " FROM audit_log WHERE action = :a ORDER BY seq DESC LIMIT 1"
                ),
                {"a": cache_state.ACTION},
            )
        with pytest.raises(cache_state.CacheChanged) as refused:
            compute_templates(ws, _space(ws), paths)
        assert "'999x' is not a whole number" in str(refused.value)
    finally:
        ws.close()


def test_a_text_where_bytes_belong_is_a_finding_not_a_traceback(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")  # SQLite: only it keeps a text in a binary column
    space = _space(ws)
    paths = _files(tmp_path / "img", 3)
    _cache(ws, space.key, [_sha(p) for p in paths])
    with ws.engine.begin() as conn:  # the same characters as the bytes, as a text
        blob = conn.execute(text("SELECT vector FROM template_cache WHERE vector IS NOT NULL"))
        first = blob.scalars().first()
        same = first.decode("latin-1")
        conn.execute(
            text("UPDATE template_cache SET vector = :t WHERE vector = :b"), {"t": same, "b": first}
        )
    try:
        assert "contents differ" in _findings(ws)[0]
        with pytest.raises(cache_state.CacheChanged):
            compute_templates(ws, space, paths)
    finally:
        ws.close()


@both
def test_an_expungement_keeps_the_digest_and_an_earlier_edit_stays_found(
    ws: Workspace,
) -> None:
    key = _space(ws).key
    enroll_batch(ws, 0, [1, 1, 2])  # images synthetic-0..2; S001 owns 0 and 1
    shas = [hashlib.sha256(f"synthetic-{i}".encode()).hexdigest() for i in range(3)]
    _cache(ws, key, shas)
    _cache(ws, _other(ws).key, shas, seed=1)
    expunge_subject(ws, "S001", "order 26-1")
    assert _findings(ws) == []
    with ws.session() as s:
        left = s.execute(select(TemplateCache.space_key, TemplateCache.sha256)).all()
        entries = s.scalars(
            select(AuditEntry.details).where(AuditEntry.action == cache_state.ACTION)
        ).all()
    assert sorted(left) == sorted([(key, shas[2]), (_other(ws).key, shas[2])])
    assert [e["why"] for e in entries][-2:] == ["expunge", "expunge"]
    with ws.engine.begin() as conn:
        conn.execute(text("UPDATE template_cache SET faces_in_image = 7"))
    enroll_batch(ws, 3, [4])
    expunge_subject(ws, "S004", "order 26-2")  # a later change cannot adopt the edit
    assert len(_findings(ws)) == 2  # both spaces


@both
def test_rows_cached_before_0021_are_adopted_by_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    downgrade(ws, "0020")
    ws = Workspace(tmp_path / "ws", load_settings(tmp_path / "ws"))  # not upgraded
    key = _space(ws).key
    with monkeypatch.context() as m:  # the cache as the code of 0020 wrote it: no digest
        m.setattr(cache_state, "record_added", lambda *a, **k: None)
        _cache(ws, key, ["a" * 64, "b" * 64, "c" * 64])
    with ws.session() as s:  # and a failure, as 0020's enrollment kept it: no digest either
        repo.save_failure(s, "d" * 64, key, "/g/wall.png", "no_face", "no face found")
    assert "no audit entry records" in _findings(ws)[0]
    ws.close()
    ws = Workspace.open(tmp_path / "ws")  # upgraded when opened: 0021 adopts the rows
    try:
        with ws.session() as s:
            adopted = s.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.in_([cache_state.ACTION, failures_state.ACTION]))
                .order_by(AuditEntry.seq)
            ).all()
            indexed = {
                name
                for (name,) in s.execute(
                    text(
                        "SELECT name FROM sqlite_master WHERE type = 'index'"
                        if ws.engine.dialect.name == "sqlite"
                        else "SELECT indexname FROM pg_indexes"
                    )
                )
            }
        assert [(e.actor, e.object, e.details["rows"]) for e in adopted] == [
            ("migration:0021", cache_state.TRACKED.object_of(key), 3),
            ("migration:0021", failures_state.TRACKED.object_of(key), 1),
        ]
        assert "ix_search_requests_probe_sha256" in indexed
        with ws.session() as s:
            assert not audit.verify(s).record_problems
    finally:
        ws.close()


@both
def test_two_evaluations_caching_the_same_images_neither_fails_nor_alarms(
    ws: Workspace,
) -> None:
    """Two evaluations of one space that computed the same images at once: the second's
    batch keeps the rows the first stored (the unique key refused the insert before)."""
    key = _space(ws).key
    shas = [hashlib.sha256(b"%d" % i).hexdigest() for i in range(5)]
    _cache(ws, key, shas[:3])
    vec = np.ones(8, np.float32).tobytes()
    store_cached(ws, key, [(sha, vec, 1, "", "") for sha in shas[1:]] + [(shas[4], vec, 1, "", "")])
    assert _findings(ws) == []
    with ws.session() as s:
        rows = s.execute(select(TemplateCache.sha256, TemplateCache.vector)).all()
    assert sorted(r[0] for r in rows) == sorted(shas)
    assert dict(rows)[shas[1]] is None  # the first evaluation's row (a failure) is kept
