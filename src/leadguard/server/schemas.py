"""Typed request and response bodies of the API (pydantic); built from the services'
dataclasses, never from ORM rows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, Field

from leadguard.core.textsafe import CASE_NUMBER_PATTERN, MAX_CASE_NUMBER
from leadguard.services.accounts import MAX_PASSWORD, MAX_USERNAME

M = TypeVar("M", bound=BaseModel)
Scalar = str | int | float | bool | None


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo else t.replace(tzinfo=UTC)


# the database keeps UTC times without their zone: they leave with it
Moment = Annotated[datetime, AfterValidator(_utc)]


def of(model: type[M], value: Any) -> M:
    """A response model from a service's (frozen) dataclass."""
    is_instance = dataclasses.is_dataclass(value) and not isinstance(value, type)
    data = dataclasses.asdict(value) if is_instance else value
    return model.model_validate(data)


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=MAX_USERNAME)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class Me(BaseModel):
    username: str
    role: str
    unit: str


class LoginOut(Me):
    token: str
    expires_at: Moment


class Done(BaseModel):
    ok: bool = True
    message: str


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=MAX_USERNAME)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)
    role: str
    unit: str = ""


class UserOut(BaseModel):
    username: str
    role: str
    unit: str
    active: bool
    created_at: Moment
    locked: bool


class CaseIn(BaseModel):
    number: str = Field(min_length=1, max_length=MAX_CASE_NUMBER, pattern=CASE_NUMBER_PATTERN)
    offence: str = Field(min_length=1, max_length=200)
    incident_date: date
    description: str = Field(max_length=10_000)
    attributes: dict[str, Scalar] = Field(default_factory=dict)
    officer: str = Field(max_length=200)
    authority: str = Field(max_length=1000)
    unit: str | None = None
    known_facts: dict[str, str] = Field(
        default_factory=dict,
        description="other facts about the person sought (name -> text): each needs a check "
        "in every possible lead",
    )


class FactIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    text: str = Field(min_length=1, max_length=2000)


class CaseOut(BaseModel):
    number: str
    offence: str
    incident_date: date
    description: str
    attributes: dict[str, Any]
    officer: str
    authority: str
    unit: str
    status: str
    created_at: Moment
    assigned: list[str]
    known_facts: dict[str, Any] | None = None


class RequestOut(BaseModel):
    id: int
    case: str
    status: str
    source_type: str
    probe_sha256: str | None
    purpose: str
    requested_by: str
    approved_by: str | None
    searched_by: str | None
    search_id: int | None
    face: int | None
    edits: list[dict[str, Any]]


class LeadOut(BaseModel):
    id: int
    case: str
    request: int
    subject: str
    basis: str
    released_by: str
    released_at: Moment
    corroboration: list[dict[str, Any]]  # records; legacy free text marked "legacy"
    lineup_recorded: bool
    outcome: str | None
    outcomes: list[dict[str, Any]]
    independent: bool = False  # evidence linking the person to the offence is on record
    final: str | None = None  # why the lead is closed for good
    lineups: list[dict[str, Any]] = Field(default_factory=list)  # with the witness type


class CaseDetailOut(BaseModel):
    case: CaseOut
    requests: list[RequestOut]
    leads: list[LeadOut]


class AssignIn(BaseModel):
    username: str = Field(min_length=1, max_length=MAX_USERNAME)


class SuspectIn(BaseModel):
    lead: int


class SearchRunOut(BaseModel):
    request_id: int
    search_id: int
    outcome: str
    candidates: int


class QueueItemOut(BaseModel):
    request: int
    case: str
    candidates: int


class PacketCandidateOut(BaseModel):
    """A candidate by the letter of your packet: no name, record id, score or rank."""

    candidate: str
    image_url: str


class PacketOut(BaseModel):
    """No score, rank, evidence or anyone else's decision."""

    request: int
    case: str
    probe_sha256: str | None
    probe_url: str
    incident_description: str
    person_sought: dict[str, Any]
    candidates: list[PacketCandidateOut]
    decisions: list[str]
    features: list[str]


