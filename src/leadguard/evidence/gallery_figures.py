"""The gallery's own stranger figures, kept beside the index and resident like it, and the
shift check and list statements that read them.

The pair measurement (``evidence.gallery_pairs``) is derived data: rebuilt from the database
when the templates change, stored as ``<index>.gallery-pairs.npz``, and held by a long-lived
workspace (the server's) under the ``PAIRS`` slot with the gallery generation and the
resolutions it agrees with. It supersedes the sampled tail of ``evidence.shift`` for the
shift check: exact where feasible, and with probable duplicates taken out.

A gallery with fewer than ``PAIR_FLOOR`` cross-subject pairs is "new and small": its lists
fall back to the evidence model's figures and say so.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from pathlib import Path
from zipfile import BadZipFile

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.files import replace_file
from leadguard.evidence.duplicates import (
    DIFFERENT,
    PAIR_FLOOR,
    SAME,
    StrangerFigures,
    pair_key,
    robust_threshold,
    stranger_figures,
)
from leadguard.evidence.gallery_pairs import ALL, GalleryPairs, measure_pairs
from leadguard.evidence.groups import subject_groups
from leadguard.evidence.model import EvidenceModel
from leadguard.evidence.shift import GalleryTail, ShiftCheck, compare
from leadguard.storage import queries as repo
from leadguard.storage.resident import Slot
from leadguard.storage.tables import AuditEntry, DuplicateResolution, utcnow
from leadguard.storage.workspace import Workspace

log = logging.getLogger(__name__)
PAIRS: Slot[StrangerFigures] = Slot("gallery-pairs")
# each pairs file written is recorded (its SHA-256) in the audit log, and a file that is
# not the one recorded is never read: a forged file cannot change what a list states
ACTION = "gallery.pairs"
VERDICTS = (SAME, DIFFERENT)


def pairs_path(ws: Workspace, space_key: str) -> Path:
    return ws.index_path(space_key).with_suffix(".gallery-pairs.npz")


def resolutions(s: Session, space_key: str) -> dict[tuple[str, str], tuple[str, str]]:
    rows = s.scalars(select(DuplicateResolution).where(DuplicateResolution.space_key == space_key))
    return {(r.subject_a, r.subject_b): (r.verdict, r.note) for r in rows}


def _resolution_stamp(s: Session, space_key: str) -> tuple[int, str]:
    n, last = s.execute(
        select(func.count(), func.max(DuplicateResolution.resolved_at)).where(
            DuplicateResolution.space_key == space_key
        )
    ).one()
    return int(n or 0), str(last)


def _recorded(s: Session, space_key: str) -> str | None:
    """The SHA-256 the audit log holds for the space's pairs file, as last written."""
    q = (
        select(AuditEntry.details)
        .where(AuditEntry.object == f"gallery-pairs:{space_key}", AuditEntry.action == ACTION)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    details = s.scalars(q).first()
    sha = details.get("sha256") if isinstance(details, dict) else None
    return sha if isinstance(sha, str) else None


def _load(path: Path, summary: dict[str, int], recorded: str | None) -> GalleryPairs | None:
    try:
        if not path.is_file():
            return None
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != recorded:  # edited, or written before 0019
            log.warning("%s: not the pairs file on record; measuring again", path)
            return None
        pairs = GalleryPairs.from_bytes(data)
    except (OSError, ValueError, KeyError, EOFError, BadZipFile) as exc:
        log.warning("gallery pairs %s unreadable (%s); measuring again", path, exc)
        return None
    ids = pairs.template_ids
    current = (len(ids), int(ids.sum()), int(ids.max()) if len(ids) else 0) == (
        summary["count"],
        summary["id_sum"],
        summary["id_max"],
    )
    return pairs if current else None


def gallery_figures(
    ws: Workspace,
    space_key: str,
    table: tuple[int, ...] | None = None,
    writing: Session | None = None,
) -> StrangerFigures:
    """The gallery's stranger figures, measured again when its templates changed.
    ``writing``: the caller's open write transaction (a search's), which records a file
    measured again; without one, a transaction of its own does."""
    path = pairs_path(ws, space_key)
    with ws.session() as s:
        stamp = (table, _resolution_stamp(s, space_key))
        if table is not None:
            held = ws.resident.get(PAIRS, space_key, (_mtime(path), stamp))
            if held is not None:
                return held
        summary = repo.template_id_summary(s, space_key)
        pairs = _load(path, summary, _recorded(s, space_key))
        if pairs is None:
            data = repo.labelled_templates(s, space_key)
        verdicts = resolutions(s, space_key)
    if pairs is None:
        groups = [subject_groups(sx, rc) for sx, rc in zip(data.sex, data.race, strict=True)]
        pairs = measure_pairs(data.vectors, list(data.subjects), groups, data.ids)
        written = pairs.to_bytes()
        details = {"sha256": hashlib.sha256(written).hexdigest(), "templates": len(data.ids)}
        try:
            replace_file(path, written)  # a search or enrollment may be reading it
        except OSError as exc:  # a folder or a read-only place there: used, not kept
            log.warning(
                "%s: the gallery's pairs file cannot be written (%s); its figures were "
                "measured for this use only and will be measured again",
                path,
                exc.strerror or exc,
            )
        else:
            if writing is not None:  # what a later load trusts: the file as written here
                audit.append(writing, ACTION, f"gallery-pairs:{space_key}", details)
            else:
                with ws.session() as s:
                    audit.append(s, ACTION, f"gallery-pairs:{space_key}", details)
    figures = stranger_figures(pairs, verdicts)
    if table is not None:
        ws.resident.put(PAIRS, space_key, (_mtime(path), stamp), figures)
    return figures


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def small(figures: StrangerFigures) -> bool:
    """Too few cross-subject pairs for figures of its own: the model's are the fallback."""
    return figures.hists[ALL].comparisons < PAIR_FLOOR if ALL in figures.hists else True


def gallery_shift(
    model: EvidenceModel, figures: StrangerFigures, threshold: float
) -> ShiftCheck | None:
    """``shift.compare`` on the gallery's own pairs (duplicates excluded), with the raise it
    asks for limited to what many distinct subjects support
    (``duplicates.robust_threshold``): no handful of pairs moves it."""
    check = compare(model, GalleryTail(dict(figures.hists)), threshold)
    if check is None:
        return None
    check = replace(check, base=threshold)
    if not check.shifted or check.threshold <= threshold:
        return check
    stated = model.nonmated.at_least(threshold) / model.nonmated.comparisons
    target = stated if stated > 0 else 1.0 / model.nonmated.comparisons
    robust, how = robust_threshold(figures, check.group, target)
    raised = threshold if robust is None else max(threshold, min(check.threshold, robust))
    if raised >= check.threshold:
        return check
    note = (
        f"the raise is limited to {raised:.4f} ({how}; the highest pairs alone asked for "
        f"{check.threshold:.4f})"
    )
    return replace(check, threshold=raised, support_note=note)


@dataclass(frozen=True)
class GalleryLines:
    """What a list says about this gallery's own strangers (shared by its candidates)."""

    list_lines: tuple[str, ...]
    worst_group: str | None  # the measured gallery group named as the list's worst


def list_lines(
    figures: StrangerFigures, at: float | None, model_domain: str, worst: str | None = None
) -> GalleryLines:
    """The list-level statement of where the figures come from, what is excluded, and (at
    the list's threshold) the overall gallery rate and that of ``worst``, the one group the
    list names (the evidence model's ranking, as every section of every document names it:
    the gallery measures few groups, and its own worst among them once named one whose
    bound was the lowest of all). Without ``worst``, the gallery's worst measured group."""
    if small(figures):
        n = figures.hists[ALL].comparisons if ALL in figures.hists else 0
        return GalleryLines(
            (
                f"FIGURES FROM THE EVIDENCE MODEL ({model_domain}), A FALLBACK: this gallery has "
                f"{n:,} cross-subject pairs, fewer than the {PAIR_FLOOR:,} its own figures need; "
                "the rates stated describe the model's calibration photos, not this gallery.",
            ),
            None,
        )
    lines = [
        source_line(figures),
        f'A candidate\'s "false match rate at this score" and group figures come from the '
        f"evidence model ({model_domain}); the lines on this gallery's strangers are measured "
        "on the gallery itself.",
    ]
    if at is not None:
        lines.append(
            f"At the list's threshold, among this gallery's strangers, {figures.rate(at).words()}."
        )
        if worst is not None:
            lines.append(
                "In this gallery, the group this list names as the one whose rate may be "
                f"highest: {figures.rate(at, worst).words()}."
            )
            return GalleryLines(tuple(lines), worst)
        w = figures.worst_group(at)
        if w is not None:
            lines.append(
                f"The measured group of this gallery whose rate there may be highest: {w.words()}."
            )
            return GalleryLines(tuple(lines), w.group)
        lines.append(
            f"No group of this gallery has the {PAIR_FLOOR:,} pairs needed to be measured."
        )
    return GalleryLines(tuple(lines), None)


def source_line(figures: StrangerFigures) -> str:
    p = figures.pairs
    how = (
        f"a seeded sample (seed {p.seed}) of {p.measured_pairs:,} of its {p.possible_pairs:,} "
        "cross-subject template pairs"
        if p.sampled
        else f"all {p.measured_pairs:,} of its cross-subject template pairs"
    )
    ex = figures.excluded
    dup = (
        f"; {len(ex)} probable duplicate pair(s) of subject ids (the same person under two ids, "
        f"`leadguard gallery duplicates`; {figures.excluded_pairs:,} template pairs) are "
        "excluded from every stranger figure"
        if ex
        else "; no probable duplicate is excluded"
    )
    more = "" if figures.complete else " (the search for duplicates stopped at its limit)"
    return f"Gallery figures: from {how}{dup}{more}."


def candidate_lines(figures: StrangerFigures, score: float, groups: tuple[str, ...]) -> list[str]:
    """This candidate's score against the gallery's strangers, overall and in its own
    recorded groups (never another group's figures)."""
    if small(figures):
        return []
    out = [f"Among this gallery's strangers, {figures.rate(score).words()}."]
    out += [f"Within this candidate's group, {figures.rate(score, g).words()}." for g in groups]
    return out


def record_resolution(
    s: Session,
    space_key: str,
    a: str,
    b: str,
    verdict: str,
    note: str,
    score: float | None,
    user: str,
) -> DuplicateResolution:
    """Record (or replace) the verdict on a pair; the caller audits it."""
    sa, sb = pair_key(a, b)
    row = s.scalar(
        select(DuplicateResolution).where(
            DuplicateResolution.space_key == space_key,
            DuplicateResolution.subject_a == sa,
            DuplicateResolution.subject_b == sb,
        )
    )
    if row is None:
        row = DuplicateResolution(space_key=space_key, subject_a=sa, subject_b=sb)
        s.add(row)
    row.verdict, row.note, row.score, row.resolved_by = verdict, note, score, user
    row.resolved_at = utcnow()
    s.flush()
    return row


def delete_resolutions(s: Session, subject: str) -> int:
    """Forget every verdict naming a removed subject (its removal leaves no trace of it)."""
    res = s.execute(
        delete(DuplicateResolution).where(
            or_(DuplicateResolution.subject_a == subject, DuplicateResolution.subject_b == subject)
        )
    )
    return int(res.rowcount or 0)  # type: ignore[attr-defined]
