"""Photo-array guardrails (docs/reports.md, "Lineup guardrails"): an array only for a
corroborated lead; fillers drawn from the gallery by the witness's description (sex, race),
never by resemblance to the suspect; the probe scored against the suspect and every filler
with the same face model, and the array refused when the suspect is the face most like the
probe (the signature of a lineup built around a face search); the suspect's position drawn
at random and recorded (in the audit log and a sealed key file, not in the administrator's
folder).

``record_administration`` records the double-blind sequential showing, with the witness and
the witness's type; a witness who only saw the same recording is refused (in Williams v.
City of Detroit the "witness" was a contractor who had only watched the video)."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.evidence.groups import race_code, sex_code
from leadguard.pipeline.compose import FacePipeline, FaceSelection
from leadguard.services.casework.lead_state import get_lead, lead_object
from leadguard.services.casework.leads import require_usable
from leadguard.services.casework.policy import PolicyRefused
from leadguard.services.casework.review import blind_to_lead
from leadguard.services.casework.service import check_case, policy
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.tables import (
    AuditEntry,
    CaseAssignment,
    Encounter,
    FaceRecord,
    ImageRecord,
    Lead,
    LineupShowing,
    ProbeRecord,
    Review,
    SearchLog,
    SearchRequest,
    Subject,
    TemplateRecord,
    User,
)


@dataclass(frozen=True)
class Member:
    position: int  # 1-based, as shown
    role: str  # "suspect" | "filler"
    subject: str
    image_sha256: str
    score: float  # probe vs this photo, same face model


@dataclass(frozen=True)
class PhotoArray:
    lead_id: int
    members: tuple[Member, ...]
    seed: str
    folder: Path  # the administrator's folder: photos by position only
    key_file: Path  # sealed: which position holds the suspect


def stands_out(suspect: float, fillers: list[float]) -> bool:
    """The suspect is the face most like the probe: what a lineup built around a face
    search looks like (the search put the most probe-like face in it)."""
    return bool(fillers) and suspect > max(fillers)


def fits(description: dict[str, str], sex: str | None, race: str | None) -> bool:
    """A gallery subject fits the witness's description when every described attribute is
    recorded for the subject and the same (any spelling of one sex; race case-insensitive)."""
    code = {"sex": sex_code, "race": race_code}
    recorded = {"sex": sex, "race": race}
    return all(
        bool(code[k](recorded[k])) and code[k](recorded[k]) == code[k](str(v))
        for k, v in description.items()
        if k in recorded and v
    )


def _photo(s: Session, subject: str, space: str) -> tuple[ImageRecord, np.ndarray] | None:
    """The subject's newest enrolled photo (by encounter date, then id) and its template."""
    q = (
        select(ImageRecord, TemplateRecord)
        .join(Encounter, ImageRecord.encounter_id == Encounter.id)
        .join(Subject, Encounter.subject_id == Subject.id)
        .join(FaceRecord, FaceRecord.image_id == ImageRecord.id)
        .join(TemplateRecord, TemplateRecord.face_id == FaceRecord.id)
        .where(Subject.external_id == subject, TemplateRecord.space_key == space)
        .order_by(Encounter.encounter_date.desc().nulls_last(), ImageRecord.id.desc())
    )
    row = s.execute(q.limit(1)).first()
    if row is None:
        return None
    return row[0], np.frombuffer(row[1].vector, dtype=np.float32)


def probe_template(ctx: Context, data: bytes, face: int | None) -> np.ndarray:
    st = ctx.settings
    with ctx.borrowed_model() as model:
        pipeline = FacePipeline(model, st.min_face_size, st.max_image_pixels)
        done = pipeline.process(data, "stored probe", FaceSelection("reject", face))
    return np.asarray(done.template.vector, dtype=np.float32)


def _lineup_lead(s: Session, actor: Actor, lead_id: int, pol: Any, what: str) -> Lead:
    """The lead, once the actor may act on its case and the lineup rules allow ``what``."""
    lead, case = get_lead(s, lead_id)
    user = current_user(s, actor)
    check_case(s, user, "lead.lineup", case)
    blind_to_lead(s, user, lead, case, pol)
    require_usable(s, lead, pol, "corroboration_before_lineup", what)
    return lead


