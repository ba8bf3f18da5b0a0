"""Probe intake: provenance recorded, prohibited kinds refused, edits applied by LeadGuard,
quality gate applied. Every probe is stored as received before anything else happens."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.pipeline.decode import Header, check_header, read_file
from leadguard.pipeline.measures import Measure
from leadguard.quality.gate import (
    QualityRefused,
    Verdict,
    assess,
    describe_source_type,
    split_source_type,
    workspace_policy,
)
from leadguard.quality.provenance import (
    Edit,
    ProbeRefused,
    apply_edits,
    check_source_type,
    editor_flag,
    read_exif,
)
from leadguard.storage.tables import ProbeRecord, SearchLog
from leadguard.storage.workspace import Workspace


@dataclass(frozen=True)
class Intake:
    probe_id: int  # the row of the image searched (the edited one when there are edits)
    original_sha256: str
    data: bytes  # what is searched
    source_type: str
    exif: dict[str, str]
    editor: str | None
    edits: tuple[Edit, ...]
    notices: list[str] = field(default_factory=list)
    header: Header | None = None  # the header check of ``data``, when intake made it

    def provenance(self) -> dict[str, Any]:
        return {
            "probe_id": self.probe_id,
            "original_sha256": self.original_sha256,
            "searched_sha256": hashlib.sha256(self.data).hexdigest(),
            "source_type": self.source_type,
            "source_described": describe_source_type(self.source_type),
            "exif": self.exif,
            "edited_by_software_before_intake": self.editor,
            "edits_by_leadguard": [e.to_dict() for e in self.edits],
        }


def store_probe(
    s: Session,
    data: bytes,
    name: str,
    source_type: str,
    exif: dict[str, str],
    editor: str | None,
    parent: int | None,
    edits: list[dict[str, Any]],
) -> ProbeRecord:
    """Store a probe (as received, or as edited by LeadGuard) in the caller's transaction,
    with its audit entry (which carries the row's content hash)."""
    row = ProbeRecord(
        sha256=hashlib.sha256(data).hexdigest(),
        parent_id=parent,
        source_type=source_type,
        original_name=name,
        exif=exif,
        editor=editor,
        edits=edits,
        data=data,
    )
    s.add(row)
    s.flush()
    audit.append(
        s,
        "probe_edited" if parent else "probe_received",
        f"probe:{row.id}",
        {"sha256": row.sha256, "source_type": source_type, "parent": parent, "edits": edits},
        records=[row],
    )
    return row


def log_refusal(
    s: Session,
    probe_id: int | None,
    sha: str,
    source: str,
    outcome: str,
    why: str,
    details: dict[str, Any],
) -> None:
    """A refused or failed search: its search-log row and audit entry, in the caller's
    transaction (the search's own)."""
    row = SearchLog(
        probe_sha256=sha,
        probe_source=source,
        probe_id=probe_id,
        space_key="",
        mode="refused",
        gallery_subjects=0,
        gallery_templates=0,
        candidates=0,
        outcome=outcome,
        result={"refused": why, **details},
    )
    s.add(row)
    audit.append(
        s,
        "search_refused",
        f"probe:{probe_id}",
        {"outcome": outcome, "why": why},
        records=[row],
    )


def receive_probe(
    ws: Workspace,
    s: Session,
    path: Path,
    source_type: str,
    edits: tuple[Edit, ...] = (),
    stored: int | None = None,
    name: str | None = None,
    received: tuple[bytes, Header] | None = None,
) -> Intake:
    """Store the probe as received, refuse prohibited kinds, apply LeadGuard's edits.
    ``stored``: a probe already received (with a search request): its stored bytes are
    searched, never the file at ``path``. ``name``: what the probe is recorded and shown as
    (an upload's file name, where ``path`` is the server's temporary copy). ``received``: the
    file's bytes and their header check, when the search has just read and checked them
    (outside its transaction), so the file is read and checked once."""
    shown = name or str(path)
    header: Header | None = None
    if stored is None:
        if received is not None:
            original, header = received
        else:
            original = read_file(path, ws.settings.max_image_bytes)
            header = check_header(original, shown, ws.settings.max_image_pixels)  # first
        exif = read_exif(original)
        editor = editor_flag(exif)
        pid = store_probe(s, original, shown, source_type, exif, editor, None, []).id
    else:
        rec = s.get(ProbeRecord, stored)
        if rec is None:
            raise InputError(f"stored probe {stored} does not exist")
        original, exif, editor, pid = rec.data, dict(rec.exif), rec.editor, rec.id
    sha = hashlib.sha256(original).hexdigest()
    try:
        check_source_type(source_type, workspace_policy(ws).prohibited_source_types)
    except ProbeRefused as exc:
        log_refusal(s, pid, sha, shown, "refused_source_type", str(exc), {})
        raise
    notices = []
    if split_source_type(source_type)[1] is not None:
        notices.append(f"declared source: {describe_source_type(source_type)}")
    if editor:
        notices.append(
            f"the probe's EXIF says it was saved by an image editor ({exif.get('software')}): "
            "it may have been altered before it reached LeadGuard"
        )
    data = original
    if edits:
        header = None  # the edited image is checked when it is decoded
        data = apply_edits(original, list(edits), shown, ws.settings.max_image_pixels)
        edit_list = [e.to_dict() for e in edits]
        pid = store_probe(s, data, shown, source_type, exif, editor, pid, edit_list).id
        notices.append(
            "searched the probe as edited by LeadGuard: "
            + ", ".join(f"{e.op}{list(e.args)}" for e in edits)
        )
    return Intake(pid, sha, data, source_type, exif, editor, edits, notices, header)


def gate(
    ws: Workspace, s: Session, intake: Intake, quality: dict[str, Measure], source: str
) -> Verdict:
    """Apply the quality policy to the searched face; a refusal is recorded, then raised."""
    policy = workspace_policy(ws)
    verdict = assess(quality, policy)
    if verdict.decision == "refuse":
        failing = "; ".join(f.text() for f in verdict.findings if f.level == "refuse")
        why = (
            f"{source}: refused by the quality gate ({policy.source}): {failing}. This probe "
            "cannot support a lead."
        )
        log_refusal(
            s,
            intake.probe_id,
            intake.original_sha256,
            source,
            "refused_quality",
            why,
            {"quality": verdict.to_dict()},
        )
        raise QualityRefused(why)
    return verdict
