"""Naming the rows a workspace already holds when the hash chain starts to cover them.

A migration that brings a table into ``audit_records.COVERED`` (every row must be named by
an entry), or that changes a covered table's columns (so that every row's content hash
changes), appends ``audit.baseline`` entries naming each row of the covered tables with its
hash as it stands. The rows are read with Core from the reflected tables, so the migration
does not depend on the tables as later revisions describe them; the hashes are those
``audit.row_digest`` computes for the same rows through the ORM.

What the baseline cannot tell: a row edited before the migration ran is adopted as it is.
Run ``leadguard audit verify`` (and take an anchor) before upgrading.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Connection, MetaData, Table, inspect, select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.audit.records import COVERED

log = logging.getLogger(__name__)

PER_ENTRY = 5000


def adopt(conn: Connection, revision: str, tables: tuple[str, ...] = COVERED) -> int:
    """Append baseline entries (``PER_ENTRY`` records each) for every row of the covered
    tables in this database (``tables``: only those whose columns the migration changed);
    returns the rows named. Nothing when the tables are empty."""
    names = set(inspect(conn).get_table_names())
    session = Session(bind=conn)
    named = 0
    for name in tables:
        if name not in names:
            continue
        table = Table(name, MetaData(), autoload_with=conn)
        pk = next(iter(table.primary_key.columns))
        digests: list[dict[str, Any]] = []
        for row in conn.execute(select(table).order_by(pk)):
            values = dict(row._mapping)
            digests.append(audit.digest_values(name, values[pk.name], values))
        for start in range(0, len(digests), PER_ENTRY):
            part = digests[start : start + PER_ENTRY]
            audit.append(
                session,
                "audit.baseline",
                f"table:{name}",
                {"revision": revision, "rows": len(part), "records": part},
                actor=f"migration:{revision}",
            )
        named += len(digests)
    session.flush()
    if named:
        log.info("audit baseline at revision %s: %d rows named", revision, named)
    return named
