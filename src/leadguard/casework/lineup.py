"""Photo-array guardrails (docs/reports.md, "Lineup guardrails"): an array only for a
corroborated lead; fillers drawn from the gallery by the witness's description (sex, race),
never by resemblance to the suspect; the probe scored against the suspect and every filler
with the same face model, and the array refused when the suspect is the face most like the
probe (the signature of a lineup built around a face search); the suspect's position drawn
at random and recorded (in the audit log and a sealed key file, not in the administrator's
folder).

Not built yet: the record of the double-blind sequential administration itself."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard import audit
from leadguard.casework.leads import _lead, _usable, lead_object
from leadguard.casework.policy import PolicyRefused
from leadguard.casework.service import check_case, policy
from leadguard.errors import InputError
from leadguard.pipeline.compose import FacePipeline, FaceSelection
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.storage.models import (
    Encounter,
    FaceRecord,
    ImageRecord,
    ProbeRecord,
    SearchLog,
    SearchRequest,
    Subject,
    TemplateRecord,
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
    recorded for the subject and equal (case-insensitive)."""
    recorded = {"sex": sex, "race": race}
    return all(
        recorded.get(k) is not None and str(recorded[k]).lower() == str(v).lower()
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
    pipeline = FacePipeline(ctx.face_model(), st.min_face_size, st.max_image_pixels)
    done = pipeline.process(data, "stored probe", FaceSelection("reject", face))
    return np.asarray(done.template.vector, dtype=np.float32)


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
        if not any(description.get(k) for k in ("sex", "race")):
            raise InputError("the witness's description needs at least sex or race")
        with ctx.session() as s:
            lead, case = _lead(s, lead_id)
            check_case(s, current_user(s, actor), "lead.lineup", case)
            _usable(lead, pol, "corroboration_before_lineup", "a photo array")
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
