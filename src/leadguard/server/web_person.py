"""The person sought, as form fields: sex, apparent age range, height, build, hair, marks
or tattoos. They become the attributes dict the case service stores (the same keys the CLI's
JSON uses: ``sex`` as ``M``/``F``, as the gallery and the photo array's description record
it; ``age`` as ``30-40``), so that the reviewers' checklist and the lineup read them as
before. Presentation and parsing only."""

from __future__ import annotations

from typing import Any

from leadguard.core.errors import InputError
from leadguard.server.web import whole_number

SEXES = ("M", "F")
BUILDS = ("slim", "medium", "heavy", "athletic")
FIELDS = ("sex", "age", "height", "build", "hair", "marks")  # the keys, in the form's order
MAX_TEXT = 200


def _text(f: dict[str, Any], key: str) -> str:
    v = f.get(key)
    return v.strip() if isinstance(v, str) else ""


def _range(f: dict[str, Any], key: str, what: str, lo: int, hi: int) -> tuple[int, int] | None:
    low, high = _text(f, f"{key}_from"), _text(f, f"{key}_to")
    if not low and not high:
        return None
    if not low or not high:
        raise InputError(f"person sought: {what}: give both ends of the range (or neither)")
    a, b = whole_number(low), whole_number(high)
    if a is None or b is None:
        raise InputError(f"person sought: {what}: whole numbers, e.g. {lo + 20} to {lo + 30}")
    if not (lo <= a <= b <= hi):
        raise InputError(f"person sought: {what}: from {lo} to {hi}, the lower end first")
    return a, b


def person_sought(f: dict[str, Any]) -> dict[str, str]:
    """The attributes dict from the form's fields; a field left empty is not described."""
    out: dict[str, str] = {}
    sex = _text(f, "sex")
    if sex:
        if sex not in SEXES:
            raise InputError("person sought: sex is male, female or not described")
        out["sex"] = sex
    age = _range(f, "age", "apparent age", 0, 120)
    if age:
        out["age"] = f"{age[0]}-{age[1]}"
    height = _range(f, "height", "height in cm", 50, 250)
    if height:
        out["height"] = f"{height[0]}-{height[1]} cm"
    build = _text(f, "build")
    if build:
        if build not in BUILDS:
            raise InputError(f"person sought: build is one of {', '.join(BUILDS)}")
        out["build"] = build
    for key in ("hair", "marks"):
        value = _text(f, key)
        if len(value) > MAX_TEXT:
            raise InputError(f"person sought: {key}: at most {MAX_TEXT} characters")
        if value:
            out[key] = value
    return out
