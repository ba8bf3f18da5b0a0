"""Queries behind gallery maintenance: removing and expunging a subject, and the consistency
check's scan of the stored vectors. Functions take a Session; the caller owns the
transaction."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.core.errors import LeadGuardError
from leadguard.storage.tables import (
    Encounter,
    FaceRecord,
    ImageRecord,
    Subject,
    TemplateRecord,
)


class UnknownSubject(LeadGuardError):
    pass


def remove_subject(session: Session, external_id: str) -> dict[str, list[int]]:
    """Delete a subject and everything under it; returns removed template ids per space."""
    subject = session.scalar(select(Subject).where(Subject.external_id == external_id))
    if subject is None:
        raise UnknownSubject(f"subject {external_id!r} is not in the gallery")
    rows = session.execute(
        select(TemplateRecord.space_key, TemplateRecord.id)
        .join(FaceRecord, TemplateRecord.face_id == FaceRecord.id)
        .join(ImageRecord, FaceRecord.image_id == ImageRecord.id)
        .join(Encounter, ImageRecord.encounter_id == Encounter.id)
        .where(Encounter.subject_id == subject.id)
    ).all()
    removed: dict[str, list[int]] = {}
    for key, tid in rows:
        removed.setdefault(key, []).append(tid)
    session.delete(subject)
    session.flush()
    return removed


def subject_images(session: Session, external_id: str) -> list[tuple[str, str]]:
    """(SHA-256, source path) of every image of a subject."""
    rows = session.execute(
        select(ImageRecord.sha256, ImageRecord.source_path)
        .join(Encounter, ImageRecord.encounter_id == Encounter.id)
        .join(Subject, Encounter.subject_id == Subject.id)
        .where(Subject.external_id == external_id)
    )
    return [(r[0], r[1]) for r in rows]


def template_vector_chunks(
    session: Session, space_key: str, chunk: int = 20000
) -> Iterator[list[tuple[int, bytes]]]:
    """A space's (template id, vector bytes) in id order, ``chunk`` rows at a time."""
    last = 0
    while True:
        rows = session.execute(
            select(TemplateRecord.id, TemplateRecord.vector)
            .where(TemplateRecord.space_key == space_key, TemplateRecord.id > last)
            .order_by(TemplateRecord.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        yield [(int(r[0]), bytes(r[1])) for r in rows]
        last = int(rows[-1][0])
