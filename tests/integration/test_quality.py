"""The quality gate and probe provenance on real LFW faces."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageFilter
from sqlalchemy import select
from typer.testing import CliRunner

from leadguard.cli.main import app
from leadguard.pipeline.compose import FacePipeline, FaceSelection
from leadguard.quality.gate import QualityRefused, assess, workspace_policy
from leadguard.quality.provenance import Edit, ProbeRefused, apply_edits
from leadguard.search.request import SearchRequest
from leadguard.storage.tables import FaceRecord, ProbeRecord, SearchLog
from tests.conftest import LFW
from tests.models import model_for, search

pytestmark = pytest.mark.integration
runner = CliRunner()
CLEAN = LFW / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"


def _save(tmp_path: Path, name: str, img: Image.Image, **kw: object) -> Path:
    path = tmp_path / name
    img.save(path, **kw)
    return path


def degraded(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (image, the measure that must be named)."""
    img = Image.open(CLEAN).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=3)
    return {
        "blurred": (
            _save(tmp_path, "blur.png", img.filter(ImageFilter.GaussianBlur(6))),
            "sharpness",
        ),
        "tiny": (_save(tmp_path, "tiny.png", img.resize((70, 70))), "inter_eye_distance"),
        "dark": (
            _save(tmp_path, "dark.png", ImageEnhance.Brightness(img).enhance(0.1)),
            "under_exposure",
        ),
        "compressed": (
            _save(tmp_path, "q3.jpg", Image.open(io.BytesIO(buf.getvalue()))),
            "compression",
        ),
        "cropped": (_save(tmp_path, "crop.png", img.crop((0, 0, 250, 150))), "in_frame"),
    }


def _verdict(ws, path: Path):  # type: ignore[no-untyped-def]
    s = ws.settings
    pipe = FacePipeline(model_for(ws.settings), s.min_face_size, s.max_image_pixels)
    m = pipe.measure(path.read_bytes(), str(path), FaceSelection("reject", None))
    return assess(m.quality, workspace_policy(ws))


def test_a_clean_lfw_face_passes(johns) -> None:
    v = _verdict(johns.ws, CLEAN)
    assert v.decision == "pass", [f.text() for f in v.findings]
    assert v.unified is not None and v.unified > 50
    assert {"sharpness", "yaw", "inter_eye_distance", "compression", "eyes_open"} <= set(v.measures)


def test_degraded_faces_are_refused_or_warned_naming_the_measure(johns, tmp_path: Path) -> None:
    for name, (path, measure) in degraded(tmp_path).items():
        v = _verdict(johns.ws, path)
        named = {f.measure for f in v.findings}
        assert v.decision in ("warn", "refuse") and measure in named, (name, named)


def test_search_applies_the_gate_and_records_a_refusal(johns, tmp_path: Path) -> None:
    refused = None
    for path, _ in degraded(tmp_path).values():
        if _verdict(johns.ws, path).decision == "refuse":
            refused = path
            break
    assert refused is not None, "the policy refuses none of the strong degradations"
    with pytest.raises(QualityRefused, match="refused by the quality gate") as exc:
        search(johns.ws, SearchRequest(refused, source_type="phone_photo", investigation=3))
    assert "score" in str(exc.value) and "refusal floor" in str(exc.value)
    with johns.ws.session() as s:
        row = s.scalars(select(SearchLog).order_by(SearchLog.id.desc())).first()
        assert row is not None and row.outcome == "refused_quality"
        assert s.get(ProbeRecord, row.probe_id).data == refused.read_bytes()


def test_warnings_travel_with_the_candidate_list(johns, tmp_path: Path) -> None:
    warned = [p for p, _ in degraded(tmp_path).values() if _verdict(johns.ws, p).decision == "warn"]
    if not warned:
        pytest.skip("the policy refuses every strong degradation; nothing to warn on")
    result = search(johns.ws, SearchRequest(warned[0], source_type="phone_photo", investigation=3))
    assert result.quality is not None and result.quality["decision"] == "warn"
    assert any(n.startswith("probe quality warning") for n in result.notices)


