"""Tables. The database is the source of truth; vector indexes are derived from it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Subject(Base):
    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), unique=True, index=True)
    sex: Mapped[str | None] = mapped_column(String(32))
    race: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    encounters: Mapped[list[Encounter]] = relationship(
        back_populates="subject", cascade="all, delete-orphan"
    )


class Encounter(Base):
    """One occasion on which a subject was photographed (e.g. a booking), with its date."""

    __tablename__ = "encounters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), index=True
    )
    encounter_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    subject: Mapped[Subject] = relationship(back_populates="encounters")
    images: Mapped[list[ImageRecord]] = relationship(
        back_populates="encounter", cascade="all, delete-orphan"
    )


class ImageRecord(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    encounter_id: Mapped[int] = mapped_column(
        ForeignKey("encounters.id", ondelete="CASCADE"), index=True
    )
    source_path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    byte_size: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    encounter: Mapped[Encounter] = relationship(back_populates="images")
    faces: Mapped[list[FaceRecord]] = relationship(
        back_populates="image", cascade="all, delete-orphan"
    )


class EmbeddingSpaceRecord(Base):
    __tablename__ = "embedding_spaces"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    descriptor: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FaceRecord(Base):
    """A detected face: which detector (via the space), where, and its landmarks."""

    __tablename__ = "faces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    space_key: Mapped[str] = mapped_column(ForeignKey("embedding_spaces.key"), index=True)
    left: Mapped[int] = mapped_column(Integer)
    top: Mapped[int] = mapped_column(Integer)
    right: Mapped[int] = mapped_column(Integer)
    bottom: Mapped[int] = mapped_column(Integer)
    detector_score: Mapped[float] = mapped_column(Float)
    faces_in_image: Mapped[int] = mapped_column(Integer)
    landmarks: Mapped[list[list[int]]] = mapped_column(JSON)
    # quality measures, unified score and the gate's verdict at enrollment (None: before 0004)
    quality: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    image: Mapped[ImageRecord] = relationship(back_populates="faces")
    templates: Mapped[list[TemplateRecord]] = relationship(
        back_populates="face", cascade="all, delete-orphan"
    )


class TemplateRecord(Base):
    __tablename__ = "templates"
    __table_args__ = (UniqueConstraint("face_id", "space_key", name="uq_template_face_space"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), index=True)
    space_key: Mapped[str] = mapped_column(ForeignKey("embedding_spaces.key"), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    face: Mapped[FaceRecord] = relationship(back_populates="templates")


class GalleryGeneration(Base):
    """One row whose counter the database's own triggers bump on every insert, update or
    delete in ``templates`` (migration 0010): an O(1) check that the gallery changed."""

    __tablename__ = "gallery_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


class LookalikeCount(Base):
    """Per enrolled template, how many other enrolled people (subjects) score at least each
    point of a fixed grid against it (``leadguard.evidence.lookalikes``: the grid, named in
    ``grid``; ``counts`` one little-endian uint32 per point). Derived from the templates, kept
    in the same transactions as they change (enrollment, removal), checked and rebuilt by
    ``gallery check`` / ``gallery rebuild`` (migration 0015)."""

    __tablename__ = "lookalike_counts"

    template_id: Mapped[int] = mapped_column(
        ForeignKey("templates.id", ondelete="CASCADE"), primary_key=True
    )
    space_key: Mapped[str] = mapped_column(String(32), index=True)
    grid: Mapped[str] = mapped_column(String(64))
    counts: Mapped[bytes] = mapped_column(LargeBinary)


class EnrollFailure(Base):
    """An image that could not be enrolled in a space, and why (so a re-run skips it)."""

    __tablename__ = "enroll_failures"
    __table_args__ = (UniqueConstraint("sha256", "space_key", name="uq_failure_image_space"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    space_key: Mapped[str] = mapped_column(String(32))
    source_path: Mapped[str] = mapped_column(Text)
    reason_code: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TemplateCache(Base):
    """Evaluation templates keyed by image hash and embedding space (a failure is kept too)."""

    __tablename__ = "template_cache"
    __table_args__ = (UniqueConstraint("sha256", "space_key", name="uq_cache_image_space"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    space_key: Mapped[str] = mapped_column(String(32), index=True)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    faces_in_image: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str] = mapped_column(String(32), default="")
    error: Mapped[str] = mapped_column(Text, default="")


class AccuracyRecord(Base):
    """One evaluation run: what was measured, on what, with what; the source of thresholds."""

    __tablename__ = "accuracy_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    space_key: Mapped[str] = mapped_column(String(32), index=True)
    space: Mapped[dict[str, Any]] = mapped_column(JSON)
    protocol: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(Text)
    dataset_checksum: Mapped[str] = mapped_column(String(64))
    command: Mapped[str] = mapped_column(Text)
    software_version: Mapped[str] = mapped_column(String(32))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON)
    report_dir: Mapped[str] = mapped_column(Text)
    score_files: Mapped[list[str]] = mapped_column(JSON)


class EvidenceModelRecord(Base):
    """A fitted evidence model (score distributions and LR table) for one embedding space.

    ``payload`` is the model's own serialisation (``leadguard.evidence.model``); its SHA-256
    is kept so that a model quoted in a report can be shown to be the one used."""

    __tablename__ = "evidence_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    space_key: Mapped[str] = mapped_column(String(32), index=True)
    record_id: Mapped[int | None] = mapped_column(ForeignKey("accuracy_records.id"))
    source: Mapped[str] = mapped_column(String(16))  # "measured" here or "shipped" with LeadGuard
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_sha256: Mapped[str] = mapped_column(String(64))


class SearchLog(Base):
    """Every search, including those that returned nobody: what was searched, how, and why."""

    __tablename__ = "search_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    probe_sha256: Mapped[str] = mapped_column(String(64), index=True)
    probe_source: Mapped[str] = mapped_column(Text)
    probe_id: Mapped[int | None] = mapped_column(ForeignKey("probes.id"))
    space_key: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))  # "open-set" or "investigation"
    gallery_subjects: Mapped[int] = mapped_column(Integer)
    gallery_templates: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float | None] = mapped_column(Float)
    target_fpir: Mapped[float | None] = mapped_column(Float)
    evidence_model_id: Mapped[int | None] = mapped_column(ForeignKey("evidence_models.id"))
    candidates: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(32))  # candidates | no_candidate | empty_gallery
    result: Mapped[dict[str, Any]] = mapped_column(JSON)


class ProbeRecord(Base):
    """A probe as received (bytes, SHA-256, EXIF, declared source type), or an edited probe
    derived from its parent by an ordered edit list that LeadGuard applied itself."""

    __tablename__ = "probes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("probes.id"))
    source_type: Mapped[str] = mapped_column(String(32))
    original_name: Mapped[str] = mapped_column(Text)
    exif: Mapped[dict[str, Any]] = mapped_column(JSON)
    editor: Mapped[str | None] = mapped_column(String(64))  # image editor named in EXIF
    edits: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEntry(Base):
    """One entry of the append-only audit log. ``hash`` = SHA-256 of the previous entry's
    hash and this entry's canonical content, so that any edit, deletion, insertion or
    reordering of past entries breaks the chain (``leadguard audit verify``)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[str] = mapped_column(String(40))  # ISO 8601, UTC, as hashed
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    object: Mapped[str] = mapped_column(String(255), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditMac(Base):
    """The authentication code of one audit entry in a keyed log (``audit.keyed``):
    HMAC-SHA256 of its sequence number and hash under a key kept outside the database."""

    __tablename__ = "audit_macs"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    code: Mapped[str] = mapped_column(String(64))


# --- casework ---


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)  # argon2
    role: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(64), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LoginState(Base):
    """An account's volatile login state: failed logins, lockout, last login. Kept apart from
    ``users`` and never named by an audit entry's records: it changes on every login attempt
    (anyone can cause one), so it must not be in the hash chain. It decides only how soon a
    password may be tried again, never who may do what (migration 0011)."""

    __tablename__ = "login_state"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuthToken(Base):
    """A login session: only the SHA-256 of the token is stored; revocable, expiring."""

    __tablename__ = "auth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(default=False)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    offence: Mapped[str] = mapped_column(String(128))
    incident_date: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON)  # of the person sought
    requesting_officer: Mapped[str] = mapped_column(String(128))
    legal_authority: Mapped[str] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), default="open")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # facts the case records about the person sought beyond the description (name -> text):
    # each needs an exculpatory check in every "possible lead" review
    known_facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")