def build_array(
    ctx: Context,
    actor: Actor,
    lead_id: int,
    description: dict[str, str],
    out: Path,
    fillers: int = 5,
) -> PhotoArray:
    obj = lead_object(ctx, lead_id)
    with refusals(ctx, actor, "lead.lineup", obj):
        pol = policy(ctx)
        with ctx.session() as s:
            lead = _lineup_lead(s, actor, lead_id, pol, "a photo array")
            if not any(description.get(k) for k in ("sex", "race")):
                raise InputError("the witness's description needs at least sex or race")
            req = s.get(SearchRequest, lead.request_id)
            row = s.get(SearchLog, req.search_id) if req and req.search_id else None
            probe = s.get(ProbeRecord, row.probe_id) if row and row.probe_id else None
            if req is None or row is None or probe is None:
                raise InputError(f"lead {lead_id}: the searched probe is not on record")
            space, probe_bytes, face = row.space_key, probe.data, req.face
            pool = sorted(
                subj.external_id
                for subj in s.scalars(select(Subject))
                if subj.external_id != lead.subject and fits(description, subj.sex, subj.race)
            )
            if len(pool) < fillers:
                raise PolicyRefused(
                    "fillers_by_description",
                    f"only {len(pool)} gallery subjects fit the description "
                    f"{json.dumps(description, sort_keys=True)}; {fillers} fillers needed",
                )
            seed = secrets.token_hex(8)
            rng = random.Random(seed)
            chosen = rng.sample(pool, fillers)  # by description only, never by resemblance
            people = [(lead.subject, "suspect"), *((f, "filler") for f in chosen)]
            photos = {p: _photo(s, p, space) for p, _ in people}
        missing = [p for p, v in photos.items() if v is None]
        if missing:
            raise InputError(f"no enrolled photo in this face model for {', '.join(missing)}")
        vec = probe_template(ctx, probe_bytes, face)
        rng.shuffle(people)
        members = []
        for pos, (person, role) in enumerate(people, start=1):
            img, tmpl = photos[person]  # type: ignore[misc]
            members.append(Member(pos, role, person, img.sha256, float(np.dot(vec, tmpl))))
        suspect = next(m for m in members if m.role == "suspect")
        filler_scores = [m.score for m in members if m.role == "filler"]
        if stands_out(suspect.score, filler_scores):
            raise PolicyRefused(
                "suspect_stands_out",
                f"the suspect is the face most like the probe ({suspect.score:.4f} against "
                f"at most {max(filler_scores):.4f} for the fillers): an array built around a "
                "face search lead; draw other fillers or do not hold a photo lineup",
            )
        return _write(ctx, actor, obj, lead_id, description, members, seed, out, photos)


