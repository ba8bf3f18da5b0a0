"""Filing a search request runs the search's header and decode checks: a truncated JPEG is
refused when the request is filed, with the message the search would give, and nothing is
stored; an intact photo is filed; a chosen face the photo does not hold is refused at filing."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select

from leadguard.core.errors import UnreadableImage
from leadguard.pipeline.decode import decode_image
from leadguard.services import accounts
from leadguard.services.casework import service as cw
from leadguard.services.context import Context
from leadguard.storage.tables import AuditEntry, ProbeRecord, SearchRequest
from tests.unit.accounts_kit import PW, north_desk


@pytest.fixture()
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    c = north_desk(tmp_path / "ws", monkeypatch)
    sup = accounts.login(c, "sup", PW).actor
    cw.open_case(c, sup, "C-1", "Robbery", date(2026, 3, 1), "d", {}, "Det. R", "warrant")
    cw.assign(c, sup, "C-1", "ex1")
    return c


def _jpeg() -> bytes:
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 255, size=(240, 200, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _counts(ctx: Context) -> tuple[int, int]:
    with ctx.session() as s:
        reqs = s.scalar(select(func.count()).select_from(SearchRequest)) or 0
        probes = s.scalar(select(func.count()).select_from(ProbeRecord)) or 0
    return reqs, probes


def test_a_truncated_jpeg_is_refused_at_filing(ctx: Context, tmp_path: Path) -> None:
    data = _jpeg()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[: len(data) // 2])  # the header is intact: only decoding fails
    with pytest.raises(UnreadableImage) as search_err:  # what the search's decode says
        decode_image(cut.read_bytes(), "still.jpg", ctx.settings.max_image_pixels)
    ex1 = accounts.login(ctx, "ex1", PW).actor
    with pytest.raises(UnreadableImage) as err:
        cw.request_search(ctx, ex1, "C-1", cut, "surveillance_still", "p", shown_as="still.jpg")
    assert str(err.value) == str(search_err.value)
    assert "corrupt or truncated image data" in str(err.value)
    assert str(tmp_path) not in str(err.value)  # the file's name, never the server's path
    assert _counts(ctx) == (0, 0)  # neither the request nor the probe was stored
    with ctx.session() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert last.action == "refused" and last.details["kind"] == "UnreadableImage"


def test_an_intact_photo_is_filed(ctx: Context, tmp_path: Path) -> None:
    good = tmp_path / "good.jpg"
    good.write_bytes(_jpeg())
    ex1 = accounts.login(ctx, "ex1", PW).actor
    info = cw.request_search(ctx, ex1, "C-1", good, "surveillance_still", "p")
    assert info.probe_sha256 and _counts(ctx) == (1, 1)


def test_a_face_the_photo_does_not_hold_is_refused_at_filing(ctx: Context, datasets: Path) -> None:
    """``--face 99`` used to be filed, approved and refused only at the search."""
    from leadguard.core.errors import FaceError

    photo = datasets / "lfw" / "images" / "Lino_Oviedo" / "Lino_Oviedo_0003.jpg"
    ex1 = accounts.login(ctx, "ex1", PW).actor
    with pytest.raises(FaceError, match=r"no face 99: the image has \d+ face"):
        cw.request_search(ctx, ex1, "C-1", photo, "surveillance_still", "p", face=99)
    assert _counts(ctx) == (0, 0)
    info = cw.request_search(ctx, ex1, "C-1", photo, "surveillance_still", "p", face=0)
    assert info.probe_sha256 and _counts(ctx) == (1, 1)
