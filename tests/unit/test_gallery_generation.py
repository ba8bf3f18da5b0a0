"""The gallery generation: the database's own triggers bump it on every change to the
templates table, so a resident server notices any writer's change with one row read."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from leadguard.face_models import model_space
from leadguard.gallery.maintenance import gallery_counts
from leadguard.storage import maintenance_queries as maint_repo
from leadguard.storage import queries as repo
from leadguard.storage.tables import TemplateRecord
from leadguard.storage.workspace import Workspace
from tests.unit.test_index_backend_setting import fill

pytestmark = pytest.mark.usefixtures("database")


def stamp(ws: Workspace) -> tuple[int, ...]:
    with ws.session() as s:
        return repo.templates_stamp(s)


def test_every_change_to_templates_moves_the_generation(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    first = stamp(ws)
    assert len(first) == 1  # the counter row exists: no count of the table
    assert stamp(ws) == first  # reading changes nothing
    ids, _ = fill(ws, 20)
    added = stamp(ws)
    assert added != first
    with ws.session() as s:  # a vector rewritten in place (no row added or removed)
        s.execute(update(TemplateRecord).where(TemplateRecord.id == int(ids[0])).values(dim=128))
    rewritten = stamp(ws)
    assert rewritten != added
    with ws.session() as s:
        removed = maint_repo.remove_subject(s, "S0003")
    assert sum(len(v) for v in removed.values()) == 2
    assert stamp(ws) not in (first, added, rewritten)
    ws.close()


def test_resident_counts_follow_another_writer(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    space = model_space(ws.settings)
    fill(ws, 10)
    with ws.session() as s:
        assert gallery_counts(ws, s, space.key) == (5, 10)
    other = Workspace.open(tmp_path / "ws")  # another process's connection
    with other.session() as s:
        maint_repo.remove_subject(s, "S0002")
    with ws.session() as s:
        assert gallery_counts(ws, s, space.key) == (4, 8)
    other.close()
    ws.close()


def test_resident_score_tail_follows_the_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadguard.evidence import shift

    ws = Workspace.init(tmp_path / "ws")
    space = model_space(ws.settings)
    fill(ws, 40)
    first = shift.gallery_tail(ws, space.key, stamp(ws))
    counted: list[str] = []
    summary = repo.template_id_summary

    def counting(s: object, key: str) -> dict[str, int]:
        counted.append(key)
        return summary(s, key)  # type: ignore[arg-type]

    monkeypatch.setattr(repo, "template_id_summary", counting)
    again = shift.gallery_tail(ws, space.key, stamp(ws))
    assert again is first and counted == []  # nothing changed: no count of the table
    other = Workspace.open(tmp_path / "ws")  # another process removes a subject
    with other.session() as s:
        maint_repo.remove_subject(s, "S0002")
    other.close()
    after = shift.gallery_tail(ws, space.key, stamp(ws))
    assert counted == [space.key] and after.template_count == 38  # rebuilt without them
    assert shift.gallery_tail(ws, space.key) is not after  # no generation given: not held
    ws.close()


def test_a_torn_cache_file_is_measured_again_not_a_crash(tmp_path: Path) -> None:
    """Enrollments and searches in other processes read the gallery's tail and pair files
    while one writes them: a file caught empty or cut short is measured again (it used to
    end an enrollment with numpy's EOFError), and a write leaves no temporary file."""
    from leadguard.evidence import gallery_figures, shift

    ws = Workspace.init(tmp_path / "ws")
    space = model_space(ws.settings)
    fill(ws, 40)
    tail = shift.gallery_tail(ws, space.key)
    figures = gallery_figures.gallery_figures(ws, space.key)
    folder = ws.index_path(space.key).parent
    files = [shift.tail_path(ws, space.key), gallery_figures.pairs_path(ws, space.key)]
    whole = [f.read_bytes() for f in files]
    assert not [f.name for f in folder.iterdir() if f.name.endswith(".tmp")]
    for cut in (0, 10, len(whole[0]) // 2):
        for f, data in zip(files, whole, strict=True):
            f.write_bytes(data[: min(cut, len(data) - 1)])
        again = shift.gallery_tail(ws, space.key)
        assert again.template_count == tail.template_count == 40
        assert gallery_figures.gallery_figures(ws, space.key).hists.keys() == figures.hists.keys()
        assert [f.read_bytes() for f in files] == whole  # written whole again
    ws.close()


def test_a_forged_pairs_file_is_never_read(tmp_path: Path) -> None:
    """Each pairs file written is recorded in the audit log (its SHA-256); a file that is
    not the one recorded (forged to say no stranger ever scores high, as an adversarial
    pass did with 5,000,000 pairs at the lowest score) is measured again, not believed."""
    from dataclasses import replace

    import numpy as np
    from sqlalchemy import select

    from leadguard.audit import log as audit
    from leadguard.evidence import gallery_figures
    from leadguard.evidence.distribution import BINS, ScoreHistogram
    from leadguard.evidence.gallery_pairs import GalleryPairs
    from leadguard.storage.tables import AuditEntry

    ws = Workspace.init(tmp_path / "ws")
    space = model_space(ws.settings)
    fill(ws, 40)
    figures = gallery_figures.gallery_figures(ws, space.key)
    path = gallery_figures.pairs_path(ws, space.key)
    real = path.read_bytes()
    pairs = GalleryPairs.from_bytes(real)
    lowest = np.zeros(BINS, dtype=np.int64)
    lowest[0] = 5_000_000
    forged = {k: ScoreHistogram(lowest.copy()) for k in pairs.hists}
    path.write_bytes(replace(pairs, hists=forged).to_bytes())
    again = gallery_figures.gallery_figures(ws, space.key)
    assert again.hists.keys() == figures.hists.keys()
    assert all(
        again.hists[k].comparisons == figures.hists[k].comparisons < 5_000_000
        for k in figures.hists
    )
    assert path.read_bytes() == real  # measured and written again
    with ws.session() as s:
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "gallery.pairs")))
        assert audit.verify(s).broken_at is None  # (fill writes templates unaudited)
    assert len(entries) == 2 and entries[-1].details["sha256"] == entries[0].details["sha256"]
    ws.close()


def test_a_folder_at_the_pairs_path_is_measured_used_and_not_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A folder (or a read-only place) where the pairs file goes: the figures are measured
    for this use and the search goes on; nothing is recorded for a file never written."""
    from sqlalchemy import func, select

    from leadguard.evidence import gallery_figures
    from leadguard.storage.tables import AuditEntry

    ws = Workspace.init(tmp_path / "ws")
    space = model_space(ws.settings)
    fill(ws, 40)
    path = gallery_figures.pairs_path(ws, space.key)
    path.mkdir(parents=True)
    figures = gallery_figures.gallery_figures(ws, space.key)
    assert figures.hists and path.is_dir()
    assert "cannot be written" in caplog.text
    with ws.session() as s:
        n = s.scalar(select(func.count()).where(AuditEntry.action == "gallery.pairs"))
    assert n == 0
    ws.close()