def build_kept_array(
    ctx: Context, actor: Actor, lead_id: int, description: dict[str, str], fillers: int = 5
) -> PhotoArray:
    """``build_array`` into the workspace's own ``arrays/`` folder (the server's shells name
    no path): one folder per array, named by the lead and the time it was built."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    return build_array(
        ctx, actor, lead_id, description, ctx.root / "arrays" / f"lead-{lead_id}-{stamp}", fillers
    )


def _write(
    ctx: Context,
    actor: Actor,
    obj: str,
    lead_id: int,
    description: dict[str, str],
    members: list[Member],
    seed: str,
    out: Path,
    photos: dict[str, Any],
) -> PhotoArray:
    folder, key = out / "array", out / "sealed-key.json"
    folder.mkdir(parents=True, exist_ok=True)
    hashes = {}
    for m in members:
        img = photos[m.subject][0]
        data = Path(img.source_path).read_bytes()
        if hashlib.sha256(data).hexdigest() != img.sha256:
            raise InputError(f"{img.source_path}: changed since enrollment (SHA-256 differs)")
        name = f"position-{m.position}{Path(img.source_path).suffix.lower()}"
        (folder / name).write_bytes(data)
        hashes[name] = img.sha256
    record = {
        "lead": lead_id,
        "description": description,
        "seed": seed,
        "suspect_position": next(m.position for m in members if m.role == "suspect"),
        "members": [m.__dict__ for m in members],
        "files": hashes,
    }
    key.write_text(json.dumps(record, indent=1, sort_keys=True))
    with ctx.session() as s:
        audit.append(s, "lead.lineup.array", obj, record, actor=actor.username)
    return PhotoArray(lead_id, tuple(members), seed, folder, key)


DECISIONS = ("not_the_person", "the_person", "unsure")
# how the witness knows the face they are asked about
WITNESS_TYPES = ("in_person", "same_recording_only", "knows_person", "other")


def _who_knows(s: Session, lead: Lead, req: SearchRequest) -> set[int]:
    """Users who know who the suspect is: assigned to the case, or a party to the search,
    its reviews or the release."""
    known = set(
        s.scalars(select(CaseAssignment.user_id).where(CaseAssignment.case_id == req.case_id))
    )
    known |= {
        u for u in (req.requested_by, req.approved_by, req.searched_by, lead.released_by) if u
    }
    known |= set(s.scalars(select(Review.examiner_id).where(Review.request_id == req.id)))
    return known


def _check_witness(witness: str, witness_type: str, witness_note: str) -> None:
    if witness_type not in WITNESS_TYPES:
        raise InputError(f"witness type {witness_type!r} is not one of {', '.join(WITNESS_TYPES)}")
    if not witness.strip():
        raise InputError("the showing needs the witness (a name or pseudonym)")
    if witness_type == "other" and not witness_note.strip():
        raise InputError("witness type 'other' needs a note saying how they saw the person")
    if witness_type == "same_recording_only":
        raise PolicyRefused(
            "witness_saw_only_recording",
            f"{witness} saw the person only in the same recording the probe came from: "
            "not an eyewitness; their pick would only repeat the face search",
        )


def record_administration(
    ctx: Context,
    actor: Actor,
    lead_id: int,
    administrator: str,
    instruction: str,
    decisions: list[dict[str, Any]],
    witness: str,
    witness_type: str,
    witness_note: str = "",
) -> None:
    """The double-blind, sequential showing of the latest LeadGuard array: an administrator
    who does not know the suspect, the "may not be present" instruction, the witness (a
    name or pseudonym, kept so that their pick can never be recorded as corroboration) and
    their type (``WITNESS_TYPES``; ``other`` needs ``witness_note``), and, position by
    position in order, the witness's decision and confidence in their own words."""
    obj = lead_object(ctx, lead_id)
    with refusals(ctx, actor, "lead.lineup", obj):
        pol = policy(ctx)
        with ctx.session() as s:
            lead = _lineup_lead(s, actor, lead_id, pol, "a photo lineup")
            _check_witness(witness, witness_type, witness_note)
            array = s.scalars(
                select(AuditEntry)
                .where(AuditEntry.object == obj, AuditEntry.action == "lead.lineup.array")
                .order_by(AuditEntry.seq.desc())
                .limit(1)
            ).first()
            if array is None:
                raise PolicyRefused(
                    "array_by_description", f"lead {lead_id} has no photo array built by LeadGuard"
                )
            req = s.get(SearchRequest, lead.request_id)
            assert req is not None
            admin = s.scalars(select(User).where(User.username == administrator)).first()
            if admin is None:
                raise InputError(f"administrator {administrator!r}: no such user")
            if admin.id in _who_knows(s, lead, req):
                raise PolicyRefused(
                    "double_blind_administrator",
                    f"{administrator} knows the case or the suspect: the array must be shown "
                    "by someone who does not",
                )
            if "may not be present" not in instruction.lower() and (
                "may or may not" not in instruction.lower()
            ):
                raise PolicyRefused(
                    "may_not_be_present_instruction",
                    "the witness must be told the person may not be in the array",
                )
            n = len(array.details["members"])
            if [d.get("position") for d in decisions] != list(range(1, n + 1)):
                raise InputError(f"decisions: one per position, in order 1 to {n} (sequential)")
            for d in decisions:
                if d.get("decision") not in DECISIONS or not str(d.get("confidence", "")).strip():
                    raise InputError(
                        f"position {d.get('position')}: decision one of {', '.join(DECISIONS)} "
                        "and the witness's confidence in their own words"
                    )
            lead.lineup_recorded = True
            row = LineupShowing(
                lead_id=lead.id,
                array_entry=array.seq,
                administrator=administrator,
                witness=witness.strip(),
                witness_type=witness_type,
                witness_note=witness_note.strip(),
                instruction=instruction,
                decisions=decisions,
                recorded_by=actor.username,
            )
            s.add(row)
            s.flush()
            audit.append(
                s,
                "lead.lineup",
                obj,
                {
                    "array_entry": array.seq,
                    "administrator": administrator,
                    "witness": row.witness,
                    "witness_type": witness_type,
                    "witness_note": row.witness_note,
                    "instruction": instruction,
                    "sequential": True,
                    "decisions": decisions,
                },
                actor=actor.username,
                records=[lead, row],
            )
