"""Queries and writes for the gallery. Functions take a Session; the caller owns the transaction."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Select, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from leadguard.core.types import EmbeddingSpace, FaceTemplate, GalleryStats, ImageMeta
from leadguard.storage.tables import (
    Base,
    EmbeddingSpaceRecord,
    Encounter,
    EnrollFailure,
    FaceRecord,
    GalleryGeneration,
    ImageRecord,
    Subject,
    TemplateRecord,
)


def ensure_space(session: Session, space: EmbeddingSpace) -> EmbeddingSpaceRecord | None:
    """Register the space if it is new; returns the new row (for the caller's audit entry),
    None when it was already there."""
    if session.get(EmbeddingSpaceRecord, space.key) is not None:
        return None
    row = EmbeddingSpaceRecord(key=space.key, descriptor=space.to_dict())
    session.add(row)
    session.flush()
    return row


def get_space(session: Session, key: str) -> EmbeddingSpace | None:
    rec = session.get(EmbeddingSpaceRecord, key)
    return EmbeddingSpace.from_dict(rec.descriptor) if rec else None


@dataclass(frozen=True)
class KnownImage:
    subject: str
    has_template: bool


def known_images(
    session: Session, space_key: str, among: list[str] | None = None
) -> dict[str, KnownImage]:
    """Every enrolled image hash (or those ``among`` these) -> its subject, and whether it
    has a template in the space."""
    templated = (
        select(ImageRecord.sha256)
        .join(FaceRecord, FaceRecord.image_id == ImageRecord.id)
        .join(TemplateRecord, TemplateRecord.face_id == FaceRecord.id)
        .where(TemplateRecord.space_key == space_key)
    )
    images = (
        select(ImageRecord.sha256, Subject.external_id)
        .join(Encounter, ImageRecord.encounter_id == Encounter.id)
        .join(Subject, Encounter.subject_id == Subject.id)
    )
    if among is not None:
        templated = templated.where(ImageRecord.sha256.in_(among))
        images = images.where(ImageRecord.sha256.in_(among))
    with_template = set(session.scalars(templated))
    rows = session.execute(images)
    return {sha: KnownImage(subject, sha in with_template) for sha, subject in rows}


def known_failures(session: Session, space_key: str) -> dict[str, EnrollFailure]:
    rows = session.scalars(select(EnrollFailure).where(EnrollFailure.space_key == space_key))
    return {r.sha256: r for r in rows}


@dataclass(frozen=True)
class SubjectInfo:
    external_id: str
    encounter_date: date | None = None
    sex: str | None = None
    race: str | None = None
    attributes: dict[str, Any] | None = None


@dataclass(frozen=True)
class NewTemplate:
    info: SubjectInfo
    image: ImageMeta
    template: FaceTemplate
    faces_in_image: int
    quality: dict[str, Any] | None = None


def _subjects(session: Session, infos: list[SubjectInfo]) -> dict[str, Subject]:
    wanted = {i.external_id for i in infos}
    found = {
        s.external_id: s
        for s in session.scalars(select(Subject).where(Subject.external_id.in_(wanted)))
    }
    for info in infos:
        subject = found.get(info.external_id)
        if subject is None:
            subject = Subject(external_id=info.external_id, sex=info.sex, race=info.race)
            session.add(subject)
            found[info.external_id] = subject
        else:
            subject.sex = subject.sex or info.sex
            subject.race = subject.race or info.race
    session.flush()
    return found


def _encounters(
    session: Session, subjects: dict[str, Subject], infos: list[SubjectInfo]
) -> dict[tuple[int, date | None], Encounter]:
    ids = [s.id for s in subjects.values()]
    found = {
        (e.subject_id, e.encounter_date): e
        for e in session.scalars(select(Encounter).where(Encounter.subject_id.in_(ids)))
    }
    for info in infos:
        key = (subjects[info.external_id].id, info.encounter_date)
        if key not in found:
            found[key] = Encounter(subject_id=key[0], encounter_date=key[1])
            session.add(found[key])
    session.flush()
    return found


def save_templates(session: Session, rows: list[NewTemplate]) -> list[int]:
    """Store subjects, encounters, images, faces and templates for a batch; returns template ids.

    A handful of statements per batch rather than per image, so that the enrolling process
    leaves the cores to the model.
    """
    if not rows:
        return []
    infos = [r.info for r in rows]
    subjects = _subjects(session, infos)
    encounters = _encounters(session, subjects, infos)
    shas = [r.image.sha256 for r in rows]
    found = session.execute(
        select(ImageRecord.sha256, ImageRecord.id).where(ImageRecord.sha256.in_(shas))
    )
    image_ids: dict[str, int] = {sha: image_id for sha, image_id in found}
    fresh: dict[str, NewTemplate] = {}
    for r in rows:
        if r.image.sha256 not in image_ids:
            fresh.setdefault(r.image.sha256, r)
    if fresh:
        new_images = [
            {
                "sha256": r.image.sha256,
                "encounter_id": encounters[
                    (subjects[r.info.external_id].id, r.info.encounter_date)
                ].id,
                "source_path": r.image.source,
                "format": r.image.format,
                "width": r.image.width,
                "height": r.image.height,
                "byte_size": r.image.byte_size,
                "attributes": r.info.attributes or {},
            }
            for r in fresh.values()
        ]
        image_ids.update(_inserted(session, ImageRecord, new_images, ImageRecord.sha256))
    new_faces = []
    for r in rows:
        det = r.template.detection
        new_faces.append(
            {
                "image_id": image_ids[r.image.sha256],
                "space_key": r.template.space_key,
                "left": det.box.left,
                "top": det.box.top,
                "right": det.box.right,
                "bottom": det.box.bottom,
                "detector_score": det.score,
                "faces_in_image": r.faces_in_image,
                "landmarks": [list(p) for p in det.landmarks],
                "quality": r.quality,
            }
        )
    face_ids = list(_inserted(session, FaceRecord, new_faces).values())
    new_templates = []
    for r, face_id in zip(rows, face_ids, strict=True):
        vec = np.ascontiguousarray(r.template.vector, dtype=np.float32)
        new_templates.append(
            {
                "face_id": face_id,
                "space_key": r.template.space_key,
                "dim": int(vec.size),
                "vector": vec.tobytes(),
            }
        )
    template_ids = list(_inserted(session, TemplateRecord, new_templates).values())
    for key in {r.template.space_key for r in rows}:
        session.execute(
            delete(EnrollFailure).where(
                EnrollFailure.space_key == key, EnrollFailure.sha256.in_(shas)
            )
        )
    return template_ids


def _inserted(
    session: Session, model: type[Base], values: list[dict[str, Any]], key: Any = None
) -> dict[Any, int]:
    """Insert rows with one statement (several round trips at most) and return their ids in
    the order given, keyed by ``key``'s value (by position without one)."""
    column = key if key is not None else model.id  # type: ignore[attr-defined]
    returned = session.execute(
        insert(model).returning(column, model.id, sort_by_parameter_order=True),  # type: ignore[attr-defined]
        values,
    ).all()
    if key is None:
        return {i: row[1] for i, row in enumerate(returned)}
    return {row[0]: row[1] for row in returned}


def save_failure(
    session: Session, sha256: str, space_key: str, source: str, code: str, message: str
) -> None:
    existing = session.scalar(
        select(EnrollFailure).where(
            EnrollFailure.sha256 == sha256, EnrollFailure.space_key == space_key
        )
    )
    if existing is None:
        session.add(
            EnrollFailure(
                sha256=sha256,
                space_key=space_key,
                source_path=source,
                reason_code=code,
                message=message,
            )
        )
    else:
        existing.reason_code, existing.message, existing.source_path = code, message, source


def template_vectors(
    session: Session, space_key: str
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    rows = session.execute(
        select(TemplateRecord.id, TemplateRecord.dim, TemplateRecord.vector)
        .where(TemplateRecord.space_key == space_key)
        .order_by(TemplateRecord.id)
    ).all()
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float32)
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    dim = rows[0][1]
    mat = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    return ids, mat.copy()


@dataclass(frozen=True)
class LabelledTemplates:
    """A space's templates with who they show (for fitting and checking evidence models)."""

    ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    subjects: list[str]
    sex: list[str | None]
    race: list[str | None]
    encounters: list[int]


def labelled_templates(session: Session, space_key: str) -> LabelledTemplates:
    rows = session.execute(
        select(
            TemplateRecord.id,
            TemplateRecord.dim,
            TemplateRecord.vector,
            Subject.external_id,
            Subject.sex,
            Subject.race,
            Encounter.id,
        )
        .join(FaceRecord, TemplateRecord.face_id == FaceRecord.id)
        .join(ImageRecord, FaceRecord.image_id == ImageRecord.id)
        .join(Encounter, ImageRecord.encounter_id == Encounter.id)
        .join(Subject, Encounter.subject_id == Subject.id)
        .where(TemplateRecord.space_key == space_key)
        .order_by(TemplateRecord.id)
    ).all()
    if not rows:
        return LabelledTemplates(
            np.empty(0, dtype=np.int64), np.empty((0, 0), dtype=np.float32), [], [], [], []
        )
    dim = rows[0][1]
    mat = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.float32).reshape(len(rows), dim)
    return LabelledTemplates(
        np.array([r[0] for r in rows], dtype=np.int64),
        mat.copy(),
        [r[3] for r in rows],
        [r[4] for r in rows],
        [r[5] for r in rows],
        [r[6] for r in rows],
    )


