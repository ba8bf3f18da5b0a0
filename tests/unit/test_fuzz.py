"""Property-based fuzzing (Hypothesis) of every parser that reads outside input: image
decoding and the header guard, EXIF reading, CSV manifests, edit lists and policy files.

The property is always the same: a result, or LeadGuard's own error naming the thing; never
another exception. ``make test`` runs the "ci" profile (bounded, derandomised); the script
benchmarks/fuzz.py runs the "long" profile. A crash found becomes an example below.
"""

from __future__ import annotations

import io
import math
import os
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from leadguard.core.csvsafe import read_table
from leadguard.core.errors import InputError, ManifestError, UnreadableImage
from leadguard.gallery.sources import read_manifest
from leadguard.pipeline.decode import check_header, decode_image
from leadguard.quality.gate import PolicyError, parse_policy
from leadguard.quality.provenance import Edit, apply_edits, read_exif

settings.register_profile(
    "ci",
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "long",
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "20000")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

MAX_PIXELS = 2_000_000


def _seed_images() -> list[bytes]:
    img = Image.new("RGB", (24, 16), (10, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[305] = "GIMP 2.10"
    out = []
    for fmt, kw in (
        ("JPEG", {"exif": exif.tobytes()}),
        ("PNG", {}),
        ("WEBP", {}),
        ("BMP", {}),
        ("GIF", {}),
    ):
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        out.append(buf.getvalue())
    return out


SEEDS = _seed_images()


@st.composite
def mutated_image(draw: st.DrawFn) -> bytes:
    """A valid small image with bytes flipped, cut, spliced or inserted (header included)."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert", "set_big"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        elif op == "set_big" and pos + 4 <= len(data):
            data[pos : pos + 4] = b"\xff\xff\x7f\xff"  # huge sizes in headers
    return bytes(data)


images = st.one_of(mutated_image(), st.binary(max_size=2048))


@given(images)
@example(b"")
@example(b"\x89PNG\r\n\x1a\n")
def test_decode_gives_an_image_or_a_named_refusal(data: bytes) -> None:
    try:
        img = decode_image(data, "fuzz.img", MAX_PIXELS)
    except UnreadableImage as exc:
        assert exc.source == "fuzz.img" and exc.reason
        return
    assert img.pixels.ndim == 3 and img.pixels.shape[2] == 3
    assert img.width * img.height <= MAX_PIXELS


@given(images)
def test_header_guard_gives_a_header_or_a_named_refusal(data: bytes) -> None:
    try:
        h = check_header(data, "fuzz.img", MAX_PIXELS)
    except UnreadableImage as exc:
        assert exc.reason
        return
    assert h.width * h.height <= MAX_PIXELS and h.frames == 1


@given(images)
def test_exif_reading_never_raises(data: bytes) -> None:
    exif = read_exif(data)
    assert all(isinstance(v, str) and v.isprintable() and len(v) <= 200 for v in exif.values())


csv_alphabet = st.sampled_from([*"abc/.,\"'\n\r\t ;", "\x00", "é", "\ufeff", "[", "]", "\x1b"])
csv_text = st.text(csv_alphabet, max_size=300)


@given(st.one_of(csv_text.map(lambda t: t.encode()), st.binary(max_size=300)))
@example(b'path,subject_id\na.jpg,"x\nb.jpg,y\n')
@example(b"path,subject_id,path\na.jpg,x,b.jpg\n")
@example("path,subject_id\na.jpg,Jos\xe9\n".encode("latin-1"))
@example(b";,\xef\xbb\xbf")  # found: an invisible subject id (a BOM, U+FEFF) was accepted
def test_manifest_gives_rows_or_a_named_refusal(tmp_path_factory, data: bytes) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("csv")
    path = folder / "m.csv"
    path.write_bytes(b"path,subject_id\n" + data if data[:1] != b"p" else data)
    try:
        src = read_manifest(path)
    except ManifestError as exc:
        assert str(path) in str(exc)
        return
    for item in src.items:
        assert item.info.external_id.isprintable() and len(item.info.external_id) <= 128
        assert item.path.resolve().is_relative_to(folder.resolve())
    try:
        table = read_table(path)
    except ManifestError:
        pytest.fail("read_table refused what read_manifest read")
    assert all(r.line >= 2 for r in table.rows)


numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**40), 10**40),
    st.sampled_from(["nan", "inf", "-inf", "1e30", "", " ", "0x10", "1_0", "--1"]),
)


@st.composite
def edit_spec(draw: st.DrawFn) -> str:
    op = draw(
        st.sampled_from(["crop", "rotate", "resize", "brightness", "contrast", "deblur", "x"])
    )
    args = draw(st.lists(numbers, max_size=5))
    return f"{op}:{','.join(str(a) for a in args)}"


@given(st.one_of(edit_spec(), st.text(max_size=40)))
@example("crop:nan,0,10,10")
@example("rotate:inf")
@example("deblur:2,1e30")
@example("resize:1e308")
def test_edit_parsing_gives_a_finite_edit_or_a_named_refusal(spec: str) -> None:
    try:
        e = Edit.parse(spec)
    except InputError as exc:
        assert "edit" in str(exc)
        return
    assert all(math.isfinite(a) for a in e.args)


SMALL = SEEDS[1]  # the 24x16 PNG


@given(st.lists(edit_spec(), max_size=6))
@example(["resize:8", "resize:8", "resize:8", "resize:8"])
@example(["rotate:45", "resize:8", "rotate:45", "resize:8", "resize:8"])
def test_edit_lists_give_an_image_within_budget_or_a_refusal(specs: list[str]) -> None:
    try:
        edits = [Edit.parse(s) for s in specs]
        out = apply_edits(SMALL, edits, "fuzz.png", max_pixels=200_000)
    except InputError:
        return
    with Image.open(io.BytesIO(out)) as img:
        assert img.width * img.height <= 200_000


toml_key = st.sampled_from(
    ["measures", "unified", "provenance", "refuse_below", "warn_below", "model", "weights",
     "intercept", "prohibited_source_types", "roll", "compression", "x"]
)  # fmt: skip
toml_value = st.recursive(
    st.one_of(
        st.integers(-1000, 1000),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.booleans(),
        st.text(string.ascii_letters, max_size=8),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(toml_key, inner, max_size=4)
    ),
    max_leaves=12,
)


def _toml(d: dict, prefix: str = "") -> str:  # type: ignore[type-arg]
    import json

    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((k, v))
        else:
            lines.append(f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}")
    out = "\n".join(lines) + "\n"
    for k, v in tables:
        name = f"{prefix}.{k}" if prefix else k
        out += f"[{name}]\n" + _toml(v, name)
    return out


@given(
    st.one_of(st.dictionaries(toml_key, toml_value, max_size=5).map(_toml), st.text(max_size=200))
)
@example('[provenance]\nprohibited_source_types = "sketch"\n')
@example("measures = 3\n")
@example("[unified]\nmodel = 1\n")
def test_policy_file_gives_a_policy_or_a_named_refusal(text: str) -> None:
    try:
        policy = parse_policy(text, "fuzz.toml")
    except PolicyError as exc:
        assert "quality policy" in str(exc) or "fuzz.toml" in str(exc)
        return
    assert policy.source == "fuzz.toml"


def test_profiles_are_bounded_in_make_test() -> None:
    assert settings.get_profile("ci").max_examples <= 200
    assert Path(__file__).name == "test_fuzz.py"
