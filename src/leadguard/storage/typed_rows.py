"""Rows read exactly as stored, for the set digests of the chain (``audit.table_state``).

SQLite keeps any value in any column: a text with bytes that are not UTF-8 (which its
driver cannot decode: a traceback, not a finding), a blob where a key belongs (which no
comparison with a text key matches). On SQLite each column is therefore read as its type
and its bytes, and turned back into the value Python would have written: a text decoded
with ``surrogateescape`` (valid text reads as before; invalid bytes can never equal a
valid text), a blob as bytes, numbers as numbers. PostgreSQL enforces its column types and
is read as it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, cast, func, select
from sqlalchemy.orm import Session


def _value(kind: str, raw: bytes | None) -> Any:
    if raw is None or kind == "null":
        return None
    if kind == "integer":
        return int(raw.decode("ascii"))
    if kind == "real":
        return float(raw.decode("ascii"))
    if kind == "text":
        return raw.decode("utf-8", "surrogateescape")
    return bytes(raw)


def typed_rows(
    session: Session,
    columns: Sequence[Any],  # columns or mapped attributes
    where: ColumnElement[bool] | None = None,
    chunk: int = 5000,
    distinct: bool = False,
) -> Iterator[tuple[Any, ...]]:
    """The rows ``where`` selects (each once, with ``distinct``), ``chunk`` at a time, each
    column as stored."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    picked: list[ColumnElement[Any]] = []
    for c in columns:
        picked += [func.typeof(c), cast(c, LargeBinary)] if sqlite else [c]
    q = select(*picked)
    if where is not None:
        q = q.where(where)
    if distinct:
        q = q.distinct()
    for part in session.execute(q.execution_options(yield_per=chunk)).partitions():
        for r in part:
            if sqlite:
                yield tuple(_value(r[i], r[i + 1]) for i in range(0, len(r), 2))
            else:
                yield tuple(r)


def typed_keys(session: Session, column: Any) -> list[Any]:
    """The distinct values of a column as stored (a blob where a text belongs stays bytes)."""
    return sorted((r[0] for r in typed_rows(session, [column], distinct=True)), key=repr)
