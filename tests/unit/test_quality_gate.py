"""Quality gate logic, policy files and probe edits (synthetic inputs; real faces are in
tests/integration/test_quality.py)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from leadguard.core.errors import InputError
from leadguard.pipeline.measures import Measure
from leadguard.quality.gate import PolicyError, assess, load_policy, parse_policy
from leadguard.quality.provenance import (
    Edit,
    ProbeRefused,
    apply_edits,
    check_source_type,
    editor_flag,
    read_exif,
)

POLICY = """
[provenance]
prohibited_source_types = [
  "sketch", "composite", "artist_rendering", "computer_generated", "lookalike",
]

[measures.sharpness]
refuse_below = 20
warn_below = 50

[measures.yaw]
warn_below = 40
"""


def m(name: str, score: int, raw: float = 1.0) -> Measure:
    return Measure(name, raw, "u", score, "")


def test_refusal_floor_and_warning_band() -> None:
    policy = parse_policy(POLICY, "test")
    assert assess({"sharpness": m("sharpness", 80), "yaw": m("yaw", 90)}, policy).decision == "pass"
    warn = assess({"sharpness": m("sharpness", 30), "yaw": m("yaw", 90)}, policy)
    assert warn.decision == "warn" and [f.measure for f in warn.findings] == ["sharpness"]
    assert "warning band 50" in warn.warnings()[0]
    refuse = assess({"sharpness": m("sharpness", 10, 3.2), "yaw": m("yaw", 30)}, policy)
    assert refuse.decision == "refuse"
    assert {(f.measure, f.level) for f in refuse.findings} == {
        ("sharpness", "refuse"),
        ("yaw", "warn"),
    }
    assert "sharpness = 3.2 u (score 10, refusal floor 20)" in refuse.findings[0].text()


def test_bad_policies_are_refused_with_the_reason() -> None:
    with pytest.raises(PolicyError, match="not valid TOML"):
        parse_policy("[measures", "p.toml")
    with pytest.raises(PolicyError, match="score from 0 to 100"):
        parse_policy(POLICY.replace("refuse_below = 20", "refuse_below = 200"), "p.toml")
    with pytest.raises(PolicyError, match="below its refuse_below"):
        parse_policy(POLICY.replace("warn_below = 50", "warn_below = 10"), "p.toml")
    with pytest.raises(PolicyError, match="must keep"):
        parse_policy(POLICY.replace('"sketch", ', ""), "p.toml")


def test_the_shipped_policy_loads_and_has_measured_rules() -> None:
    policy = load_policy()
    assert policy.unified is not None and "sketch" in policy.prohibited_source_types
    assert any(r.refuse_below is not None for r in policy.rules.values())


def test_each_model_gets_the_policy_derived_for_it() -> None:
    dlib = load_policy(face_model="dlib-resnet")
    assert dlib.source == "leadguard/quality/data/policy.toml (shipped)"
    assert load_policy(face_model="dlib").source == dlib.source  # the old name of the model
    sface = load_policy(face_model="sface")
    assert sface.source == "leadguard/quality/data/policy-sface.toml (shipped)"
    assert sface.unified is not None and dlib.unified is not None
    assert sface.unified.weights != dlib.unified.weights  # fitted on SFace's own misses
    assert any(r.refuse_below is not None for r in sface.rules.values())
    plug_in = load_policy(face_model="some-plug-in")
    assert plug_in.rules == dlib.rules and "derived for dlib-resnet only" in plug_in.source


def test_prohibited_and_unknown_source_types() -> None:
    check_source_type("surveillance_still", ("sketch",))
    with pytest.raises(ProbeRefused, match="prohibited by policy"):
        check_source_type("sketch", ("sketch",))
    with pytest.raises(InputError, match="not one of"):
        check_source_type("polaroid", ("sketch",))


def _png(w: int = 64, h: int = 48) -> bytes:
    img = Image.new("RGB", (w, h))
    for x in range(w):
        for y in range(h):
            img.putpixel((x, y), (x * 4 % 256, y * 5 % 256, (x * y) % 256))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_edits_recompute_byte_for_byte_and_in_order() -> None:
    edits = [Edit.parse(s) for s in ("crop:4,4,60,44", "rotate:90", "brightness:1.3")]
    a = apply_edits(_png(), edits, "x.png")
    assert a == apply_edits(_png(), edits, "x.png")
    assert Image.open(io.BytesIO(a)).size == (40, 56)  # cropped 56x40, then turned
    turned_first = [Edit.parse("rotate:90"), Edit.parse("crop:4,4,44,60")]
    assert a != apply_edits(_png(), turned_first, "x.png")


def test_edits_outside_the_offer_are_refused() -> None:
    with pytest.raises(InputError, match="unknown edit 'paste'"):
        Edit.parse("paste:1,2")
    with pytest.raises(InputError, match="takes 4"):
        Edit.parse("crop:1,2")
    with pytest.raises(InputError, match="outside"):
        apply_edits(_png(), [Edit.parse("crop:0,0,500,10")], "x.png")


def test_exif_software_of_an_image_editor_is_flagged() -> None:
    img = Image.open(io.BytesIO(_png())).convert("RGB")
    exif = Image.Exif()
    exif[305] = "Adobe Photoshop 25.0 (Windows)"
    exif[271] = "Canon"
    buf = io.BytesIO()
    img.save(buf, format="JPEG", exif=exif)
    read = read_exif(buf.getvalue())
    assert read["software"].startswith("Adobe Photoshop") and read["camera_make"] == "Canon"
    assert editor_flag(read) == "photoshop"
    assert editor_flag({"software": "Camera firmware 1.2"}) is None


def test_unified_score_keeps_only_measures_that_predict_fewer_misses() -> None:
    import numpy as np

    from leadguard.quality.study import edc, fit_unified

    rng = np.random.default_rng(0)
    sharp = rng.uniform(0, 100, 2000)
    confound = rng.uniform(0, 100, 2000)
    missed = rng.uniform(0, 1, 2000) < 0.4 * (1 - sharp / 100) + 0.002 * confound
    u = fit_unified(np.column_stack([sharp, confound]), missed, ["sharpness", "confound"])
    assert set(u.weights) == {"sharpness"} and u.weights["sharpness"] < 0
    good = u.score({"sharpness": m("sharpness", 95)})
    bad = u.score({"sharpness": m("sharpness", 5)})
    assert 0 <= bad < good <= 100
    # discarding the lowest-quality pairs lowers the miss rate at a fixed threshold
    scores = np.where(missed, 0.5, 0.99)
    curve = edc(sharp, scores, threshold=0.9)
    assert curve[0]["fnmr"] == missed.mean()
    assert curve[-1]["fnmr"] < curve[0]["fnmr"]


def test_a_policy_path_that_is_a_pipe_or_not_text_is_a_clear_error(tmp_path: Path) -> None:
    import os

    fifo, binary = tmp_path / "pipe.toml", tmp_path / "binary.toml"
    os.mkfifo(fifo)  # read whole, this never ends
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PolicyError, match="not a regular file"):
        load_policy(fifo)
    with pytest.raises(PolicyError, match="not UTF-8 text"):
        load_policy(binary)
