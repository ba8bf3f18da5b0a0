"""The evaluation cache under the chain: one set digest per space (``audit.table_state``).

``template_cache`` holds the templates an evaluation computed, by image hash: a later
``eval`` fits its thresholds and evidence models from them without embedding the images
again. An edited cached template would change what that fit stores, and only embedding the
image again could show it. So each transaction that writes cached templates (a batch of an
evaluation), deletes them (an expungement) or clears a space (``eval clear-cache``) appends
an ``eval.cache.state`` entry with the digest of the space's rows after it; ``audit verify``
compares the rows with it, and every evaluation does the same before it reads the cache
(``check_space``): it refuses a cache that is not what the chain records.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from leadguard.audit.table_state import State, Tracked, typed_record
from leadguard.core.errors import WorkspaceError
from leadguard.storage import cache_queries as cq

ACTION = "eval.cache.state"
TABLE = "template_cache"
REMEDY = (
    "`leadguard eval clear-cache --space {space}` discards the space's cached templates"
    " (audited), and the next evaluation computes them again"
)


TRACKED = Tracked(
    action=ACTION,
    prefix="template_cache:",
    table=TABLE,
    spaces=cq.cache_spaces,
    rows=cq.iter_cache_rows,
    record=typed_record,
    remedy=REMEDY,
)


class CacheChanged(WorkspaceError):
    """The evaluation cache of a space is not what the chain records."""


def check_space(session: Session, space_key: str, rows: list[cq.CacheRow]) -> None:
    """Refuse to fit from ``rows`` (a space's cache, as just read) unless they are the rows
    the latest ``eval.cache.state`` entry records, and that entry stands unaltered in the
    chain (an empty cache with no entry is fine)."""
    want = TRACKED.trusted(session, space_key)
    if isinstance(want, str):
        raise CacheChanged(
            f"evaluation refused: the evaluation cache of space {space_key} cannot be checked:"
            f" {want}; `leadguard audit verify` names what changed"
        )
    found = TRACKED.finding(space_key, want, TRACKED.of_rows(space_key, rows))
    if found:
        raise CacheChanged(f"evaluation refused: {found}")


def record_added(session: Session, space_key: str, rows: list[cq.CacheRow]) -> State:
    return TRACKED.record_change(session, space_key, "evaluation", added=rows)


def record_removed(session: Session, space_key: str, rows: list[cq.CacheRow], why: str) -> State:
    return TRACKED.record_change(session, space_key, why, removed=rows)


def record_cleared(session: Session, space_key: str) -> State:
    """After every row of the space was deleted: the empty cache (not read back)."""
    return TRACKED.record_rows(session, space_key, "cleared", [])
