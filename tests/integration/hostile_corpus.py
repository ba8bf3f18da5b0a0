"""A hostile-input corpus generated into a temporary folder (no dataset copies).

``probe_kinds`` writes one file (or special entry) per kind and says whether LeadGuard should
accept it (``ok``) or refuse it with a reason containing ``why``. ``manifest_kinds`` does the
same for CSV manifests. Faces come from the dlib Johns chips (read, re-encoded in memory).
"""

from __future__ import annotations

import io
import os
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

from tests.conftest import FIXTURES

JOHNS = FIXTURES / "dlib_johns"


@dataclass(frozen=True)
class Kind:
    name: str  # the file name inside the corpus folder
    ok: bool  # True: a usable image (search may still find no face: see why)
    why: str  # a word the refusal must contain ("" for ok)


def johns_chips() -> list[Path]:
    return sorted(JOHNS.glob("*/*.jpg"))


def face() -> Image.Image:
    return Image.open(johns_chips()[0]).convert("RGB")


def _enc(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png_header_bomb(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_header_bomb(data: bytes, width: int, height: int) -> bytes:
    """A real JPEG whose SOF marker is patched to declare ``width`` x ``height``."""
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            return data[: i + 5] + struct.pack(">HH", height, width) + data[i + 9 :]
        i += 2 + length
    raise ValueError("no SOF marker")


def bmp_header_bomb(width: int, height: int) -> bytes:
    header = struct.pack("<2sIHHI", b"BM", 54 + 16, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 16, 2835, 2835, 0, 0)
    return header + info + b"\x00" * 16


def _exif_jpeg(img: Image.Image, tags: dict[int, object]) -> bytes:
    exif = Image.Exif()
    for k, v in tags.items():
        exif[k] = v
    return _enc(img, "JPEG", exif=exif.tobytes())


def _malformed_exif_jpeg(img: Image.Image) -> bytes:
    good = _enc(img, "JPEG")
    rnd = random.Random(7)
    payload = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08" + bytes(
        rnd.randrange(256) for _ in range(300)
    )
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return good[:2] + app1 + good[2:]


def _frames(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (64, 64), (40 * i, 80, 120)) for i in range(n)]


