from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from leadguard.core.errors import UnreadableImage
from leadguard.pipeline.decode import decode_image, read_file, sha256_bytes

LIMIT = 50_000_000


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(w: int = 64, h: int = 48) -> Image.Image:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    arr[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    arr[..., 2] = 90
    return Image.fromarray(arr)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP"])
def test_formats_decode_to_rgb8(fmt: str) -> None:
    data = encode(gradient(), fmt)
    img = decode_image(data, "x", LIMIT)
    assert img.format == fmt
    assert img.pixels.shape == (48, 64, 3) and img.pixels.dtype == np.uint8
    assert img.sha256 == sha256_bytes(data)
    assert img.byte_size == len(data)


def test_greyscale_becomes_three_equal_channels() -> None:
    data = encode(gradient().convert("L"), "PNG")
    px = decode_image(data, "g", LIMIT).pixels
    assert np.array_equal(px[..., 0], px[..., 1]) and np.array_equal(px[..., 1], px[..., 2])


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    arr = np.full((10, 10), 32768, dtype=np.uint16)  # half of full scale
    data = encode(Image.fromarray(arr), "PNG")
    px = decode_image(data, "16", LIMIT).pixels
    assert abs(int(px[0, 0, 0]) - 128) <= 1


def test_alpha_is_composited_not_black() -> None:
    rgba = Image.new("RGBA", (8, 8), (255, 255, 255, 0))  # fully transparent white
    px = decode_image(encode(rgba, "PNG"), "a", LIMIT).pixels
    assert px.mean() == pytest.approx(128, abs=1)


def test_exif_orientation_is_applied() -> None:
    img = gradient(64, 48)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = encode(img, "JPEG", exif=exif.tobytes())
    out = decode_image(data, "exif", LIMIT)
    assert (out.width, out.height) == (48, 64)


def test_pixel_limit_refuses_bombs() -> None:
    data = encode(Image.new("L", (2000, 2000)), "PNG")
    with pytest.raises(UnreadableImage, match="over the limit of 1000000"):
        decode_image(data, "bomb.png", 1_000_000)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"this is not an image", "not an image"),
        (b"GIF89a" + b"\x00" * 20, "not an image|unsupported"),
    ],
)
def test_garbage_is_refused_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(UnreadableImage, match=reason) as exc:
        decode_image(data, "bad.bin", LIMIT)
    assert exc.value.source == "bad.bin" and exc.value.code == "unreadable"


def test_unsupported_format_is_named() -> None:
    data = encode(gradient(), "GIF")
    with pytest.raises(UnreadableImage, match="unsupported image format GIF"):
        decode_image(data, "x.gif", LIMIT)


def test_truncated_jpeg_is_refused() -> None:
    data = encode(gradient(256, 256), "JPEG")
    with pytest.raises(UnreadableImage, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2], "cut.jpg", LIMIT)


def test_read_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UnreadableImage, match="file not found"):
        read_file(tmp_path / "missing.jpg", 100)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableImage, match="empty"):
        read_file(empty, 100)
    big = tmp_path / "big.jpg"
    big.write_bytes(b"x" * 101)
    with pytest.raises(UnreadableImage, match="over the limit of 100"):
        read_file(big, 100)
    with pytest.raises(UnreadableImage, match="not a regular file"):
        read_file(tmp_path, 100)


def test_a_digest_already_taken_is_used_and_the_pixels_are_the_same() -> None:
    import hashlib
    import io

    import numpy as np
    from PIL import Image

    from leadguard.pipeline.decode import decode_image

    buf = io.BytesIO()
    Image.fromarray(np.full((40, 30, 3), 120, np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    plain = decode_image(data, "a.jpg", 10**7)
    given = decode_image(data, "a.jpg", 10**7, sha256="f" * 64)
    assert plain.sha256 == hashlib.sha256(data).hexdigest()
    assert given.sha256 == "f" * 64  # the caller's digest, not taken again
    assert np.array_equal(plain.pixels, given.pixels) and plain.format == given.format == "JPEG"