def template_id_summary(session: Session, space_key: str) -> dict[str, int]:
    """Count, sum and maximum of a space's template ids, computed by the database."""
    count, total, top = session.execute(
        select(
            func.count(TemplateRecord.id), func.sum(TemplateRecord.id), func.max(TemplateRecord.id)
        ).where(TemplateRecord.space_key == space_key)
    ).one()
    return {"count": int(count or 0), "id_sum": int(total or 0), "id_max": int(top or 0)}


@functools.cache
def _stamp_statement() -> Select[int]:
    return select(GalleryGeneration.generation).where(GalleryGeneration.id == 1)


def templates_stamp(session: Session) -> tuple[int, ...]:
    """A value that changes with every insert, update or delete in the templates table: the
    gallery generation that the database's own triggers bump (migration 0010; one row read,
    whatever the gallery's size; the statement is built once per process). Should that row
    be missing, the row count and highest id (read from the b-trees, proportional to the
    table) stand in."""
    generation = session.scalar(_stamp_statement())
    if generation is not None:
        return (int(generation),)
    count = session.scalar(select(func.count()).select_from(TemplateRecord))  # separately:
    top = session.scalar(select(func.max(TemplateRecord.id)))  # together they would scan
    return int(count or 0), int(top or 0)


def template_ids(session: Session, space_key: str) -> npt.NDArray[np.int64]:
    ids = session.scalars(select(TemplateRecord.id).where(TemplateRecord.space_key == space_key))
    return np.fromiter(ids, dtype=np.int64)


