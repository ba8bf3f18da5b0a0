"""Enrollment and search end to end, on the real model and real faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leadguard.core.errors import FaceError, NoFace, SeveralFaces, SpaceMismatch, UnreadableImage
from leadguard.gallery.enroll import enroll
from leadguard.gallery.maintenance import check_index, rebuild_index, remove_subject
from leadguard.pipeline.decode import sha256_bytes
from leadguard.search.request import SearchRequest
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace
from tests.conftest import FIXTURES
from tests.integration.conftest import write_manifest
from tests.models import search

pytestmark = pytest.mark.integration
MULTI = FIXTURES / "face_recognition_examples" / "_unlabelled" / "obama_and_biden.jpg"


def distinct_images(rows: list[tuple[Path, str]]) -> int:
    return len({sha256_bytes(p.read_bytes()) for p, _ in rows})


def test_gallery_enrolled_every_distinct_image(johns) -> None:
    distinct = distinct_images(johns.enrolled)
    assert distinct == 49  # the fixture holds one photo twice under two names
    assert johns.report.enrolled == distinct
    assert johns.report.failed == []
    assert len(johns.report.skipped) == 1
    assert "same image bytes as" in johns.report.skipped[0][1]
    by_sha: dict[str, list[str]] = {}
    for path, subject in johns.enrolled:
        by_sha.setdefault(sha256_bytes(path.read_bytes()), []).append(subject)
    (first, second), *_ = [v for v in by_sha.values() if len(v) == 2]
    # the other file's subject is named where it differs (an alias to resolve)
    named = f"enrolled under subject {first!r}" in johns.report.skipped[0][1]
    assert named == (first != second)
    with johns.ws.session() as s:
        assert repo.gallery_counts(s, johns.report.space_key) == (5, distinct)
    assert check_index(johns.ws, _space(johns.ws)).consistent


def _space(ws: Workspace):
    from leadguard.face_models import create_model

    return create_model(ws.settings).space


def test_mated_probes_find_their_subject_at_rank_one(johns) -> None:
    for probe, subject in johns.mated_probes:
        result = search(johns.ws, SearchRequest(probe, investigation=5))
        assert result.candidates[0].subject == subject, probe
        assert result.gallery_subjects == 5 and result.gallery_templates == 49
        # one entry per subject, ranked by score
        subjects = [c.subject for c in result.candidates]
        assert len(subjects) == len(set(subjects)) == 5
        scores = [c.score for c in result.candidates]
        assert scores == sorted(scores, reverse=True)


def test_a_search_checks_the_probe_header_once(johns, monkeypatch: pytest.MonkeyPatch) -> None:
    """The header is checked before anything is decoded and the result handed on: the
    pipeline's decode and the intake in the search's transaction do not check (or read) the
    same bytes again."""
    from leadguard.pipeline import decode
    from leadguard.search import intake, run

    calls: list[str] = []

    def counted(data: bytes, source: str, max_pixels: int) -> decode.Header:
        calls.append(source)
        return real(data, source, max_pixels)

    real = decode.check_header
    monkeypatch.setattr(decode, "check_header", counted)
    monkeypatch.setattr(intake, "check_header", counted)
    monkeypatch.setattr(run, "check_header", counted)
    probe = johns.mated_probes[0][0]
    assert search(johns.ws, SearchRequest(probe, investigation=2)).candidates
    assert calls == [str(probe)]


def test_non_enrolled_people_score_below_every_mated_probe(johns, non_enrolled_probes) -> None:
    mated = [
        search(johns.ws, SearchRequest(p, investigation=1)).candidates[0].score
        for p, _ in johns.mated_probes
    ]
    for probe, name in non_enrolled_probes:
        result = search(johns.ws, SearchRequest(probe, investigation=1))
        top = result.candidates[0]
        assert top.score < min(mated), (name, top.subject, top.score, min(mated))


def test_reenrolling_is_a_no_op(johns, tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "again.csv", johns.enrolled)
    report = enroll(johns.ws, manifest)
    assert report.enrolled == 0 and report.failed == []
    assert [why for _, why in report.skipped] == ["already enrolled"] * 50
    with johns.ws.session() as s:
        assert repo.gallery_counts(s, report.space_key) == (5, 49)


def test_same_bytes_under_another_subject_are_not_enrolled_twice(johns, tmp_path: Path) -> None:
    path, subject = johns.enrolled[0]
    manifest = write_manifest(tmp_path / "dup.csv", [(path, "someone_else")])
    report = enroll(johns.ws, manifest)
    assert report.enrolled == 0
    assert report.skipped == [
        (str(path), f"the same image bytes are already enrolled under subject {subject!r}")
    ]


def test_same_bytes_twice_in_one_run_name_the_other_subject(tmp_path: Path) -> None:
    path = FIXTURES / "dlib_johns" / "John_Shimkus" / "000378_02340151.jpg"
    manifest = write_manifest(tmp_path / "two.csv", [(path, "A-1"), (path, "B-2")])
    ws = Workspace.init(tmp_path / "ws", workers=1)
    try:
        report = enroll(ws, manifest)
    finally:
        ws.close()
    assert report.enrolled == 1
    assert report.skipped == [
        (str(path), f"same image bytes as {path} in this run, enrolled under subject 'A-1'")
    ]


def test_several_faces_in_a_probe_must_be_chosen(johns) -> None:
    with pytest.raises(SeveralFaces) as exc:
        search(johns.ws, SearchRequest(MULTI))
    assert len(exc.value.detections) == 3
    assert "choose one" in str(exc.value)
    chosen = search(johns.ws, SearchRequest(MULTI, face=1))
    assert chosen.probe_face == exc.value.detections[1]
    assert any("holds 3 faces" in n for n in chosen.notices)
    with pytest.raises(FaceError, match="no face 7: the image has 3 face"):
        search(johns.ws, SearchRequest(MULTI, face=7))


def test_bad_probes_get_named_errors(johns, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("RGB", (300, 300), (40, 90, 160)).save(blank)
    with pytest.raises(NoFace, match=r"blank\.png: no face"):
        search(johns.ws, SearchRequest(blank))
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(UnreadableImage, match=r"junk\.jpg"):
        search(johns.ws, SearchRequest(junk))


def test_searching_with_another_embedding_space_is_an_error(johns) -> None:
    other = Workspace.open(johns.ws.root, landmarks="5")
    with pytest.raises(SpaceMismatch, match="embedding space"):
        search(other, SearchRequest(johns.mated_probes[0][0]))


def test_top_k_is_capped(johns) -> None:
    capped = Workspace.open(johns.ws.root, max_candidates=2)
    result = search(capped, SearchRequest(johns.mated_probes[0][0], investigation=4))
    assert len(result.candidates) == 2
    assert any("capped at 2" in n for n in result.notices)


def test_index_is_derived_and_repairable(johns) -> None:
    space = _space(johns.ws)
    path = johns.ws.index_path(space.key)
    damaged = path / "meta.json" if path.is_dir() else path  # its commit record, or the file
    try:
        damaged.write_bytes(b"damaged")
        check = check_index(johns.ws, space)
        assert not check.consistent and check.problem
        result = search(johns.ws, SearchRequest(johns.mated_probes[0][0]))
        assert any("rebuilt" in n for n in result.notices)
        assert result.candidates[0].subject == johns.mated_probes[0][1]
        assert check_index(johns.ws, space).consistent
    finally:  # the module's later tests need an index that agrees with the database
        if not check_index(johns.ws, space).consistent:
            rebuild_index(johns.ws, space)


def test_remove_takes_subject_out_of_database_and_index(tmp_path: Path, johns_split) -> None:
    enrolled, probes = johns_split
    rows = [r for r in enrolled if r[1] in (probes[0][1], probes[1][1])]
    ws = Workspace.init(tmp_path / "ws", workers=1)
    enroll(ws, write_manifest(tmp_path / "m.csv", rows))
    gone, kept = probes[0][1], probes[1][1]
    n_gone = distinct_images([r for r in rows if r[1] == gone])
    n_kept = distinct_images([r for r in rows if r[1] == kept])
    assert search(ws, SearchRequest(probes[0][0], investigation=1)).candidates[0].subject == gone
    assert remove_subject(ws, gone) == n_gone
    space = _space(ws)
    check = check_index(ws, space)
    assert check.consistent and check.index_templates == n_kept
    result = search(ws, SearchRequest(probes[0][0], investigation=5))
    assert [c.subject for c in result.candidates] == [probes[1][1]]
    with ws.session() as s:
        stats = repo.gallery_stats(s)
    assert (stats.subjects, stats.images, stats.faces) == (1, n_kept, n_kept)
    _, vectors = _index_vectors(ws, space)
    assert vectors == n_kept


def _index_vectors(ws: Workspace, space) -> tuple[np.ndarray, int]:
    from leadguard.gallery.maintenance import open_index

    index = open_index(ws, space)
    return index.ids(), len(index)
