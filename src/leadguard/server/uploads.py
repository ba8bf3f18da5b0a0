"""An uploaded probe becomes a private temporary file for the service that reads it (the
services take a path; the stored probe is its bytes, so the file goes once read). The
client's file name is kept only as a label, reduced to safe characters."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
    """Refuse a query parameter or form field the endpoint does not take (400, naming it and
    those it does take), and a single-valued form field given twice: a misspelt optional
    field (``incident-date`` for ``incident_date``, ``object`` for ``prefix``) was dropped
    without a word and the request ran without it; of two probe files the last was
    searched."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    queries = _query_params(route.dependant)
    _refuse_unknown(request, route, "query parameter", set(request.query_params), queries)
    if not request.headers.get("content-type", "").startswith(FORM_TYPES):
        return
    form = await request.form()  # already parsed for the endpoint: cached
    _refuse_unknown(request, route, "form field", set(form.keys()), route.dependant.body_params)
    for name in sorted(set(form.keys())):
        given = len(form.getlist(name))
        if given > 1:
            raise InputError(
                f"{request.method} {route.path}: form field {printable(name)[:64]!r} given "
                f"{given} times; it takes one"
            )


def _query_params(dependant: Any) -> list[Any]:
    """The query parameters an endpoint and its dependencies take."""
    found = list(dependant.query_params)
    for sub in dependant.dependencies:
        found += _query_params(sub)
    return found


def _refuse_unknown(
    request: Request, route: APIRoute, kind: str, given: set[str], params: list[Any]
) -> None:
    taken = {p.alias for p in params}
    if unknown := sorted(given - taken):
        names = ", ".join(repr(printable(n)[:64]) for n in unknown[:10])
        raise InputError(
            f"{request.method} {route.path}: no such {kind} {names} "
            f"(it takes {', '.join(sorted(taken)) or 'none'})"
        )
