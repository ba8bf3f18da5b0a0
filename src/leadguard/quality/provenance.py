"""Probe provenance: the probe as received (bytes, SHA-256, EXIF, declared source type),
and edits done by LeadGuard itself as an ordered list that recomputes the edited image.

Edits are crop, rotate, resize, brightness, contrast and de-blur (unsharp mask). Pasting
features from another face is not an edit LeadGuard offers. The edited image is written as
PNG, so the same original and edit list give the same bytes.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageEnhance, ImageFilter

from leadguard.core.errors import InputError, UnreadableImage
from leadguard.pipeline.decode import check_header
from leadguard.quality.gate import (
    PROHIBITED_SOURCE_TYPES,
    REPHOTO_KINDS,
    SOURCE_TYPES,
    split_source_type,
)

EDITORS = (
    "photoshop",
    "gimp",
    "lightroom",
    "snapseed",
    "pixelmator",
    "affinity",
    "paint.net",
    "facetune",
    "picsart",
    "photopea",
    "canva",
    "luminar",
    "capture one",
    "faceapp",
    "meitu",
)
EXIF_TAGS = {271: "camera_make", 272: "camera_model", 305: "software", 306: "modified"}
EXIF_IFD = 0x8769
EXIF_SUB_TAGS = {36867: "captured", 36868: "digitised"}
EDIT_ARGS = {
    "crop": 4,  # left, top, right, bottom (pixels)
    "rotate": 1,  # degrees, counter-clockwise
    "resize": 1,  # scale factor
    "brightness": 1,  # factor, 1 = unchanged
    "contrast": 1,  # factor, 1 = unchanged
    "deblur": 2,  # unsharp mask radius (px), amount (percent)
}
# Allowed range of each argument (inclusive); NaN and infinities are never allowed.
EDIT_BOUNDS: dict[str, list[tuple[float, float]]] = {
    "crop": [(0, 1_000_000)] * 4,
    "rotate": [(-360, 360)],
    "resize": [(0.05, 8)],
    "brightness": [(0.01, 10)],
    "contrast": [(0.01, 10)],
    "deblur": [(0.1, 100), (0, 1000)],
}
DEFAULT_MAX_PIXELS = 50_000_000


class ProbeRefused(InputError):
    """A probe that policy does not allow to be searched at all."""


@dataclass(frozen=True)
class Edit:
    op: str
    args: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"op": self.op, "args": list(self.args)}

    @classmethod
    def parse(cls, spec: str) -> Edit:
        """``op:a,b,...`` e.g. ``crop:10,20,210,260``, ``rotate:90``, ``brightness:1.4``."""
        op, _, rest = spec.partition(":")
        op = op.strip().lower()
        if op not in EDIT_ARGS:
            raise InputError(
                f"edit {spec!r}: unknown edit {op!r}; LeadGuard offers {sorted(EDIT_ARGS)} "
                "(no other edits, and none that paste features from another face)"
            )
        try:
            args = tuple(float(a) for a in rest.split(",")) if rest else ()
        except ValueError as exc:
            raise InputError(f"edit {spec!r}: arguments must be numbers") from exc
        if len(args) != EDIT_ARGS[op]:
            raise InputError(f"edit {spec!r}: {op} takes {EDIT_ARGS[op]} number(s)")
        for value, (lo, hi) in zip(args, EDIT_BOUNDS[op], strict=True):
            if not math.isfinite(value):
                raise InputError(f"edit {spec!r}: {value} is not a finite number")
            if not lo <= value <= hi:
                raise InputError(f"edit {spec!r}: {value:g} is outside {lo:g} to {hi:g}")
        return cls(op, args)

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        """The size of the image this edit makes from a ``width`` x ``height`` one."""
        a = self.args
        if self.op == "crop":
            return max(0, round(a[2]) - round(a[0])), max(0, round(a[3]) - round(a[1]))
        if self.op == "resize":
            return max(1, round(width * a[0])), max(1, round(height * a[0]))
        if self.op == "rotate":
            c, s = abs(math.cos(math.radians(a[0]))), abs(math.sin(math.radians(a[0])))
            return math.ceil(width * c + height * s), math.ceil(width * s + height * c)
        return width, height


def _apply(img: Image.Image, e: Edit) -> Image.Image:
    a = e.args
    if e.op == "crop":
        left, top, right, bottom = (round(v) for v in a)
        if not (0 <= left < right <= img.width and 0 <= top < bottom <= img.height):
            raise InputError(f"edit crop {a}: outside the {img.width}x{img.height} image")
        return img.crop((left, top, right, bottom))
    if e.op == "rotate":
        return img.rotate(a[0], resample=Image.Resampling.BICUBIC, expand=True)
    if e.op == "resize":
        if not 0.05 <= a[0] <= 8:
            raise InputError(f"edit resize {a[0]}: scale must be within 0.05 to 8")
        size = (max(1, round(img.width * a[0])), max(1, round(img.height * a[0])))
        return img.resize(size, Image.Resampling.LANCZOS)
    if not 0 < a[0] <= 10:
        raise InputError(f"edit {e.op} {a[0]}: factor must be within (0, 10]")
    if e.op == "brightness":
        return ImageEnhance.Brightness(img).enhance(a[0])
    if e.op == "contrast":
        return ImageEnhance.Contrast(img).enhance(a[0])
    return img.filter(ImageFilter.UnsharpMask(radius=a[0], percent=int(a[1]), threshold=0))


def apply_edits(
    original: bytes, edits: list[Edit], source: str, max_pixels: int = DEFAULT_MAX_PIXELS
) -> bytes:
    """The edited image (PNG bytes) from the original bytes and the ordered edit list.
    The pixel limit is checked on the header before decoding and before every edit."""
    from PIL import ImageOps

    try:
        check_header(original, source, max_pixels)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img: Image.Image = Image.open(io.BytesIO(original))
            img.load()
            with contextlib.suppress(Exception):  # malformed EXIF: edit pixels as stored
                img = ImageOps.exif_transpose(img)
            out = img.convert("RGB")
    except UnreadableImage as exc:
        raise InputError(f"{source}: cannot be edited: {exc.reason}") from exc
    except Exception as exc:
        raise InputError(f"{source}: cannot be edited: not a readable image ({exc})") from exc
    for e in edits:
        w, h = e.output_size(out.width, out.height)
        if w * h > max_pixels:
            raise InputError(
                f"{source}: edit {e.op}{list(e.args)} would make a {w}x{h} image "
                f"({w * h} pixels), over the limit of {max_pixels}"
            )
        out = _apply(out, e)
    buf = io.BytesIO()
    out.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _exif_text(value: object) -> str:
    """An EXIF value as short printable text (values are attacker-controlled)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = "".join(ch if ch.isprintable() else " " for ch in str(value)).strip("\x00 ")
    return text[:200]


