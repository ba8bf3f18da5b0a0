"""The safeguard settings as the audit log records them, and the refusal of a settings file
edited behind the log's back.

Every change an admin makes (``leadguard settings set``) is a ``settings.set`` entry with the
old and new value. What the file held when the workspace got its accounts is a
``settings.baseline`` entry: written with the first account (an older workspace, on its
first open after the upgrade, adopts its file as it stands, as the migrations' baselines
adopt rows), with the SHA-256 of the quality policy file it
names; ``settings set quality_policy`` records the file's digest again. From then on the
recorded value of each safeguard is the baseline's overlaid with the later
``settings.set`` entries; a file whose value differs (``target_fpir`` raised by hand,
``login_attempts`` edited, ``quality_policy`` pointed at another file or that file edited)
is named by ``audit verify`` and refused when the workspace is opened, until an admin sets
the value with ``leadguard settings set`` (which opens without this check, as do
``login``, ``logout`` and ``audit verify``). The settings entries are trusted only where a
cheap local check of the chain around them holds (``untrusted``).

What it cannot tell: an insider who can write the database and recomputes the chain can
append a ``settings.set`` entry of their own; anchors prove only the entries before them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.config import (
    SAFEGUARDS,
    SETTINGS_FILE,
    Settings,
    load_settings,
    setting_default,
)
from leadguard.storage.tables import AuditEntry

BASELINE = "settings.baseline"
SET = "settings.set"


def _plain(value: Any) -> Any:
    """A value as the audit log stores it (paths as text)."""
    return json.loads(json.dumps(value, default=str))


# not a setting: the SHA-256 of the file ``quality_policy`` names (None: the shipped one)
POLICY_DIGEST = "quality_policy_sha256"


def policy_digest(path: Path | None, root: Path) -> str | None:
    """The SHA-256 of the quality policy file ``path`` (None: the shipped one; unreadable:
    the reason)."""
    if path is None:
        return None
    path = path if path.is_absolute() else root / path
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"


def in_file(settings: Settings, root: Path) -> dict[str, Any]:
    """The safeguard values of these settings (read from the file alone), and the digest of
    the quality policy file they name."""
    values = {k: _plain(getattr(settings, k)) for k in sorted(SAFEGUARDS)}
    return {**values, POLICY_DIGEST: policy_digest(settings.quality_policy, root)}


def _entries(s: Session) -> list[AuditEntry]:
    """The log's settings entries (baselines and ``settings set``), in order."""
    q = select(AuditEntry).where(AuditEntry.action.in_((BASELINE, SET)))
    return list(s.scalars(q.order_by(AuditEntry.seq)))


def untrusted(s: Session, rows: list[AuditEntry]) -> str | None:
    """Why the settings entries ``rows`` cannot be relied on, or None. A cheap local check,
    not ``audit verify``: no sequence number is missing, and each entry's own hash and its
    links to the entries before and after it hold (an edited baseline, or deleted settings
    entries, would otherwise be read as the record)."""
    n, lo, hi = s.execute(
        select(func.count(AuditEntry.id), func.min(AuditEntry.seq), func.max(AuditEntry.seq))
    ).one()
    if n and (lo != 1 or hi != n):
        return f"the audit log has missing entries ({n:,} entries numbered {lo} to {hi})"
    around = {r.seq + d for r in rows for d in (-1, 1)}
    links = {
        seq: (h, prev)
        for seq, h, prev in s.execute(
            select(AuditEntry.seq, AuditEntry.hash, AuditEntry.prev_hash).where(
                AuditEntry.seq.in_(around)
            )
        )
    }
    for r in rows:
        before, after = links.get(r.seq - 1), links.get(r.seq + 1)
        if (
            audit.entry_hash(r) != r.hash
            or (r.seq > 1 and (before is None or before[0] != r.prev_hash))
            or (after is not None and after[1] != r.hash)
        ):
            return f"audit entry {r.seq} ({r.action}) was altered"
    return None


