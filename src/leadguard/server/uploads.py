"""An uploaded probe becomes a private temporary file for the service that reads it (the
services take a path; the stored probe is its bytes, so the file goes once read). The
client's file name is kept only as a label, reduced to safe characters."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.datastructures import UploadFile

from leadguard.core.errors import InputError
from leadguard.core.textsafe import printable
from leadguard.server.errors import TooLarge
from leadguard.services.context import Context

SAFE = re.compile(r"[^A-Za-z0-9._-]+")
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


def label(name: str | None) -> str:
    base = SAFE.sub("_", (name or "upload").rsplit("/", 1)[-1].rsplit("\\", 1)[-1])
    base = base.lstrip(".")[:80]
    return base or "upload"


async def read_upload(ctx: Context, upload: UploadFile) -> bytes:
    limit = ctx.settings.max_image_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{label(upload.filename)}: larger than max_image_bytes ({limit} bytes)")
    return data


def _unpath(exc: BaseException, path: str, tmp: str, shown: str) -> None:
    """Rewrite the server's temporary path out of an error's message (and the ``source``
    and ``reason`` an image error keeps): the client sees the name of the file it sent."""

    def clean(text: str) -> str:
        return text.replace(path, shown).replace(tmp, "upload")

    exc.args = tuple(clean(a) if isinstance(a, str) else a for a in exc.args)
    for attr in ("source", "reason"):
        value = getattr(exc, attr, None)
        if isinstance(value, str):
            setattr(exc, attr, clean(value))


@contextmanager
def as_file(data: bytes, name: str | None) -> Iterator[Path]:
    """The upload as a private temporary file; any error raised while it is in use names
    the uploaded file (its label), never the temporary path."""
    with tempfile.TemporaryDirectory(prefix="leadguard-upload-") as tmp:
        path = Path(tmp) / label(name)
        path.write_bytes(data)
        path.chmod(0o600)
        try:
            yield path
        except Exception as exc:
            _unpath(exc, str(path), tmp, label(name))
            raise


async def known_fields(request: Request) -> None:
    """Refuse a form field the endpoint does not take (400, naming it and the fields it
    does take): a misspelt optional field (``incident-date`` for ``incident_date``) was
    dropped without a word, and the search ran without it."""
    ctype = request.headers.get("content-type", "")
    route = request.scope.get("route")
    if not ctype.startswith(FORM_TYPES) or not isinstance(route, APIRoute):
        return
    taken = {p.alias for p in route.dependant.body_params}
    given = set((await request.form()).keys())  # already parsed for the endpoint: cached
    if unknown := sorted(given - taken):
        names = ", ".join(repr(printable(n)[:64]) for n in unknown[:10])
        raise InputError(
            f"{request.method} {route.path}: no such form field {names} "
            f"(it takes {', '.join(sorted(taken)) or 'none'})"
        )
