"""A disclosure packet as one zip: fixed timestamps, sorted names, and a MANIFEST.sha256
of every file in it (``sha256  path`` lines, as ``sha256sum -c`` reads them)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from importlib import resources
from typing import Any

MANIFEST = "MANIFEST.sha256"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold: no clock in the archive


def as_json(data: Any) -> bytes:
    return (
        json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    ).encode()


def verifier_source() -> bytes:
    """The standalone verification script (standard library only) shipped in each packet."""
    return resources.files("leadguard.reports").joinpath("verify_disclosure.py").read_bytes()


def manifest(files: dict[str, bytes]) -> bytes:
    return "".join(f"{hashlib.sha256(files[n]).hexdigest()}  {n}\n" for n in sorted(files)).encode()


def build_zip(files: dict[str, bytes]) -> bytes:
    """The archive with the manifest added; the same files give the same bytes."""
    everything = {**files, MANIFEST: manifest(files)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name in sorted(everything):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            z.writestr(info, everything[name])
    return buf.getvalue()
