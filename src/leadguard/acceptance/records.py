"""Storage of the evaluation gate: accuracy records by space, acceptances, and the stored
source images a gallery can be re-embedded from. Plain values leave this module, not rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.storage.tables import (
    AccuracyRecord,
    Encounter,
    EvidenceModelRecord,
    ImageRecord,
    ModelAcceptance,
    Subject,
)


@dataclass(frozen=True)
class RecordSummary:
    id: int
    protocol: str
    created_at: datetime
    dataset: str
    command: str
    metrics: dict[str, Any]


@dataclass(frozen=True)
class AcceptanceRow:
    id: int
    space_key: str
    model_name: str
    evaluation: dict[str, Any]
    accepted_by: str
    note: str
    created_at: datetime


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    source_path: str
    subject: str
    sex: str | None
    race: str | None
    encounter_date: date | None
    attributes: dict[str, Any]


def latest_records(session: Session, space_key: str) -> dict[str, RecordSummary]:
    """The newest accuracy record of each protocol for a space."""
    out: dict[str, RecordSummary] = {}
    rows = session.scalars(
        select(AccuracyRecord)
        .where(AccuracyRecord.space_key == space_key)
        .order_by(AccuracyRecord.id)
    )
    for r in rows:
        out[r.protocol] = RecordSummary(
            r.id, r.protocol, r.created_at, r.dataset, r.command, dict(r.metrics)
        )
    return out


def evidence_model_ids(session: Session, space_key: str) -> list[tuple[int, int | None, str]]:
    """(evidence model id, accuracy record id, source) of a space's stored evidence models."""
    rows = session.execute(
        select(EvidenceModelRecord.id, EvidenceModelRecord.record_id, EvidenceModelRecord.source)
        .where(EvidenceModelRecord.space_key == space_key)
        .order_by(EvidenceModelRecord.id)
    )
    return [(i, rec, src) for i, rec, src in rows]


def _acceptance(row: ModelAcceptance) -> AcceptanceRow:
    return AcceptanceRow(
        row.id,
        row.space_key,
        row.model_name,
        dict(row.evaluation),
        row.accepted_by,
        row.note,
        row.created_at,
    )


def latest_acceptance(session: Session, space_key: str) -> AcceptanceRow | None:
    row = session.scalars(
        select(ModelAcceptance)
        .where(ModelAcceptance.space_key == space_key)
        .order_by(ModelAcceptance.id.desc())
        .limit(1)
    ).first()
    return None if row is None else _acceptance(row)


def add_acceptance(
    session: Session,
    space_key: str,
    model_name: str,
    space: dict[str, Any],
    evaluation: dict[str, Any],
    accepted_by: str,
    note: str,
) -> AcceptanceRow:
    """Store an acceptance and its audit entry in the caller's transaction."""
    row = ModelAcceptance(
        space_key=space_key,
        model_name=model_name,
        space=space,
        evaluation=evaluation,
        accepted_by=accepted_by,
        note=note,
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        "model_accepted",
        f"embedding_space:{space_key}",
        {"model": model_name, "acceptance": row.id, "evaluation": evaluation, "note": note},
        actor=accepted_by,
        records=[row],
    )
    return _acceptance(row)


def stored_images(session: Session) -> list[StoredImage]:
    """Every enrolled image with its subject and encounter, oldest first."""
    rows = session.execute(
        select(
            ImageRecord.sha256,
            ImageRecord.source_path,
            ImageRecord.attributes,
            Subject.external_id,
            Subject.sex,
            Subject.race,
            Encounter.encounter_date,
        )
        .join(Encounter, ImageRecord.encounter_id == Encounter.id)
        .join(Subject, Encounter.subject_id == Subject.id)
        .order_by(ImageRecord.id)
    )
    return [
        StoredImage(sha, path, subject, sex, race, when, dict(attrs or {}))
        for sha, path, attrs, subject, sex, race, when in rows
    ]
