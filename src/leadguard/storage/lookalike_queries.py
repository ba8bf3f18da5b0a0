"""The look-alike counts' table (``lookalike_counts``): per template, how many other
enrolled people score at least each point of the grid against it. Counted by
``leadguard.evidence.lookalikes``, kept by ``leadguard.gallery.lookalikes``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from leadguard.storage.tables import (
    Encounter,
    FaceRecord,
    ImageRecord,
    LookalikeCount,
    TemplateRecord,
)
from leadguard.storage.typed_rows import typed_keys, typed_rows


def template_subjects(
    session: Session, space_key: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """A space's template ids (ascending) and the subject (database id) each belongs to."""
    rows = session.execute(
        select(TemplateRecord.id, Encounter.subject_id)
        .join(FaceRecord, TemplateRecord.face_id == FaceRecord.id)
        .join(ImageRecord, FaceRecord.image_id == ImageRecord.id)
        .join(Encounter, ImageRecord.encounter_id == Encounter.id)
        .where(TemplateRecord.space_key == space_key)
        .order_by(TemplateRecord.id)
    ).all()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    subjects = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    return ids, subjects


_ROW = (LookalikeCount.template_id, LookalikeCount.grid, LookalikeCount.counts)


def lookalike_rows(session: Session, ids: list[int]) -> dict[int, tuple[str, bytes]]:
    """template id -> (grid name, counts bytes) of those of ``ids`` that have a row (whose
    counts are bytes), each as stored (``typed_rows``: a grid of bytes that are not UTF-8
    is read as a name no grid has, never a traceback)."""
    out: dict[int, tuple[str, bytes]] = {}
    for start in range(0, len(ids), 5000):
        part = ids[start : start + 5000]
        rows = typed_rows(session, _ROW, LookalikeCount.template_id.in_(part))
        out.update({int(r[0]): (str(r[1]), b) for r in rows if (b := _blob(r[2])) is not None})
    return out


def space_lookalike_rows(session: Session, space_key: str) -> dict[int, tuple[str, bytes]]:
    """Every look-alike row of a space: template id -> (grid name, counts bytes)."""
    rows = typed_rows(session, _ROW, LookalikeCount.space_key == space_key)
    return {int(r[0]): (str(r[1]), b) for r in rows if (b := _blob(r[2])) is not None}


def _blob(value: object) -> bytes | None:
    """A counts value as bytes, or None where the column holds something else: SQLite keeps
    any type in any column, so a text or a number set by hand is read as no row at all (the
    check names it missing, a list says no count is kept), never as a traceback."""
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else None


def insert_lookalike_rows(
    session: Session, space_key: str, grid: str, rows: list[tuple[int, bytes]]
) -> None:
    if rows:
        session.execute(
            insert(LookalikeCount),
            [
                {"template_id": i, "space_key": space_key, "grid": grid, "counts": c}
                for i, c in rows
            ],
        )


def update_lookalike_rows(session: Session, rows: list[tuple[int, bytes]]) -> None:
    """New counts for existing rows (by template id), in one statement per few thousand."""
    table = cast(Table, LookalikeCount.__table__)
    statement = (
        update(table)
        .where(table.c.template_id == bindparam("tid"))
        .values(counts=bindparam("blob"))
    )
    for start in range(0, len(rows), 5000):  # a Core executemany: no ORM bookkeeping per row
        part = rows[start : start + 5000]
        session.execute(statement, [{"tid": i, "blob": c} for i, c in part])


def delete_lookalike_rows(
    session: Session, space_key: str | None = None, ids: list[int] | None = None
) -> None:
    """The rows of these templates, or every row of a space."""
    if ids is not None:
        for start in range(0, len(ids), 5000):
            part = ids[start : start + 5000]
            session.execute(delete(LookalikeCount).where(LookalikeCount.template_id.in_(part)))
    elif space_key is not None:
        session.execute(delete(LookalikeCount).where(LookalikeCount.space_key == space_key))


def iter_space_rows(
    session: Session, space_key: str, chunk: int = 5000
) -> Iterator[tuple[Any, str, bytes | None]]:
    """Every look-alike row of a space as (template id, grid name, counts bytes; None where
    the column holds no bytes), each as stored (``typed_rows``: a grid of bytes that are not
    UTF-8 is read, not a traceback), a chunk of rows at a time (bounded memory whatever the
    gallery), in no particular order (a set digest does not depend on one)."""
    where = LookalikeCount.space_key == space_key
    for tid, grid, counts in typed_rows(session, _ROW, where, chunk):
        yield tid, str(grid), _blob(counts)


def lookalike_spaces(session: Session) -> list[Any]:
    """The space keys of the look-alike rows, as stored (a key that is not text is returned
    as it is: ``verify`` names it)."""
    return typed_keys(session, LookalikeCount.space_key)
