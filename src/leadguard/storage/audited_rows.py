"""The rows an audit entry names: an enrollment batch's templates, faces (box, landmarks and
the quality verdict at enrollment) and images with their subjects and encounters, and a
subject's rows that its removal deletes (with the duplicate verdicts naming it). Their
content hashes go into the entry (``audit.append(records=...)``), so ``audit verify`` names
a row edited or deleted afterwards. Functions take a Session; the caller owns the
transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from leadguard.storage.tables import (
    DuplicateResolution,
    Encounter,
    FaceRecord,
    ImageRecord,
    Subject,
    TemplateRecord,
)


def audited_rows(session: Session, template_ids: list[int], image_shas: list[str]) -> list[Any]:
    """The template and image rows of an enrollment batch, with the subjects and encounters
    they belong to, for the content hashes in its audit entry (``audit.append(records=...)``)."""
    rows: list[Any] = []
    for start in range(0, len(template_ids), 5000):
        part = template_ids[start : start + 5000]
        templates = list(session.scalars(select(TemplateRecord).where(TemplateRecord.id.in_(part))))
        rows += templates
        rows += session.scalars(
            select(FaceRecord).where(FaceRecord.id.in_([t.face_id for t in templates]))
        )
    subject_ids: set[int] = set()
    for start in range(0, len(image_shas), 5000):
        shas = image_shas[start : start + 5000]
        rows += session.scalars(select(ImageRecord).where(ImageRecord.sha256.in_(shas)))
        subject_ids.update(
            session.scalars(
                select(Encounter.subject_id)
                .join(ImageRecord, ImageRecord.encounter_id == Encounter.id)
                .where(ImageRecord.sha256.in_(shas))
            )
        )
    return rows + _subjects_and_encounters(session, sorted(subject_ids))


def _subjects_and_encounters(session: Session, subject_ids: list[int]) -> list[Any]:
    """These subjects (name, recorded sex and race) and every encounter of theirs (dates)."""
    rows: list[Any] = []
    for start in range(0, len(subject_ids), 5000):
        part = subject_ids[start : start + 5000]
        rows += session.scalars(select(Subject).where(Subject.id.in_(part)))
        rows += session.scalars(select(Encounter).where(Encounter.subject_id.in_(part)))
    return rows


def subject_rows(session: Session, external_id: str) -> list[Any]:
    """A subject's template, face, image, encounter and subject rows and the duplicate
    verdicts naming it (those its removal deletes and its audit entry names under
    ``deleted_records``)."""
    subject = session.scalar(select(Subject).where(Subject.external_id == external_id))
    if subject is None:
        return []
    images = list(
        session.scalars(
            select(ImageRecord)
            .join(Encounter, ImageRecord.encounter_id == Encounter.id)
            .where(Encounter.subject_id == subject.id)
        )
    )
    image_ids = [i.id for i in images]
    templates = list(
        session.scalars(
            select(TemplateRecord)
            .join(FaceRecord, TemplateRecord.face_id == FaceRecord.id)
            .where(FaceRecord.image_id.in_(image_ids))
        )
    )
    faces = list(session.scalars(select(FaceRecord).where(FaceRecord.image_id.in_(image_ids))))
    verdicts = list(
        session.scalars(
            select(DuplicateResolution).where(
                or_(
                    DuplicateResolution.subject_a == external_id,
                    DuplicateResolution.subject_b == external_id,
                )
            )
        )
    )
    return [
        *templates,
        *faces,
        *images,
        *_subjects_and_encounters(session, [subject.id]),
        *verdicts,
    ]
