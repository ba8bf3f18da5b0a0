"""The evaluation cache's table (``template_cache``): templates of evaluation images, kept
per image hash and embedding space so that a second run recomputes nothing. Written by
``leadguard.evaluation.templates``; its digest is kept in the chain by
``leadguard.audit.cache_state``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from leadguard.storage.tables import TemplateCache
from leadguard.storage.typed_rows import typed_keys, typed_rows

# (image sha256, vector bytes or None, faces in the image, error code, error), as stored:
# a value set by hand to another type (SQLite keeps any type in any column) is kept as read.
CacheRow = tuple[Any, ...]

_COLUMNS = (
    TemplateCache.sha256,
    TemplateCache.vector,
    TemplateCache.faces_in_image,
    TemplateCache.error_code,
    TemplateCache.error,
)


def cache_spaces(session: Session) -> list[Any]:
    """The space keys of the cached rows, as stored (a key that is not text, set by hand in
    SQLite, is returned as it is: ``verify`` names it)."""
    return typed_keys(session, TemplateCache.space_key)


def iter_cache_rows(session: Session, space_key: str, chunk: int = 5000) -> Iterator[CacheRow]:
    """Every cached row of a space as stored, ``chunk`` rows at a time (bounded memory), in
    no particular order (a set digest does not depend on one)."""
    yield from typed_rows(session, _COLUMNS, TemplateCache.space_key == space_key, chunk)


def cached_rows_of_images(session: Session, shas: list[str]) -> dict[Any, list[CacheRow]]:
    """The cached rows of these images as stored, per space key (what an expungement
    deletes)."""
    out: dict[Any, list[CacheRow]] = {}
    for start in range(0, len(shas), 5000):
        part = shas[start : start + 5000]
        cols = (TemplateCache.space_key, *_COLUMNS)
        for r in typed_rows(session, cols, TemplateCache.sha256.in_(part)):
            out.setdefault(r[0], []).append(tuple(r[1:]))
    return out


def cached_shas(session: Session, space_key: str, shas: list[str]) -> set[str]:
    """Which of these image hashes a space has cached."""
    out: set[str] = set()
    for start in range(0, len(shas), 5000):
        part = shas[start : start + 5000]
        q = select(TemplateCache.sha256).where(
            TemplateCache.space_key == space_key, TemplateCache.sha256.in_(part)
        )
        out |= {str(x) for x in session.scalars(q).all()}
    return out


def delete_space_cache(session: Session, space_key: str) -> int:
    """Delete every cached template of a space; returns rows deleted."""
    done = session.execute(delete(TemplateCache).where(TemplateCache.space_key == space_key))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def purge_images(session: Session, shas: list[str]) -> int:
    """Delete every space's cached templates of these images; returns rows deleted."""
    n = 0
    for start in range(0, len(shas), 5000):
        done = session.execute(
            delete(TemplateCache).where(TemplateCache.sha256.in_(shas[start : start + 5000]))
        )
        n += int(done.rowcount or 0)  # type: ignore[attr-defined]
    return n


def insert_cache_rows(session: Session, space_key: str, rows: list[CacheRow]) -> None:
    """Store cached templates of a space."""
    session.add_all(
        TemplateCache(
            sha256=sha,
            space_key=space_key,
            vector=blob,
            faces_in_image=faces,
            error_code=code,
            error=error,
        )
        for sha, blob, faces, code, error in rows
    )
