"""Read image bytes safely: identify by SHA-256, refuse bombs, apply EXIF orientation.

Accepted: JPEG (and MPO), PNG (palette, alpha, 16-bit), WebP, BMP, greyscale. Everything is
converted to 8-bit RGB; transparency is composited over mid-grey so that an alpha channel
never turns a face black.
"""

from __future__ import annotations

import hashlib
import io
import stat
import warnings
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from leadguard.core.errors import UnreadableImage
from leadguard.core.textsafe import shown_path
from leadguard.core.types import DecodedImage

ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP"})
_BACKGROUND = (128, 128, 128)
ORIENTATION = 0x0112  # the EXIF orientation tag
# A face photo is never a strip: longer sides beyond this ratio are refused before decoding
# (a 77 KB PNG of 1 x 40,000,000 pixels took 3.3 GB and 45 s through the detector).
MAX_ASPECT_RATIO = 8.0
# Decoded bytes per pixel by Pillow mode (worst case for modes not listed: 8).
_MODE_BYTES = {
    "1": 1,
    "L": 1,
    "P": 1,
    "LA": 2,
    "PA": 2,
    "RGB": 3,
    "YCbCr": 3,
    "LAB": 3,
    "HSV": 3,
    "RGBA": 4,
    "CMYK": 4,
    "RGBX": 4,
    "I": 4,
    "F": 4,
    "I;16": 2,
    "I;16B": 2,
    "I;16L": 2,
    "I;16N": 2,
}
# Memory budget of one decode: the decoded image plus the 8-bit RGB copy (and a rotated one).
DECODE_BUDGET_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True)
class Header:
    """What the file says about itself, read without decoding pixels."""

    format: str
    width: int
    height: int
    mode: str
    frames: int