class ExculpatoryIn(BaseModel):
    attribute: str = Field(min_length=1, max_length=200)
    consistent: bool | None = Field(description="true, false, or null: cannot be checked")
    note: str = Field(default="", max_length=2000)
    explanation: str = Field(
        default="", max_length=2000, description="why a possible lead stands despite it"
    )


class DecisionIn(BaseModel):
    decision: Literal["exclusion", "inconclusive", "possible_lead"]
    confidence: int = Field(ge=1, le=5)
    features: dict[str, str] = Field(default_factory=dict)
    exculpatory: list[ExculpatoryIn] = Field(default_factory=list)


class ReviewIn(BaseModel):
    decisions: dict[str, DecisionIn] = Field(
        description="One decision per candidate of your packet, by its letter (A, B, ...)."
    )


class ExaminerReviewOut(BaseModel):
    examiner: str
    decisions: dict[str, Any]


class RevealOut(BaseModel):
    request: int
    case: str
    candidates: list[dict[str, Any]]
    reviews: list[ExaminerReviewOut]
    adjudications: list[dict[str, Any]]


class ReleaseIn(BaseModel):
    subject: str = Field(min_length=1, max_length=200)


class AdjudicateIn(BaseModel):
    subject: str = Field(min_length=1, max_length=200)
    release: bool
    note: str = Field(max_length=5000)
    answers: dict[str, str] = Field(
        default_factory=dict,
        description="each inconsistency of the brief (check name) -> the written answer",
    )


class ExaminerNotesOut(BaseModel):
    examiner: str
    decision: str
    confidence: int | None
    features: dict[str, str]
    checks: list[dict[str, Any]]


class InconsistencyOut(BaseModel):
    check: str
    examiner: str
    decision: str
    note: str
    explanation: str


class BriefOut(BaseModel):
    request: int
    case: str
    subject: str
    examiners: list[ExaminerNotesOut]
    inconsistencies: list[InconsistencyOut]
    unchecked: list[str]
    to_answer: list[str]


class AdministerIn(BaseModel):
    administrator: str = Field(min_length=1, max_length=200)
    instruction: str = Field(max_length=2000)
    decisions: list[dict[str, Any]]
    witness: str = Field(max_length=200)
    witness_type: Literal["in_person", "same_recording_only", "knows_person", "other"]
    witness_note: str = Field(default="", max_length=2000)


def array_message(lead_id: int, photos: int) -> str:
    return (
        f"photo array of {photos} photos built for lead {lead_id} (fillers by the witness's "
        "description); the suspect's position is in a sealed key kept in the workspace; "
        "the lineup is recorded when it is administered double-blind (`lead administer`)"
    )


class ArrayIn(BaseModel):
    """The witness's description of the culprit: fillers are drawn by it, never by
    resemblance to the suspect."""

    sex: str = Field("", max_length=20)
    race: str = Field("", max_length=100)
    fillers: int = Field(5, ge=1, le=20)

    def description(self) -> dict[str, str]:
        return {k: v for k, v in (("sex", self.sex), ("race", self.race)) if v}


class CorroborateIn(BaseModel):
    """Corroborating evidence with the independence questions answered (all required)."""

    kind: Literal[
        "physical_evidence",
        "documents_or_records",
        "witness_knows_person",
        "eyewitness_identification_before_search",
        "admission",
        "other",
    ]
    description: str = Field(max_length=5000)
    how_obtained: str = Field(max_length=5000)
    obtained_by: str = Field(max_length=200)
    obtained_on: date
    face_comparison_involved: bool = Field(
        description="was any face recognition or face comparison (any system or person) involved?"
    )
    witness_shown_candidate: bool = Field(
        description="was a witness shown the candidate's photo, or an array built from this search?"
    )
    links_to: Literal["offence", "presence_only"]
    witness: str = Field(default="", max_length=200)
    witness_relationship: str = Field(default="", max_length=2000)
    identified_on: date | None = None


