"""Probe provenance: the probe as received (bytes, SHA-256, EXIF, declared source type),
and edits done by LeadGuard itself as an ordered list that recomputes the edited image.

Edits are crop, rotate, resize, brightness, contrast and de-blur (unsharp mask). Pasting
features from another face is not an edit LeadGuard offers. The edited image is written as
PNG, so the same original and edit list give the same bytes.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageEnhance, ImageFilter, UnidentifiedImageError

from leadguard.errors import InputError
from leadguard.quality.gate import PROHIBITED_SOURCE_TYPES, SOURCE_TYPES

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
        return cls(op, args)


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


def apply_edits(original: bytes, edits: list[Edit], source: str) -> bytes:
    """The edited image (PNG bytes) from the original bytes and the ordered edit list."""
    try:
        img = Image.open(io.BytesIO(original))
        img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"{source}: cannot be edited: not a readable image ({exc})") from exc
    from PIL import ImageOps

    out = ImageOps.exif_transpose(img).convert("RGB")
    for e in edits:
        out = _apply(out, e)
    buf = io.BytesIO()
    out.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def read_exif(data: bytes) -> dict[str, str]:
    try:
        img = Image.open(io.BytesIO(data))
        exif = img.getexif()
    except (UnidentifiedImageError, OSError):
        return {}
    out = {name: str(exif[tag]).strip("\x00 ") for tag, name in EXIF_TAGS.items() if tag in exif}
    sub = exif.get_ifd(EXIF_IFD)
    out.update(
        {name: str(sub[tag]).strip("\x00 ") for tag, name in EXIF_SUB_TAGS.items() if tag in sub}
    )
    return out


def editor_flag(exif: dict[str, str]) -> str | None:
    """The editing software named in the EXIF Software tag, if it is an image editor."""
    software = exif.get("software", "").lower()
    return next((e for e in EDITORS if e in software), None)


def check_source_type(source_type: str, prohibited: tuple[str, ...]) -> None:
    if source_type in prohibited:
        raise ProbeRefused(
            f"probe source type {source_type!r} is prohibited by policy: a sketch, composite, "
            "artist's rendering, computer-generated face or look-alike substitute is not a "
            "photo of the person sought, and a search on it can only find look-alikes"
        )
    if source_type not in SOURCE_TYPES:
        raise InputError(
            f"probe source type {source_type!r} is not one of "
            f"{', '.join(SOURCE_TYPES)} (prohibited: {', '.join(PROHIBITED_SOURCE_TYPES)})"
        )