def recorded(rows: list[AuditEntry]) -> tuple[dict[str, tuple[Any, int, str]], bool]:
    """Each safeguard's recorded value with the entry (seq, actor) that set it, and whether
    a baseline exists (without one nothing is recorded yet)."""
    out: dict[str, tuple[Any, int, str]] = {}
    based = False
    for r in rows:
        details, actor = r.details, r.actor or ""
        if not isinstance(details, dict):
            continue
        if r.action == BASELINE and isinstance(details.get("values"), dict):
            based = True
            out = {k: (v, r.seq, actor) for k, v in details["values"].items()}
        elif r.action == SET and r.object.startswith("settings:") and "new" in details:
            out[r.object.removeprefix("settings:")] = (details["new"], r.seq, actor)
            if POLICY_DIGEST in details:  # setting quality_policy records the file's digest
                out[POLICY_DIGEST] = (details[POLICY_DIGEST], r.seq, actor)
    return out, based


def problems(s: Session, settings: Settings, root: Path) -> list[str]:
    """Each safeguard whose value in the settings file is not the one the log records, and
    a quality policy file edited since it was recorded."""
    rows = _entries(s)
    return _compare(settings, root, untrusted(s, rows), rows)


def _compare(settings: Settings, root: Path, why: str | None, rows: list[AuditEntry]) -> list[str]:
    if why is not None:
        return [f"the safeguard settings cannot be checked: {why} (leadguard audit verify)"]
    rec, based = recorded(rows)
    if not based:
        return []
    out = []
    for key, now in in_file(settings, root).items():
        if key == POLICY_DIGEST:
            # only where the path is the recorded one (a changed path is named by its key)
            path = _plain(settings.quality_policy)
            if path is None or path != rec.get("quality_policy", (None,))[0]:
                continue
            want_sha, seq, actor = rec.get(key, (None, 0, ""))
            if now != want_sha:
                out.append(
                    f"the quality policy file {path} {_digest_words(now, True)}, not "
                    f"{_digest_words(want_sha)} as recorded in audit entry {seq} (by "
                    f"{actor or 'unknown'}): changed since it was set"
                )
            continue
        if key not in rec:  # a setting newer than the baseline: its default was in force
            want: Any = _plain(setting_default(key))
            where = "its default (no entry sets it)"
        else:
            want, seq, actor = rec[key]
            where = f"audit entry {seq}, by {actor or 'unknown'}"
        if now != want:
            out.append(
                f"{SETTINGS_FILE}: {key} = {json.dumps(now)}, but the audit log records "
                f"{json.dumps(want)} ({where}): edited outside `leadguard settings set`"
            )
    return out


def _digest_words(sha: Any, verb: bool = False) -> str:
    """A recorded digest (or why the file could not be read) in words."""
    if isinstance(sha, str) and len(sha) == 64:
        return f"{'has ' if verb else ''}SHA-256 {sha[:12]}..."
    if sha is None:
        return "is absent" if verb else "absent"
    return f"is {sha}" if verb else str(sha)


def check(s: Session, root: Path) -> list[str]:
    """The settings file against the log (``problems``), from the file alone (a command's
    own overrides are not the file); the baseline written first where there is none."""
    settings = load_settings(root)
    rows = _entries(s)
    why = untrusted(s, rows)
    if why is None and not recorded(rows)[1]:  # an older workspace: adopt its file
        _append_baseline(s, settings, root)
        return []
    return _compare(settings, root, why, rows)


def ensure_baseline(s: Session, settings: Settings, root: Path) -> None:
    """Record the file's safeguard values once, where no baseline exists yet."""
    if not recorded(_entries(s))[1]:
        _append_baseline(s, settings, root)


def _append_baseline(s: Session, settings: Settings, root: Path) -> None:
    audit.append(
        s,
        BASELINE,
        "settings:safeguards",
        {"values": in_file(settings, root), "file": SETTINGS_FILE},
        actor="leadguard:baseline",
    )
