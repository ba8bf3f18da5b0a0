"""Read image bytes safely: identify by SHA-256, refuse bombs, apply EXIF orientation.

Accepted: JPEG (and MPO), PNG (palette, alpha, 16-bit), WebP, BMP, greyscale. Everything is
converted to 8-bit RGB; transparency is composited over mid-grey so that an alpha channel
never turns a face black.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from leadguard.errors import UnreadableImage
from leadguard.types import DecodedImage

ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP"})
_BACKGROUND = (128, 128, 128)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_file(path: Path, max_bytes: int) -> bytes:
    """Read a file's bytes, refusing missing, unreadable or oversized files."""
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise UnreadableImage(str(path), "file not found") from exc
    except OSError as exc:
        raise UnreadableImage(str(path), f"cannot read file ({exc.strerror})") from exc
    if not path.is_file():
        raise UnreadableImage(str(path), "not a regular file")
    if size > max_bytes:
        raise UnreadableImage(str(path), f"file is {size} bytes, over the limit of {max_bytes}")
    if size == 0:
        raise UnreadableImage(str(path), "file is empty")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableImage(str(path), f"cannot read file ({exc.strerror})") from exc


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
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def decode_image(data: bytes, source: str, max_pixels: int) -> DecodedImage:
    """Decode bytes into an 8-bit RGB image, or raise UnreadableImage naming the reason."""
    digest = sha256_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            fmt = img.format or "unknown"
            if fmt not in ACCEPTED_FORMATS:
                raise UnreadableImage(
                    source,
                    f"unsupported image format {fmt} (accepted: JPEG, PNG, WebP, BMP)",
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
            img.load()
            oriented: Image.Image = ImageOps.exif_transpose(img)
            pixels = _to_rgb8(oriented)
    except UnreadableImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnreadableImage(source, f"refused as a possible decompression bomb ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise UnreadableImage(source, "not an image file, or a format that cannot be read") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise UnreadableImage(source, f"corrupt or truncated image data ({exc})") from exc
    h, w = pixels.shape[:2]
    return DecodedImage(
        source=source,
        sha256=digest,
        format=fmt,
        width=w,
        height=h,
        byte_size=len(data),
        pixels=pixels,
    )
