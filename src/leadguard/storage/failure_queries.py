"""The enrollment failures' rows (``enroll_failures``) as the chain's digest reads them: per
space, the images that failed to enroll and why (a re-run skips them). Written by
``storage.queries`` (``save_failure``, ``save_templates``); their digest is kept in the chain
by ``leadguard.audit.failures_state``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from leadguard.storage.tables import EnrollFailure
from leadguard.storage.typed_rows import typed_keys, typed_rows

# (image sha256, source path, reason code, message), as stored
FailureRow = tuple[Any, ...]

_COLUMNS = (
    EnrollFailure.sha256,
    EnrollFailure.source_path,
    EnrollFailure.reason_code,
    EnrollFailure.message,
)


def failure_spaces(session: Session) -> list[Any]:
    """The space keys of the failure rows, as stored (``cache_queries.cache_spaces``)."""
    return typed_keys(session, EnrollFailure.space_key)


def iter_failure_rows(session: Session, space_key: str, chunk: int = 5000) -> Iterator[FailureRow]:
    """Every failure row of a space as stored, ``chunk`` rows at a time, in no order."""
    yield from typed_rows(session, _COLUMNS, EnrollFailure.space_key == space_key, chunk)


def failure_rows_of(session: Session, space_key: str, shas: list[str]) -> list[FailureRow]:
    """The failure rows of these images in a space as stored, sorted."""
    out: list[FailureRow] = []
    for start in range(0, len(shas), 5000):
        part = shas[start : start + 5000]
        where = (EnrollFailure.space_key == space_key) & EnrollFailure.sha256.in_(part)
        out += typed_rows(session, _COLUMNS, where)
    return sorted(out, key=repr)


def delete_space_failures(session: Session, space_key: str) -> int:
    """Delete every failure row of a space; returns rows deleted."""
    done = session.execute(delete(EnrollFailure).where(EnrollFailure.space_key == space_key))
    return int(done.rowcount or 0)  # type: ignore[attr-defined]