class CaseAssignment(Base):
    __tablename__ = "case_assignments"
    __table_args__ = (UniqueConstraint("case_id", "user_id", name="uq_assignment"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)


class SearchRequest(Base):
    __tablename__ = "search_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    probe_path: Mapped[str] = mapped_column(Text)
    source_type: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    searched_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    search_id: Mapped[int | None] = mapped_column(ForeignKey("search_log.id"))
    # the probe as received with the request: what the approval names and the search reads
    probe_id: Mapped[int | None] = mapped_column(ForeignKey("probes.id", name="fk_request_probe"))
    probe_sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    face: Mapped[int | None] = mapped_column(Integer)
    edits: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    adjudications: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("request_id", "examiner_id", name="uq_review"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("search_requests.id"), index=True)
    examiner_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    decisions: Mapped[dict[str, Any]] = mapped_column(JSON)  # per subject
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Lead(Base):
    __tablename__ = "leads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("search_requests.id"), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    released_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    basis: Mapped[str] = mapped_column(String(32))  # "concurring" | "adjudicated"
    adjudication: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    corroboration: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    lineup_recorded: Mapped[bool] = mapped_column(default=False)
    outcome: Mapped[str | None] = mapped_column(String(32))
    outcome_details: Mapped[str | None] = mapped_column(Text)
    outcomes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list, server_default="[]")
    released_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Corroboration(Base):
    """Evidence recorded for a lead, with the independence questions answered. Rows exist
    only for evidence that passed them; ``counts`` is false for presence-only evidence.
    (``Lead.corroboration`` holds the older free-text entries, shown as legacy.)"""

    __tablename__ = "corroborations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    how_obtained: Mapped[str] = mapped_column(Text)
    obtained_by: Mapped[str] = mapped_column(String(255))
    obtained_on: Mapped[date] = mapped_column(Date)
    face_comparison_involved: Mapped[bool] = mapped_column()
    witness_shown_candidate: Mapped[bool] = mapped_column()
    links_to: Mapped[str] = mapped_column(String(32))  # "offence" | "presence_only"
    witness: Mapped[str | None] = mapped_column(String(255))
    witness_relationship: Mapped[str | None] = mapped_column(Text)
    identified_on: Mapped[date | None] = mapped_column(Date)
    counts: Mapped[bool] = mapped_column()
    recorded_by: Mapped[str] = mapped_column(String(255))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LineupShowing(Base):
    """One double-blind sequential showing of a LeadGuard photo array to one witness."""

    __tablename__ = "lineup_showings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"), index=True)
    array_entry: Mapped[int] = mapped_column(Integer)  # audit seq of the array
    administrator: Mapped[str] = mapped_column(String(255))
    witness: Mapped[str] = mapped_column(String(255))
    witness_type: Mapped[str] = mapped_column(String(32))
    witness_note: Mapped[str] = mapped_column(Text, default="")
    instruction: Mapped[str] = mapped_column(Text)
    decisions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    recorded_by: Mapped[str] = mapped_column(String(255))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelAcceptance(Base):
    """An administrator's acceptance of a face model's evaluated embedding space: the
    evaluation records it rests on and their numbers, copied at the time of acceptance."""

    __tablename__ = "model_acceptances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_key: Mapped[str] = mapped_column(String(32), index=True)
    model_name: Mapped[str] = mapped_column(String(64))
    space: Mapped[dict[str, Any]] = mapped_column(JSON)
    evaluation: Mapped[dict[str, Any]] = mapped_column(JSON)
    accepted_by: Mapped[str] = mapped_column(String(255))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ExternalSearch(Base):
    """A face search run outside LeadGuard (a retailer's system, another agency, a commercial
    service) that named someone for a case: recorded for disclosure and audit, never a lead
    and never corroboration. The probe it used is stored as received where there is one."""

    __tablename__ = "external_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    run_by: Mapped[str] = mapped_column(Text)  # who ran it (person and organisation)
    system: Mapped[str] = mapped_column(Text)  # which system, database or service
    run_on: Mapped[date] = mapped_column(Date)
    candidate: Mapped[str] = mapped_column(Text)  # the person it named, as reported
    probe_id: Mapped[int | None] = mapped_column(ForeignKey("probes.id"))
    probe_sha256: Mapped[str | None] = mapped_column(String(64))
    how_received: Mapped[str] = mapped_column(Text)  # how the result reached the case
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ComparisonAnnotation(Base):
    """A mark an examiner (during blind review) or the adjudicating supervisor (after the
    reveal) put on the eye-aligned pair of a request's candidate: a point or a region tied to
    a FISWG feature, or a measurement between two points (as a fraction of the inter-eye
    distance), with a note. Stored by subject, as reviews are; shown by letter while blind."""

    __tablename__ = "comparison_annotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("search_requests.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    subject: Mapped[str] = mapped_column(Text)
    image: Mapped[str] = mapped_column(String(16))  # probe | candidate
    kind: Mapped[str] = mapped_column(String(16))  # point | region | measure
    feature: Mapped[str] = mapped_column(String(64))  # review.FEATURES
    points: Mapped[list[list[float]]] = mapped_column(JSON)  # on the aligned canvas
    note: Mapped[str] = mapped_column(Text, default="")
    measure: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DuplicateResolution(Base):
    """The agency's verdict on a probable duplicate: two subject ids whose faces score far
    above the gallery's stranger range (``evidence.duplicates``). "same person" and pairs not
    yet resolved are kept out of every stranger statistic; "different people" are counted."""

    __tablename__ = "probable_duplicates"
    __table_args__ = (UniqueConstraint("space_key", "subject_a", "subject_b"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_key: Mapped[str] = mapped_column(String(255))
    subject_a: Mapped[str] = mapped_column(String(255))  # subject_a < subject_b
    subject_b: Mapped[str] = mapped_column(String(255))
    verdict: Mapped[str] = mapped_column(String(32))  # "same person" | "different people"
    note: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[float | None] = mapped_column(Float)  # when resolved
    resolved_by: Mapped[str] = mapped_column(String(255))
    resolved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