class CorroborationOut(BaseModel):
    message: str
    record: dict[str, Any]


class OutcomeIn(BaseModel):
    outcome: str
    details: str = Field(default="", max_length=5000)


class CandidateOut(BaseModel):
    rank: int
    subject: str
    score: float
    image_sha256: str
    encounter_date: date | None
    evidence: dict[str, Any] | None
    gallery_photo_quality: dict[str, Any] | None


class CandidateListOut(BaseModel):
    """A list of candidates to investigate; never an identification."""

    search_id: int | None
    mode: str
    outcome: str
    probe: dict[str, Any]
    gallery_searched: dict[str, int]
    threshold: dict[str, Any] | None
    open_set: dict[str, Any] | None = None  # the per-search fit and the score listed from
    list_length: int
    candidates: list[CandidateOut]
    notices: list[str]


class VerifyOut(BaseModel):
    intact: bool
    entries: int
    reason: str
    broken_at: int | None
    records_checked: int
    record_problems: list[str]
    key_problems: list[str] = []  # a keyed log's entries without a valid authentication code
    keyed: str = ""  # a keyed log: how many codes were checked, or why none was
    head_problems: list[str] = []  # the log unlike this account's head receipt (audit.head)
    head_receipt: str = ""  # the head receipt's entry, or why none was checked (audit.head)
    index_problems: list[str] = []  # index files unlike the digests the chain recorded
    settings_problems: list[str] = []  # safeguards in the settings file the log does not record
    schema_problems: list[str] = []  # schema downgrades on record (rows adopted after each)
    head: str | None


class AuditEntryOut(BaseModel):
    seq: int
    at: Moment
    actor: str | None
    action: str
    object: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
    sealed: bool = Field(
        False, description="under blind review: the details are shown once every review is in"
    )


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut] = Field(description="newest first")
    older: int | None = Field(
        description="pass as `before` for the next, older page; null at the oldest"
    )
    newer: int | None = Field(
        description="pass as `after` for the previous, newer page; null at the newest"
    )
    zone: str = Field(description="the workspace's time zone, in which `since`/`until` are days")


class GalleryStatsOut(BaseModel):
    subjects: int
    encounters: int
    images: int
    faces: int
    templates_by_space: dict[str, int]
    failures_by_reason: dict[str, int]
    quality_by_decision: dict[str, int]


class SearchLogOut(BaseModel):
    id: int
    created_at: Moment
    mode: str
    outcome: str
    candidates: int
    gallery_templates: int
    threshold: float | None
    probe_name: str


class AccuracyRecordOut(BaseModel):
    id: int
    created_at: Moment
    protocol: str
    space_key: str
    dataset: str
    report_url: str


class OutcomeStatsOut(BaseModel):
    groups: dict[str, dict[str, int]]


class ExternalSearchIn(BaseModel):
    run_by: str = Field(max_length=500)
    system: str = Field(max_length=500)
    run_on: date
    candidate: str = Field(max_length=500)
    how_received: str = Field(max_length=5000)
    notes: str = Field(default="", max_length=5000)


class ExternalSearchOut(BaseModel):
    id: int
    case: str
    recorded_by: str
    run_by: str
    system: str
    run_on: date
    candidate: str
    probe_sha256: str | None
    how_received: str
    notes: str
    recorded_at: Moment
    notice: str


class DuplicateOut(BaseModel):
    subject_a: str
    subject_b: str
    score: float | None
    cutoff: float | None
    range: str
    expected_stranger_pairs_this_high: float | None
    verdict: str
    note: str
    excluded_from_stranger_figures: bool


class DuplicatesOut(BaseModel):
    statement: str
    complete: bool
    pairs: list[DuplicateOut]


class DuplicateResolveIn(BaseModel):
    subject_a: str = Field(min_length=1, max_length=255)
    subject_b: str = Field(min_length=1, max_length=255)
    verdict: Literal["same person", "different people"]
    note: str = Field(min_length=1, max_length=2000)