def _grid_of_faces(n: int, cols: int) -> bytes:
    chips = johns_chips()
    rows = (n + cols - 1) // cols
    canvas = Image.new("RGB", (cols * 150, rows * 150), (128, 128, 128))
    for i in range(n):
        canvas.paste(
            Image.open(chips[i % len(chips)]).convert("RGB"), ((i % cols) * 150, (i // cols) * 150)
        )
    return _enc(canvas, "JPEG", quality=92)


def probe_kinds(folder: Path) -> list[Kind]:
    """Write the probe corpus into ``folder``; returns each kind (folder/name is the file)."""
    folder.mkdir(parents=True, exist_ok=True)
    f = face()
    jpg = _enc(f, "JPEG", quality=92)
    png = _enc(f, "PNG")
    rnd = random.Random(13)
    kinds: list[Kind] = []

    def put(name: str, data: bytes | Callable[[Path], None], ok: bool, why: str = "") -> None:
        path = folder / name
        if callable(data):
            data(path)
        else:
            path.write_bytes(data)
        kinds.append(Kind(name, ok, why))

    # usable images in many encodings
    put("plain.jpg", jpg, True)
    put("greyscale.jpg", _enc(f.convert("L"), "JPEG"), True)
    put("cmyk.jpg", _enc(f.convert("CMYK"), "JPEG"), True)
    put("palette.png", _enc(f.convert("P"), "PNG"), True)
    put("rgba.png", _enc(f.convert("RGBA"), "PNG"), True)
    wide = np.asarray(f.convert("L"), dtype=np.uint16) * 257  # the full 16-bit range
    put("sixteen_bit.png", _enc(Image.fromarray(wide), "PNG"), True)
    put("plain.webp", _enc(f, "WEBP"), True)
    put("plain.bmp", _enc(f, "BMP"), True)
    put("progressive.jpg", _enc(f, "JPEG", progressive=True), True)
    put("orientation_9.jpg", _exif_jpeg(f, {0x0112: 9}), True)
    put("orientation_65535.jpg", _exif_jpeg(f, {0x0112: 65535}), True)
    put("orientation_6.jpg", _exif_jpeg(f.rotate(90, expand=True), {0x0112: 6}), True)
    put("huge_exif.jpg", _exif_jpeg(f, {305: "A" * 60000, 271: "\x00" * 1000}), True)
    put("malformed_exif.jpg", _malformed_exif_jpeg(f), True)
    put("editor_exif.jpg", _exif_jpeg(f, {305: "Adobe Photoshop [red]x[/red]\x1b[2J"}), True)
    put("x" * 200 + ".jpg", jpg, True)  # a very long name
    put("name [link=https:∕∕evil.example]Click[∕link] [red].jpg", jpg, True)
    put("line\nbreak\x1b[31m.jpg", jpg, True)
    put(os.fsdecode(b"latin1_\xe9\xff.jpg"), jpg, False, "UTF-8")
    # refused: empty, truncated, not an image
    put("empty.jpg", b"", False, "empty")
    put("truncated.jpg", jpg[: len(jpg) // 3], False, "truncated")
    put("truncated.png", png[: len(png) // 2], False, "truncated")
    put("header_only.jpg", jpg[:20], False, "")
    put("random.jpg", bytes(rnd.randrange(256) for _ in range(5000)), False, "not an image")
    put(
        "random.png",
        b"\x89PNG\r\n\x1a\n" + bytes(rnd.randrange(256) for _ in range(500)),
        False,
        "",
    )
    put("bad_crc.png", png[:30] + bytes([png[30] ^ 0xFF]) + png[31:], False, "")
    put("text.jpg", b"just some text, not a picture\n" * 10, False, "not an image")
    put("page.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>', False, "")
    put("doc.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", False, "")
    put("page.html", b"<html><body><img src=x onerror=alert(1)></body></html>", False, "")
    put("fake.heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200, False, "")
    put("image.avif", _enc(f, "AVIF"), False, "unsupported")
    put("archive.jpg", _zip_bytes(), False, "")
    put("elf.jpg", b"\x7fELF\x02\x01\x01" + b"\x00" * 500, False, "")
    # refused: bombs and budgets
    put("bomb_header.png", png_header_bomb(65000, 65000), False, "bomb")
    put("bomb_header.jpg", jpeg_header_bomb(jpg, 65000, 65000), False, "bomb")
    put("bomb_header.bmp", bmp_header_bomb(20000, 20000), False, "")
    put("bomb_81mpx.png", _enc(Image.new("L", (9000, 9000)), "PNG"), False, "limit")
    put("strip_1x40M.png", _enc(Image.new("L", (1, 40_000_000)), "PNG"), False, "face photo")
    put("wide_20000x2000.png", _enc(Image.new("L", (20000, 2000)), "PNG"), False, "face photo")
    info = PngImagePlugin.PngInfo()
    info.add_text("bomb", "A" * 30_000_000, zip=True)
    put("ztxt_bomb.png", _enc(Image.new("RGB", (64, 64)), "PNG", pnginfo=info), False, "large")
    put(
        "iccp_bomb.png",
        _enc(Image.new("RGB", (64, 64)), "PNG", icc_profile=b"\0" * 30_000_000),
        False,
        "large",
    )
    put("oversize.jpg", lambda p: _sparse(p, 70 * 1024 * 1024), False, "over the limit")
    # refused: formats LeadGuard does not take, animations and polyglots
    put("animated.gif", _anim("GIF"), False, "unsupported")
    put("still.gif", _enc(f, "GIF"), False, "unsupported")
    put("animated.webp", _anim("WEBP"), False, "animated")
    put("animated.png", _anim("PNG"), False, "animated")
    put("multipage.tiff", _anim("TIFF"), False, "unsupported")
    put("polyglot.jpg", jpg + _zip_bytes(), False, "ZIP")
    put("one_pixel.png", _enc(Image.new("RGB", (1, 1)), "PNG"), False, "face")
    # faces: none, twenty
    put("no_face.png", _enc(Image.new("RGB", (320, 240), (200, 180, 160)), "PNG"), False, "face")
    put("twenty_faces.jpg", _grid_of_faces(20, 5), False, "faces")
    # not regular files
    put("fifo.jpg", lambda p: os.mkfifo(p), False, "FIFO")
    put(
        "loop_a.jpg",
        lambda p: (
            os.symlink(p.with_name("loop_b.jpg"), p),
            os.symlink(p, p.with_name("loop_b.jpg")),
        ),
        False,
        "",
    )
    put("dangling.jpg", lambda p: os.symlink(p.with_name("nowhere.jpg"), p), False, "")
    put("devzero.jpg", lambda p: os.symlink("/dev/zero", p), False, "character device")
    put("folder.jpg", lambda p: p.mkdir(), False, "folder")
    put("passwd.jpg", lambda p: os.symlink("/etc/passwd", p), False, "")
    return kinds


def _sparse(path: Path, size: int) -> None:
    with path.open("wb") as fh:
        fh.truncate(size)


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("payload.txt", "hidden " * 50)
    return buf.getvalue()


def _anim(fmt: str) -> bytes:
    frames = _frames(3)
    return _enc(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


@dataclass(frozen=True)
class ManifestKind:
    name: str
    text: bytes
    whole_file_refused: bool  # ManifestError for the file, else per-row problems
    why: str


def manifest_kinds(
    folder: Path, image: str, identity_column: str = "subject_id"
) -> list[ManifestKind]:
    """CSV manifests in ``folder``, all pointing at ``image`` (a file in that folder)."""
    c = identity_column
    cases = [
        ("missing_column.csv", f"path\n{image}\n", True, "header"),
        (
            "duplicated_column.csv",
            f"path,{c},path\n{image},alice,other.jpg\n",
            True,
            "more than once",
        ),
        ("extra_fields.csv", f"path,{c}\n{image},alice,surplus\n", False, "extra"),
        ("missing_fields.csv", f"path,{c},sex\n{image},alice\n", False, "missing"),
        (
            "unterminated_quote.csv",
            f'path,{c}\n{image},"alice\nb.jpg,bob\nc.jpg,carol\n',
            False,
            "quot",
        ),
        ("latin1.csv", f"path,{c}\n{image},Jos\xe9\n".encode("latin-1"), True, "UTF-8"),
        ("utf16.csv", f"path,{c}\n{image},alice\n".encode("utf-16"), True, "UTF-16"),
        ("nul_byte.csv", f"path,{c}\n{image},al\x00ice\n", True, "NUL"),
        ("empty.csv", b"", True, "empty"),
        ("outside_relative.csv", f"path,{c}\n../../../etc/passwd,alice\n", False, "outside"),
        ("outside_absolute.csv", f"path,{c}\n/etc/passwd,alice\n", False, "outside"),
        ("long_subject.csv", f"path,{c}\n{image},{'a' * 10000}\n", False, "long"),
        ("newline_subject.csv", f'path,{c}\n{image},"al\nice"\n', False, "lines"),
        ("escape_subject.csv", f"path,{c}\n{image},al\x1b[2Jice\n", False, "control"),
        ("bad_date.csv", f"path,{c},encounter_date\n{image},alice,9999-12-31\n", False, "date"),
    ]
    out = []
    for name, text, whole, why in cases:
        data = text if isinstance(text, bytes) else text.encode()
        (folder / name).write_bytes(data)
        out.append(ManifestKind(name, data, whole, why))
    return out