def test_prohibited_source_types_are_refused_and_recorded(johns) -> None:
    for kind in ("sketch", "composite", "artist_rendering", "computer_generated", "lookalike"):
        with pytest.raises(ProbeRefused, match="prohibited by policy"):
            search(johns.ws, SearchRequest(CLEAN, source_type=kind))
    with johns.ws.session() as s:
        rows = s.scalars(select(SearchLog).where(SearchLog.outcome == "refused_source_type")).all()
        assert len(rows) >= 5


def test_the_edit_list_reproduces_the_searched_image(johns) -> None:
    edits = (
        Edit.parse("crop:40,40,210,210"),
        Edit.parse("brightness:1.2"),
        Edit.parse("deblur:2,80"),
    )
    request = SearchRequest(CLEAN, "surveillance_still", edits=edits, investigation=2)
    result = search(johns.ws, request)
    prov = result.provenance
    assert prov is not None and len(prov["edits_by_leadguard"]) == 3
    with johns.ws.session() as s:
        derived = s.get(ProbeRecord, prov["probe_id"])
        original = s.get(ProbeRecord, derived.parent_id)
        assert original.data == CLEAN.read_bytes() and original.edits == []
        again = apply_edits(
            original.data, [Edit(e["op"], tuple(e["args"])) for e in derived.edits], "x"
        )
        assert again == derived.data  # byte for byte
        assert prov["searched_sha256"] == derived.sha256 != original.sha256


def test_an_editor_in_exif_raises_the_flag(johns, tmp_path: Path) -> None:
    img = Image.open(CLEAN)
    exif = Image.Exif()
    exif[305] = "Adobe Photoshop 24.1 (Macintosh)"
    path = tmp_path / "edited.jpg"
    img.save(path, format="JPEG", quality=95, exif=exif)
    result = search(johns.ws, SearchRequest(path, source_type="social_media", investigation=2))
    assert any("image editor" in n for n in result.notices)
    assert (
        result.provenance and result.provenance["edited_by_software_before_intake"] == "photoshop"
    )


def test_gallery_faces_carry_their_quality(johns) -> None:
    with johns.ws.session() as s:
        faces = s.scalars(select(FaceRecord)).all()
        assert faces and all(f.quality and "measures" in f.quality for f in faces)
        assert all(f.quality["decision"] in ("pass", "warn", "refuse") for f in faces)
    assert len(johns.report.low_quality) == sum(f.quality["decision"] != "pass" for f in faces)
    result = search(johns.ws, SearchRequest(johns.mated_probes[0][0], investigation=5))
    for c in result.candidates:  # each candidate says how good its gallery photo is
        assert c.photo_quality is not None
        assert c.photo_quality["decision"] in ("pass", "warn", "refuse")


def test_cli_quality_and_search_declare_the_source(johns, tmp_path: Path) -> None:
    ws = str(johns.ws.root)
    res = runner.invoke(app, ["quality", str(CLEAN), "-w", ws])
    assert res.exit_code == 0 and "sharpness" in res.output and "verdict: PASS" in res.output
    blur = degraded(tmp_path)["blurred"][0]
    res = runner.invoke(app, ["quality", str(blur), "-w", ws, "--json"])
    assert res.exit_code == 0 and '"sharpness"' in res.output
    res = runner.invoke(app, ["search", str(CLEAN), "-w", ws])
    assert res.exit_code == 2 and "--source-type" in res.output
    res = runner.invoke(app, ["search", str(CLEAN), "-w", ws, "--source-type", "sketch"])
    assert res.exit_code == 2 and "prohibited by policy" in res.output
    res = runner.invoke(
        app, ["search", str(CLEAN), "-w", ws, "--source-type", "other", "--edit", "paste:1"]
    )
    assert res.exit_code == 2 and "unknown edit 'paste'" in res.output