@dataclass(frozen=True)
class TemplateInfo:
    template_id: int
    subject: str
    image_path: str
    image_sha256: str
    encounter_date: date | None
    quality: dict[str, Any] | None = None  # the gallery face's verdict at enrollment
    sex: str | None = None  # the subject's recorded sex and race (booking record)
    race: str | None = None


def template_info(session: Session, ids: list[int]) -> dict[int, TemplateInfo]:
    out: dict[int, TemplateInfo] = {}
    for start in range(0, len(ids), 5000):  # stay far below SQLite's bound-parameter limit
        out.update(_template_info(session, ids[start : start + 5000]))
    return out


@functools.cache
def _info_statement() -> Select[Any]:
    """The candidates' rows, built once per process (ids bound at each call)."""
    return (
        select(
            TemplateRecord.id,
            Subject.external_id,
            ImageRecord.source_path,
            ImageRecord.sha256,
            Encounter.encounter_date,
            FaceRecord.quality,
            Subject.sex,
            Subject.race,
        )
        .join(FaceRecord, TemplateRecord.face_id == FaceRecord.id)
        .join(ImageRecord, FaceRecord.image_id == ImageRecord.id)
        .join(Encounter, ImageRecord.encounter_id == Encounter.id)
        .join(Subject, Encounter.subject_id == Subject.id)
        .where(TemplateRecord.id.in_(bindparam("ids", expanding=True)))
    )


