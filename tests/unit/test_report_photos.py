"""The pictures of a lead report and a packet, on synthetic images made here: the examined
face is the recorded box with a margin, the same bytes every time; a gallery photo is shown
only while it hashes to its enrolled SHA-256; its date (or its absence) is in the caption;
a format other than JPEG or PNG is re-encoded and said so."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

from PIL import Image

from leadguard.reports.document import Document, Para, Picture
from leadguard.reports.lead import _candidate_photo
from leadguard.services import report_photos


class _NoExpungements:
    """A session stand-in whose audit log holds no expungement (``scalars`` finds none)."""

    def scalars(self, _query: object) -> list[object]:
        return []


def listed(photo: Path, sha: str) -> list[dict[str, Any]]:
    result = {"candidates": [candidate(photo, sha, None)]}
    return report_photos.candidate_photos(_NoExpungements(), result)  # type: ignore[arg-type]


def image(fmt: str, size: tuple[int, int] = (200, 160)) -> bytes:
    img = Image.new("RGB", size, (40, 90, 160))
    for x in range(60, 140):
        for y in range(40, 120):
            img.putpixel((x, y), (x, y, 128))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def test_the_examined_face_is_the_recorded_box_with_a_margin() -> None:
    data = image("JPEG")
    box = {"left": 60, "top": 40, "right": 140, "bottom": 120}
    crop = report_photos.face_crop(data, box)
    assert crop is not None and crop.startswith(b"\x89PNG")
    with Image.open(io.BytesIO(crop)) as c:
        assert c.size == (80 + 2 * 20, 80 + 2 * 20)  # a quarter of the box on each side
    assert report_photos.face_crop(data, box) == crop  # the same records, the same bytes
    edge = report_photos.face_crop(data, {"left": 0, "top": 0, "right": 100, "bottom": 40})
    assert edge is not None
    with Image.open(io.BytesIO(edge)) as c:
        assert c.size == (125, 50)  # kept inside the image
    assert report_photos.face_crop(data, None) is None
    assert report_photos.face_crop(b"not an image", box) is None


def candidate(path: Path, sha: str, date: str | None) -> dict[str, Any]:
    return {
        "rank": 1,
        "subject": "S1",
        "image": str(path),
        "image_sha256": sha,
        "encounter_date": date,
        "template_id": None,
    }


def test_a_gallery_photo_is_shown_only_as_enrolled(tmp_path: Path) -> None:
    photo = tmp_path / "s1.jpg"
    data = image("JPEG")
    photo.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    [p] = listed(photo, sha)
    assert p["data"] == data and p["stored"] == data and not p["converted"]
    assert p["problem"] is None and p["face"] is None and p["face_problem"]

    photo.write_bytes(image("PNG"))  # changed since enrollment
    [p] = listed(photo, sha)
    assert p["data"] is None and "changed since it was enrolled" in p["problem"]
    photo.unlink()
    [p] = listed(photo, sha)
    assert p["data"] is None and "cannot be read" in p["problem"]


def test_the_caption_gives_the_photo_date_and_says_what_is_missing(tmp_path: Path) -> None:
    webp = image("WEBP")
    shown, converted = report_photos.embeddable(webp)
    assert converted and shown.startswith(b"\x89PNG")
    base = {"rank": 2, "subject": "S2", "sha256": "ab" * 32, "face": None, "face_problem": "x"}

    doc = Document("t", "b")
    _candidate_photo(doc, {**base, "data": shown, "converted": True, "date": "2019-04-02"})
    pic = next(b for b in doc.blocks if isinstance(b, Picture))
    assert "rank 2, dated 2019-04-02;" in pic.caption and "re-encoded as PNG" in pic.caption
    assert "ab" * 32 in pic.caption

    doc = Document("t", "b")
    _candidate_photo(doc, {**base, "data": None, "date": None, "problem": "gone"})
    [para] = [b for b in doc.blocks if isinstance(b, Para)]
    assert para.warning and "its date not recorded" in para.text and "gone" in para.text
    assert not any(isinstance(b, Picture) for b in doc.blocks)


def test_the_probe_face_cites_the_searchs_own_probe_record(tmp_path: Path) -> None:
    """Two requests filed the same bytes: each search's report shows its own probe record
    (the earlier one may belong to another case)."""
    from leadguard.storage.tables import ProbeRecord
    from leadguard.storage.workspace import Workspace

    data = image("PNG")
    sha = hashlib.sha256(data).hexdigest()
    ws = Workspace.init(tmp_path / "ws")
    with ws.session() as s:
        rows = [
            ProbeRecord(
                sha256=sha, source_type="cctv", original_name=n, exif={}, edits=[], data=data
            )
            for n in ("first.png", "second.png")
        ]
        s.add_all(rows)
        s.flush()
        first, second = rows[0].id, rows[1].id
        result = {
            "probe": {
                "sha256": sha,
                "face": {"box": {"left": 40, "top": 30, "right": 120, "bottom": 130}},
            }
        }
        assert report_photos.probe_face(s, result, second)["probe_id"] == second
        assert report_photos.probe_face(s, result, first)["probe_id"] == first
        assert report_photos.probe_face(s, result)["probe_id"] == first  # none named: the first
    ws.close()
