"""A keyed log cut off at its end, caught without an anchor: the head receipt
(``storage.audit_head``) records the last entry this account wrote, outside the database.

Deleting the newest entries (and their codes) leaves a chain that verifies, and a keyed log
whose every code holds: only something outside the database can say that entries are
missing. The receipt does, for the entries this account wrote. ``verify`` names a log that
ends before the receipt's entry, or whose entry there has another hash (rewritten from
there). A transaction that appends to such a log does not move the receipt on: it marks
it, for good, as having found the log cut, so neither more entries nor an entry's hash put
back for a moment hide the cut; ``leadguard audit accept-restore`` (an admin's, audited)
accepts the log as it stands after a restore from a backup.

What it does not catch: a cut of entries written by another account or on another host
(each keeps its own receipt), a receipt deleted together with the cut (it lives in the
account's data folder: keep that folder from those who can write the database), an older
receipt put back, and a workspace copied or moved to another folder (its receipt starts
again there; one moved away with a symlink left in its place keeps the path's receipt).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.storage import audit_head
from leadguard.storage.audit_head import FILE, HELD, PENDING, Receipt
from leadguard.storage.audit_key import INFO
from leadguard.storage.tables import AuditEntry

RESTORE = "audit.head_accepted"  # an admin accepted the log as it stands (a restore)
CHECKED = "head receipt: entry"  # how a note begins where the receipt was checked and held


@dataclass(frozen=True)
class HeadRead:
    """The receipt as read before the database was (``path`` None: none can be kept)."""

    path: Path | None
    found: Receipt | str | None


def read_first(key: bytes | None, workspace: Path) -> HeadRead | None:
    """The receipt, read *before* the database is: an entry committed after the database
    was read, and its receipt, cannot then look like a cut. None without a key."""
    if key is None:
        return None
    path = audit_head.head_file(key, workspace)
    return HeadRead(path, audit_head.read(path, key) if path is not None else None)


def on_append(session: Session, seq: int, entry_hash: str) -> None:
    """The first entry of a transaction checks the log against the receipt (one indexed
    read): where the receipt is marked already, entries up to the receipt's are missing,
    or its entry differs, this transaction marks the receipt instead of moving it on."""
    path, key = session.info.get(FILE), session.info.get(INFO)
    if not isinstance(path, Path) or not isinstance(key, bytes):
        return
    if PENDING not in session.info:
        found = audit_head.read(path, key)
        if isinstance(found, Receipt):
            with session.no_autoflush:  # the new entry is flushed by its append, after this
                stored = session.scalar(select(AuditEntry.hash).where(AuditEntry.seq == found.seq))
            if found.held is not None or found.seq >= seq or stored != found.hash:
                session.info[HELD] = True  # the receipt is marked so, for good
    session.info[PENDING] = (seq, entry_hash)


_REMEDY = (
    "if the database was restored from a backup, an admin records that with `leadguard "
    "audit accept-restore --reason TEXT`"
)


def check(rows: list[Any], head: HeadRead | None) -> tuple[list[str], str]:
    """(problems, note) of the readable ``rows`` (``records.RawEntry``) against the receipt
    read first (None: not read, no note)."""
    if head is None:
        return [], ""
    unsure = "a log cut off at its end is caught only against a signed anchor"
    if head.path is None:
        return [], f"head receipt: none is kept (its folder cannot be made): {unsure}"
    found = head.found
    if found is None:
        return [], (
            "head receipt: none for this workspace's folder from this account yet (nothing "
            f"written here with the key since it was copied, moved or keyed): {unsure}"
        )
    if isinstance(found, str):
        if audit_head.WRONG in found:
            return [found], ""
        return [], f"{found}: {unsure}"
    what = finding(rows, found)
    if what is not None:
        return [f"{what}; {_REMEDY}"], ""
    last = max((r.seq for r in rows if not r.problem and isinstance(r.seq, int)), default=0)
    return [], f"{CHECKED} {found.seq} as this account wrote it (the log ends at {last})"


def finding(rows: list[Any], found: Receipt) -> str | None:
    """How the log disagrees with the receipt: cut off after it, or rewritten from it."""
    good = {r.seq: r.hash for r in rows if not r.problem and isinstance(r.seq, int)}
    last = max(good, default=0)
    where = f"head receipt {found.path}"
    if found.held is not None:  # found when a later entry was written: kept for good
        return (
            f"when entry {found.held} was written, the log no longer held entry {found.seq} "
            f"as this account wrote it ({where}): it was cut off or rewritten from there"
        )
    if found.seq > last:
        cut = (
            f"entry {found.seq} was"
            if found.seq == last + 1
            else (f"entries {last + 1} to {found.seq} were")
        )
        return (
            f"the log ends at entry {last}, but this account wrote entry {found.seq} "
            f"({where}): {cut} cut off"
        )
    if good.get(found.seq) != found.hash:
        return (
            f"entry {found.seq} is not the entry this account wrote ({where}): the log was "
            "rewritten from there"
        )
    return None