def read_exif(data: bytes) -> dict[str, str]:
    """The few EXIF fields kept as provenance; malformed EXIF gives what could be read (or
    nothing), never a warning on the terminal or an exception."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            exif = img.getexif()
            out = {name: _exif_text(exif[tag]) for tag, name in EXIF_TAGS.items() if tag in exif}
            sub = exif.get_ifd(EXIF_IFD)
            out.update(
                {name: _exif_text(sub[tag]) for tag, name in EXIF_SUB_TAGS.items() if tag in sub}
            )
    except Exception:  # hostile EXIF: provenance holds what is known, i.e. nothing
        return {}
    return out


def editor_flag(exif: dict[str, str]) -> str | None:
    """The editing software named in the EXIF Software tag, if it is an image editor."""
    software = exif.get("software", "").lower()
    return next((e for e in EDITORS if e in software), None)


def check_source_type(source_type: str, prohibited: tuple[str, ...]) -> None:
    """A listed source type, or a re-photograph (``screen_photo/ORIGINAL``,
    ``print_photo/ORIGINAL``) of a listed one; a prohibited kind is refused, re-photographed
    or not (a photo of a sketch on a screen is still a sketch)."""
    kind, original = split_source_type(source_type)
    if original is not None:
        if kind not in REPHOTO_KINDS:
            raise InputError(
                f"probe source type {source_type!r}: only {', '.join(REPHOTO_KINDS)} take an "
                "original's source type after '/'"
            )
        if not original or "/" in original:
            raise InputError(
                f"probe source type {source_type!r}: name the original's source type once, "
                f"e.g. {kind}/surveillance_still"
            )
        check_source_type(original, prohibited)
        return
    if source_type in REPHOTO_KINDS:
        raise InputError(
            f"probe source type {source_type!r}: name the original's source type too, e.g. "
            f"{source_type}/surveillance_still (what the screen or print showed)"
        )
    if source_type in prohibited:
        raise ProbeRefused(
            f"probe source type {source_type!r} is prohibited by policy: a sketch, composite, "
            "artist's rendering, computer-generated face or look-alike substitute is not a "
            "photo of the person sought, and a search on it can only find look-alikes"
        )
    if source_type not in SOURCE_TYPES:
        raise InputError(
            f"probe source type {source_type!r} is not one of "
            f"{', '.join(SOURCE_TYPES)}, or {'/ORIGINAL, '.join(REPHOTO_KINDS)}/ORIGINAL for a "
            f"photo of a screen or print (prohibited: {', '.join(PROHIBITED_SOURCE_TYPES)})"
        )
