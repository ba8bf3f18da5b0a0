"""A photo of a screen on a real LFW face: the gate warns, naming the screen, the warning
and the declared source type (with the original's) travel with the result and the record."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from leadguard.search.request import SearchRequest
from leadguard.storage.tables import ProbeRecord, SearchLog
from tests.conftest import LFW
from tests.models import search

pytestmark = pytest.mark.integration
CLEAN = LFW / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"


def photographed_off_a_screen(src: Path, out: Path) -> Path:
    rgb = np.asarray(Image.open(src).convert("RGB")).astype(np.float64)
    yy, xx = np.mgrid[0 : rgb.shape[0], 0 : rgb.shape[1]]
    t = np.radians(12.0)
    grid = np.sin(2 * np.pi * (xx * np.cos(t) + yy * np.sin(t)) / 4.2)
    shot = np.clip(rgb * (0.88 + 0.12 * grid[:, :, None]), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(shot).save(buf, format="JPEG", quality=88)
    out.write_bytes(buf.getvalue())
    return out


def test_a_screen_photo_is_warned_and_declared_in_the_record(johns, tmp_path: Path) -> None:
    probe = photographed_off_a_screen(CLEAN, tmp_path / "screen.jpg")
    request = SearchRequest(probe, "screen_photo/surveillance_still", investigation=3)
    result = search(johns.ws, request)
    screen = [n for n in result.notices if "screen_pattern" in n]
    assert screen and "photo of a screen" in screen[0]
    assert any(
        n.startswith("declared source: screen_photo/surveillance_still") for n in result.notices
    )
    assert result.quality is not None and any(
        "screen_pattern" in f for f in result.quality["findings"]
    )
    with johns.ws.session() as s:
        row = s.scalars(select(SearchLog).order_by(SearchLog.id.desc()).limit(1)).one()
        assert "photo of a screen showing a surveillance_still" in str(row.result)
        stored = s.scalars(select(ProbeRecord).order_by(ProbeRecord.id.desc()).limit(1)).one()
        assert stored.source_type == "screen_photo/surveillance_still"


def test_the_same_face_not_on_a_screen_is_not_warned_about_a_screen(johns) -> None:
    result = search(johns.ws, SearchRequest(CLEAN, source_type="phone_photo", investigation=3))
    assert not [n for n in result.notices if "screen" in n]
