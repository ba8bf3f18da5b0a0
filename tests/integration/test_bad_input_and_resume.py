"""A batch goes on past bad input, names each reason, and resumes after an interruption."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from leadguard.face_models import model_space
from leadguard.gallery.enroll import enroll
from leadguard.gallery.maintenance import check_index
from leadguard.storage import queries as repo
from leadguard.storage.workspace import Workspace
from tests.conftest import FIXTURES, LFW
from tests.integration.conftest import jpeg_bytes, write_manifest

pytestmark = pytest.mark.integration
FACE = LFW / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"


def build_bad_folder(root: Path) -> dict[str, str]:
    """A folder source with one file of each bad kind; returns file name -> expected code."""
    person = root / "person"
    person.mkdir(parents=True)
    real = FACE.read_bytes()
    (person / "good.jpg").write_bytes(real)
    (person / "corrupt.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4)
    (person / "truncated.jpg").write_bytes(real[: len(real) // 3])
    (person / "notes.txt").write_text("not an image")
    Image.new("L", (9000, 9000)).save(person / "bomb.png")  # 81 Mpx, a few KB on disk
    Image.new("RGB", (320, 240), (200, 180, 160)).save(person / "wall.png")
    shutil.copy(
        FIXTURES / "face_recognition_examples/_unlabelled/obama_and_biden.jpg", person / "group.jpg"
    )
    small = Image.open(FACE).resize((125, 125))
    (person / "small.jpg").write_bytes(jpeg_bytes(small, quality=95))
    return {
        "good.jpg": "",
        "corrupt.jpg": "unreadable",
        "truncated.jpg": "unreadable",
        "notes.txt": "unreadable",
        "bomb.png": "unreadable",
        "wall.png": "no_face",
        "group.jpg": "several_faces",
        "small.jpg": "face_too_small",
    }


def test_each_bad_input_gets_its_reason_and_the_batch_goes_on(tmp_path: Path) -> None:
    expected = build_bad_folder(tmp_path / "src")
    # min_face_size 60 px: the 125-px LFW copy holds a ~50 px face, the original a ~100 px one
    ws = Workspace.init(tmp_path / "ws", workers=1, min_face_size=60)
    report = enroll(ws, tmp_path / "src")
    got = {Path(f.source).name: f.code for f in report.failed}
    assert report.enrolled == 1
    assert got == {k: v for k, v in expected.items() if v}
    messages = {Path(f.source).name: f.message for f in report.failed}
    assert "decompression bomb" in messages["bomb.png"]
    assert "3 faces" in messages["group.jpg"]
    assert "smaller than the minimum of 60" in messages["small.jpg"]
    # failures are remembered: a re-run skips them instead of recomputing
    again = enroll(ws, tmp_path / "src")
    assert again.enrolled == 0
    reasons = sorted(why.split(" (")[0] for _, why in again.skipped)
    assert reasons.count("failed before") == 7
    assert reasons.count("already enrolled") == 1


def test_bad_manifest_rows_do_not_stop_the_rest(tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        f"path,subject_id,encounter_date\n{FACE},aaron,2003-04-05\n,nobody,\n"
        f"{tmp_path / 'missing.jpg'},ghost,\n{FACE},aaron,not-a-date\n"
    )
    ws = Workspace.init(tmp_path / "ws", workers=1)
    report = enroll(ws, manifest)
    assert report.enrolled == 1
    codes = sorted(f.code for f in report.failed)
    assert codes == ["bad_row", "bad_row", "unreadable"]
    assert any("file not found" in f.message for f in report.failed)
    with ws.session() as s:
        info = repo.template_info(s, [1])[1]
    assert info.subject == "aaron" and info.encounter_date.isoformat() == "2003-04-05"


@pytest.mark.slow
def test_interrupted_enrollment_resumes_with_only_what_is_missing(
    tmp_path: Path, johns_split
) -> None:
    enrolled, _ = johns_split
    rows = enrolled[:20]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    ws = Workspace.init(tmp_path / "ws", workers=2, commit_every=4)

    def interrupt_after_nine(done: int, total: int, n_enrolled: int) -> None:
        if n_enrolled >= 9:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        enroll(ws, manifest, progress=interrupt_after_nine)
    with ws.session() as s:
        _, first = repo.gallery_counts(s, model_space(ws.settings).key)
    assert 9 <= first < 20  # committed work survived the interruption

    report = enroll(ws, manifest)
    assert report.enrolled == 20 - first
    assert sum(why == "already enrolled" for _, why in report.skipped) == first
    space = model_space(ws.settings)
    with ws.session() as s:
        ids, vectors = repo.template_vectors(s, space.key)
    assert ids.size == 20 and len({v.tobytes() for v in vectors}) == 20  # nothing twice
    assert check_index(ws, space).consistent


def test_exif_orientation_is_applied_before_detection(tmp_path: Path, model) -> None:
    upright = Image.open(FACE)
    sideways = upright.rotate(90, expand=True)  # stored rotated, as a phone camera does
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    tagged = tmp_path / "tagged.jpg"
    tagged.write_bytes(jpeg_bytes(sideways, quality=95, exif=exif.tobytes()))
    untagged = jpeg_bytes(sideways, quality=95)
    from leadguard.pipeline.decode import decode_image

    oriented = decode_image(tagged.read_bytes(), "tagged", 10**8)
    raw = decode_image(untagged, "raw", 10**8)
    assert len(model.detect(oriented.pixels)) >= 1
    assert len(model.detect(raw.pixels)) == 0  # the frontal detector needs the upright face
    a = model.embed(oriented.pixels, model.detect(oriented.pixels)[0])
    from leadguard.pipeline.decode import decode_image as dec

    b_img = dec(FACE.read_bytes(), "orig", 10**8)
    b = model.embed(b_img.pixels, model.detect(b_img.pixels)[0])
    assert float(np.dot(a, b)) > 0.95


def test_alpha_png_faces_are_found(model) -> None:
    from leadguard.pipeline.decode import decode_image

    for name in ("alex_lacamoire/alex-lacamoire.png", "_unlabelled/32bit.png"):
        path = FIXTURES / "face_recognition_examples" / name
        img = decode_image(path.read_bytes(), str(path), 10**8)
        assert model.detect(img.pixels), name