def _template_info(session: Session, ids: list[int]) -> dict[int, TemplateInfo]:
    rows = session.execute(_info_statement(), {"ids": ids})
    return {r[0]: TemplateInfo(*r) for r in rows}


def template_subjects(session: Session, ids: list[int]) -> dict[int, str]:
    """Each template's subject (its external id): what ranking by subject reads of the many
    templates it scores, before ``template_info`` reads the rows of the ones it keeps."""
    out: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        rows = session.execute(_subject_statement(), {"ids": ids[start : start + 5000]})
        out.update({int(r[0]): str(r[1]) for r in rows})
    return out


def space_subjects(session: Session, space_key: str) -> dict[int, str]:
    """Every template of a space with its subject (external id)."""
    rows = session.execute(
        select(TemplateRecord.id, Subject.external_id)
        .join(FaceRecord, TemplateRecord.face_id == FaceRecord.id)
        .join(ImageRecord, FaceRecord.image_id == ImageRecord.id)
        .join(Encounter, ImageRecord.encounter_id == Encounter.id)
        .join(Subject, Encounter.subject_id == Subject.id)
        .where(TemplateRecord.space_key == space_key)
    )
    return {int(r[0]): str(r[1]) for r in rows}


@functools.cache
def _subject_statement() -> Any:  # Select of (id, external id)
    return (
        select(TemplateRecord.id, Subject.external_id)
        .join(FaceRecord, TemplateRecord.face_id == FaceRecord.id)
        .join(ImageRecord, FaceRecord.image_id == ImageRecord.id)
        .join(Encounter, ImageRecord.encounter_id == Encounter.id)
        .join(Subject, Encounter.subject_id == Subject.id)
        .where(TemplateRecord.id.in_(bindparam("ids", expanding=True)))
    )


def gallery_counts(session: Session, space_key: str) -> tuple[int, int]:
    """(subjects, templates) searchable in a space."""
    templates = session.scalar(
        select(func.count(TemplateRecord.id)).where(TemplateRecord.space_key == space_key)
    )
    subjects = session.scalar(
        select(func.count(func.distinct(Encounter.subject_id)))
        .select_from(TemplateRecord)
        .join(FaceRecord, TemplateRecord.face_id == FaceRecord.id)
        .join(ImageRecord, FaceRecord.image_id == ImageRecord.id)
        .join(Encounter, ImageRecord.encounter_id == Encounter.id)
        .where(TemplateRecord.space_key == space_key)
    )
    return int(subjects or 0), int(templates or 0)


def gallery_stats(session: Session) -> GalleryStats:
    def count(model: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    by_space = dict(
        session.execute(
            select(TemplateRecord.space_key, func.count()).group_by(TemplateRecord.space_key)
        ).all()
    )
    by_reason = dict(
        session.execute(
            select(EnrollFailure.reason_code, func.count()).group_by(EnrollFailure.reason_code)
        ).all()
    )
    decisions: dict[str, int] = {}
    for (q,) in session.execute(select(FaceRecord.quality)):
        key = (q or {}).get("decision", "not measured")
        decisions[key] = decisions.get(key, 0) + 1
    return GalleryStats(
        quality_by_decision=decisions,
        subjects=count(Subject),
        encounters=count(Encounter),
        images=count(ImageRecord),
        faces=count(FaceRecord),
        templates_by_space=by_space,
        failures_by_reason=by_reason,
    )


def latest_encounters(session: Session, subjects: list[str], space_key: str) -> dict[str, date]:
    """Per subject, the date of its most recent dated encounter that has a template in
    this space (subjects with no dated encounter are absent)."""
    if not subjects:
        return {}
    rows = session.execute(
        select(Subject.external_id, func.max(Encounter.encounter_date))
        .join(Encounter, Encounter.subject_id == Subject.id)
        .join(ImageRecord, ImageRecord.encounter_id == Encounter.id)
        .join(FaceRecord, FaceRecord.image_id == ImageRecord.id)
        .join(TemplateRecord, TemplateRecord.face_id == FaceRecord.id)
        .where(Subject.external_id.in_(subjects), TemplateRecord.space_key == space_key)
        .group_by(Subject.external_id)
    )
    return {r[0]: r[1] for r in rows if r[1] is not None}