@contextmanager
def _quiet() -> Iterator[None]:
    """Pillow warnings (corrupt EXIF, bombs) become errors or silence, never stderr noise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


def _guard(img: Image.Image, data: bytes, source: str, max_pixels: int) -> Header:
    fmt = img.format or "unknown"
    if fmt not in ACCEPTED_FORMATS:
        raise UnreadableImage(
            source, f"unsupported image format {fmt} (accepted: JPEG, PNG, WebP, BMP)"
        )
    width, height = img.size
    if width <= 0 or height <= 0:
        raise UnreadableImage(source, f"image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise UnreadableImage(
            source,
            f"image is {width}x{height} = {width * height} pixels, over the limit of "
            f"{max_pixels} (possible decompression bomb)",
        )
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height) and max(width, height) > 64:
        raise UnreadableImage(
            source,
            f"image is {width}x{height}: a side more than {MAX_ASPECT_RATIO:g} times the other "
            "is not a face photo (refused before decoding)",
        )
    need = width * height * (_MODE_BYTES.get(img.mode, 8) + 3 * 2)
    if need > DECODE_BUDGET_BYTES:
        raise UnreadableImage(
            source,
            f"decoding {width}x{height} {img.mode} needs about {need // 2**20} MiB, over the "
            f"budget of {DECODE_BUDGET_BYTES // 2**20} MiB",
        )
    frames = int(getattr(img, "n_frames", 1) or 1)
    if frames > 1 and fmt != "MPO":
        raise UnreadableImage(
            source,
            f"animated {fmt} with {frames} frames: extract the frame to search as a still "
            "image (animations are refused, like GIF)",
        )
    if fmt in ("JPEG", "MPO", "PNG", "WEBP", "BMP") and _has_zip(data):
        raise UnreadableImage(
            source,
            f"the {fmt} file is also a ZIP archive (a polyglot with data appended): refused; "
            "export the image again from its source",
        )
    return Header(fmt, width, height, img.mode, frames)


def _has_zip(data: bytes) -> bool:
    if b"PK\x05\x06" not in data[-66000:]:
        return False
    try:
        return zipfile.is_zipfile(io.BytesIO(data))
    except Exception:  # a malformed archive is still an archive stuck on the image
        return True


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _header_refusal(exc: BaseException, source: str) -> UnreadableImage:
    """The refusal for an exception raised while opening or checking the header."""
    if isinstance(exc, UnreadableImage):
        return exc
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return UnreadableImage(source, f"refused as a possible decompression bomb ({exc})")
    if isinstance(exc, UnidentifiedImageError):
        return UnreadableImage(source, "not an image file, or a format that cannot be read")
    if isinstance(exc, MemoryError):
        return UnreadableImage(source, "image header needs more memory than allowed")
    # any parser failure on hostile bytes is a refusal, not a crash
    if isinstance(exc, ValueError) and "too large" in str(exc).lower():
        return UnreadableImage(
            source, f"refused: a compressed metadata chunk is too large ({_describe(exc)})"
        )
    return UnreadableImage(source, f"corrupt or truncated image header ({_describe(exc)})")


def check_header(data: bytes, source: str, max_pixels: int) -> Header:
    """Read the header only and refuse, before any pixel is decoded: unsupported formats,
    pixel counts over the limit, strips, decodes over the memory budget, animations and
    image+ZIP polyglots. Raises UnreadableImage naming the reason."""
    try:
        with _quiet(), Image.open(io.BytesIO(data)) as img:
            return _guard(img, data, source, max_pixels)
    except Exception as exc:
        raise _header_refusal(exc, source) from exc


def decode_image(
    data: bytes,
    source: str,
    max_pixels: int,
    header: Header | None = None,
    sha256: str | None = None,
) -> DecodedImage:
    """Decode bytes into an 8-bit RGB image, or raise UnreadableImage naming the reason.
    The header is checked first (``check_header``'s rules, on the same opened file that is
    then decoded: the bytes are parsed once): nothing is decoded past the budget.
    ``header``: the result of that check on these very bytes, when the caller has just made
    it (a probe's intake), so it is not made twice. ``sha256``: the digest of these very
    bytes, when the caller has taken it (enrollment's main process), so it is not taken
    again."""
    digest = sha256 or sha256_bytes(data)
    with _quiet():
        try:
            img = Image.open(io.BytesIO(data))
            if header is None:
                header = _guard(img, data, source, max_pixels)
        except Exception as exc:
            raise _header_refusal(exc, source) from exc
        try:
            with img:
                pixels = _decode_opened(img)
        except UnreadableImage:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise UnreadableImage(
                source, f"refused as a possible decompression bomb ({exc})"
            ) from exc
        except UnidentifiedImageError as exc:
            raise UnreadableImage(
                source, "not an image file, or a format that cannot be read"
            ) from exc
        except MemoryError as exc:
            raise UnreadableImage(source, "decoding needs more memory than is available") from exc
        except Exception as exc:  # hostile bytes: name the failure, never a traceback
            raise UnreadableImage(
                source, f"corrupt or truncated image data ({_describe(exc)})"
            ) from exc
    h, w = pixels.shape[:2]
    return DecodedImage(
        source=source,
        sha256=digest,
        format=header.format,
        width=w,
        height=h,
        byte_size=len(data),
        pixels=pixels,
    )


def _decode_opened(img: Image.Image) -> np.ndarray:
    """The 8-bit RGB pixels of an opened image (first frame), EXIF orientation applied."""
    if getattr(img, "n_frames", 1) > 1:  # an MPO's count was read: back to its first frame
        img.seek(0)
    img.load()
    try:  # (exif_transpose copies the image even when it has nothing to turn)
        turned = img.getexif().get(ORIENTATION, 1) not in (1, None)
        oriented: Image.Image = ImageOps.exif_transpose(img) if turned else img
    except Exception:  # malformed orientation/EXIF: keep the pixels as stored
        oriented = img
    return _to_rgb8(oriented)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a plain file"


def read_file(path: Path, max_bytes: int) -> bytes:
    """Read a file's bytes, refusing missing, unreadable, special or oversized files."""
    where = shown_path(path)
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        kind = "dangling symbolic link" if path.is_symlink() else "file not found"
        raise UnreadableImage(where, kind) from exc
    except OSError as exc:
        raise UnreadableImage(where, f"cannot read file ({exc.strerror})") from exc
    if not stat.S_ISREG(st.st_mode):
        raise UnreadableImage(where, f"not a regular file ({file_kind(st.st_mode)})")
    size = st.st_size
    if size > max_bytes:
        raise UnreadableImage(where, f"file is {size} bytes, over the limit of {max_bytes}")
    if size == 0:
        raise UnreadableImage(where, "file is empty")
    try:
        with path.open("rb") as fh:
            data = fh.read(max_bytes + 1)  # a file that grew after stat() is still bounded
    except OSError as exc:
        raise UnreadableImage(where, f"cannot read file ({exc.strerror})") from exc
    if len(data) > max_bytes:
        raise UnreadableImage(where, f"file grew over the limit of {max_bytes} bytes")
    return data


def _to_rgb8(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.uint32)
        peak = 65535 if mode.startswith("I;16") else max(int(arr.max()), 1)
        grey = (arr.astype(np.float64) * (255.0 / peak)).round().clip(0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        grey = ((arr - lo) / max(hi - lo, 1e-12) * 255).round().astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*_BACKGROUND, 255))
        img = Image.alpha_composite(background, rgba)
    if mode != "RGB":
        img = img.convert("RGB")
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
