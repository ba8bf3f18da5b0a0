"""The defence disclosure packet of a case (docs/reports.md): every search the case ran
(no candidate and refused included), candidate lists, probes as received and edited,
quality verdicts, versions, evaluation records and per-group error rates, reviews, leads,
outcomes, the case's audit trail with its hash chain and a script to check it. One zip with
a SHA-256 manifest; the export is itself audited."""

from __future__ import annotations

import hashlib
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard import __version__
from leadguard.audit import log as audit
from leadguard.core.errors import InputError
from leadguard.reports.html import render_html
from leadguard.reports.lead import lead_document
from leadguard.reports.packet import as_json, build_zip, manifest, verifier_source
from leadguard.reports.pdf import render_pdf
from leadguard.reports.verify_disclosure import trail_digest  # as the packet's script checks it
from leadguard.services import report_data as rd
from leadguard.services import report_photos
from leadguard.services.audit import entries
from leadguard.services.authz import authorize
from leadguard.services.casework.external import external_searches
from leadguard.services.casework.service import case_by_number, check_case, policy
from leadguard.services.context import Actor, Context, current_user, refusals
from leadguard.services.reports import Written, write_atomic
from leadguard.storage.tables import (
    AuditEntry,
    EmbeddingSpaceRecord,
    EvidenceModelRecord,
    Lead,
    Review,
    SearchLog,
    SearchRequest,
)

PACKET_ACTION = "case.packet"  # the entry inside a packet that names its files
LIBRARIES = ("dlib-bin", "face-recognition-models", "numpy", "faiss-cpu", "opencv-python-headless")

README = """LeadGuard disclosure packet for case {number}

What is in it (docs/reports.md in LeadGuard describes every field):
  case.json                   the case as recorded, who is assigned
  requests/request-N.json     each search request: purpose, source type, who asked, who
                              approved, the probe it names (SHA-256), adjudications
  probes/probe-N.<ext>        each probe's stored bytes: as received, and each image
                              LeadGuard derived from it by a recorded edit
  probes/probe-N.json         the probe's SHA-256, source type, EXIF, editor flag, edits
  probes/search-N-face.png    the face LeadGuard examined in the probe of search N (cut
                              from the stored bytes at the detector's box, with a margin)
  gallery/search-N-rank-R.*   the gallery photo of each candidate search N listed, as
                              enrolled; -face.png the face examined in it; .json its
                              subject, photo date and SHA-256 (or why it is missing)
  searches/search-N.json      every search of the case, whatever its outcome (candidates,
                              no candidate, refused and why): the candidate list exactly as
                              returned, threshold, quality verdict, embedding space, and the
                              false match rate at the threshold within every measured group
  external/external-N.json    each face search run outside LeadGuard that named someone for
                              the case (who ran it, which system, when, whom it named, how
                              it reached the case; its probe under probes/ where there is
                              one): never a lead, never corroboration
  reviews/review-N.json       each examiner's blind decisions (confidence, features,
                              exculpatory checks)
  leads/lead-N.json           released leads: basis, adjudication, corroboration with
                              the independence answers (legacy free text marked), each
                              photo-array showing with the witness and witness type, the
                              outcome history and whether the lead is final
  reports/lead-N.pdf|.html    the lead report of each lead
  system/versions.json        LeadGuard and library versions at export, embedding spaces
  system/evidence-model-N.*   each evidence model the searches used (its stored bytes and
                              provenance, held-out validation); -shipped-<digest> the file
                              LeadGuard ships, for a search recorded before it was stored
  system/accuracy-records.json  the evaluation records of the face model(s) used
  audit/trail.jsonl           the case's audit trail, one entry a line, with hashes; its
                              last entry, "case.packet", written as this packet was made,
                              names every other file but the trail, chain.json and the
                              manifest by its SHA-256, and the entries before it
  audit/chain.json            the chain's head at export and its verification then
  verify_disclosure.py        checks all of this with Python's standard library only
  MANIFEST.sha256             SHA-256 of every other file

To verify:
  python3 verify_disclosure.py {packet}
or, for the files alone:  unzip the packet, then  sha256sum -c MANIFEST.sha256

The audit trail's hash chain: each entry's hash is SHA-256 over the previous entry's hash
followed by the JSON text of [seq, at, actor, action, object, details] (keys sorted, no
spaces, UTF-8). Entries whose sequence numbers follow each other must link; gaps are other
cases' entries. The head hash in audit/chain.json can be compared with `leadguard audit
verify` on the system, or with a head hash recorded elsewhere earlier.
"""


def _ext(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return "bin"


def _search_ids(s: Session, reqs: list[SearchRequest], trail: list[dict[str, Any]]) -> set[int]:
    """Searches of the case: run by its requests, on its probes, or named in its trail."""
    ids = {r.search_id for r in reqs if r.search_id is not None}
    probes = [p.id for r in reqs for p in rd.probes_of(s, r.probe_id)]
    if probes:
        ids |= set(s.scalars(select(SearchLog.id).where(SearchLog.probe_id.in_(probes))))
    for e in trail:
        if e["object"].startswith("search:"):
            ids.add(int(e["object"].split(":", 1)[1]))
        found = e["details"].get("search")
        if isinstance(found, int):
            ids.add(found)
    return ids


def packet_files(
    s: Session, number: str, name: str, actor: str, required: int = 2
) -> tuple[dict[str, bytes], dict[str, int]]:
    """The packet's files, and (in the caller's transaction) the ``case.packet`` audit entry
    that names each of them by its SHA-256 (all but the trail, the chain's head and the
    manifest, which follow it). A search whose reviews are not all in (``required``) is
    sealed: its candidate list and reviews are left out (said so in their place) and its
    audit entries are sealed, until every review is in."""
    from leadguard.services.casework.blind import sealed_requests

    case = case_by_number(s, number)
    blind = {b.search: b for b in sealed_requests(s, required)}
    files: dict[str, bytes] = {"case.json": as_json(rd.case_dict(s, case))}
    reqs = list(
        s.scalars(
            select(SearchRequest).where(SearchRequest.case_id == case.id).order_by(SearchRequest.id)
        )
    )
    trail = entries(s, number, required=required)
    for r in reqs:
        files[f"requests/request-{r.id}.json"] = as_json(rd.request_dict(s, r))
        if r.search_id in blind:
            b = blind[r.search_id]
            files[f"reviews/request-{r.id}-sealed.json"] = as_json(
                {"request": r.id, "sealed": f"blind review: {b.reviews} of {b.required} in"}
            )
        for p in rd.probes_of(s, r.probe_id):
            files[f"probes/probe-{p.id}.{_ext(p.data)}"] = p.data
            files[f"probes/probe-{p.id}.json"] = as_json(rd.probe_dict(p, with_bytes=False))
        for rv in s.scalars(select(Review).where(Review.request_id == r.id)):
            if r.search_id in blind:
                break
            files[f"reviews/review-{rv.id}.json"] = as_json(rd.review_dict(s, rv))
    externals = external_searches(s, case.id)
    for ext in externals:
        files[f"external/external-{ext.id}.json"] = as_json(rd.external_dict(s, ext))
        if ext.probe_id is not None:
            for p in rd.probes_of(s, ext.probe_id):
                files[f"probes/probe-{p.id}.{_ext(p.data)}"] = p.data
                files[f"probes/probe-{p.id}.json"] = as_json(rd.probe_dict(p, with_bytes=False))
    spaces: set[str] = set()
    models: set[int] = set()
    searches = sorted(_search_ids(s, reqs, trail))
    for sid in searches:
        row = s.get(SearchLog, sid)
        if row is None:
            continue
        data = rd.search_dict(row)
        if sid in blind:
            data["result"] = {"sealed": "blind review in progress: shown once every review is in"}
        em = rd.search_model_dict(s, row)
        data["groups_at_threshold"] = em["groups_at_threshold"] if em else []
        files[f"searches/search-{sid}.json"] = as_json(data)
        files.update(_pictures(s, row, sealed=sid in blind))
        if row.space_key:
            spaces.add(row.space_key)
        if row.evidence_model_id is not None:
            models.add(row.evidence_model_id)
        elif em is not None and (shipped := rd.shipped_model(row)) is not None:
            stem = f"system/evidence-model-shipped-{em['payload_sha256'][:12]}"
            files[f"{stem}.npz"] = shipped[1]
            files[f"{stem}.json"] = as_json({**em, "groups_at_threshold": None})
    lead_ids = [
        lead.id
        for lead in s.scalars(
            select(Lead).where(Lead.request_id.in_([r.id for r in reqs])).order_by(Lead.id)
        )
    ]
    for lid in lead_ids:
        lead = s.get(Lead, lid)
        assert lead is not None
        files[f"leads/lead-{lid}.json"] = as_json(rd.lead_dict(s, lead))
        doc = lead_document(rd.lead_record(s, lid))
        files[f"reports/lead-{lid}.pdf"] = render_pdf(doc)
        files[f"reports/lead-{lid}.html"] = render_html(doc)
    for mid in sorted(models):
        rec = s.get(EvidenceModelRecord, mid)
        assert rec is not None
        files[f"system/evidence-model-{mid}.npz"] = rec.payload
        files[f"system/evidence-model-{mid}.json"] = as_json(rd.evidence_model_dict(s, mid, None))
    files["system/accuracy-records.json"] = as_json(
        {k: rd.accuracy_records(s, k) for k in sorted(spaces)}
    )
    files["system/versions.json"] = as_json(_versions(s, spaces))
    files["README.txt"] = README.format(number=number, packet=name).encode()
    files["verify_disclosure.py"] = verifier_source()
    # the files' SHA-256 go into the chain before the trail is exported, so the packet's
    # own trail names its content: an edited file no longer agrees with a hashed entry
    # ... and the trail before it, by each entry's number, hash and sealing: an entry removed,
    # added, sealed or rewritten (its hash recomputed) no longer agrees with it either
    before = entries(s, number, required=required)
    audit.append(
        s,
        PACKET_ACTION,
        f"case:{number}",
        {
            "packet": name,
            "files": {k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
            "trail": {"entries": len(before), "sha256": trail_digest(before)},
        },
        actor=actor,
    )
    s.flush()
    trail = entries(s, number, required=required)
    files["audit/trail.jsonl"] = "".join(
        as_json(e).decode().replace("\n", "") + "\n" for e in trail
    ).encode()
    check = audit.verify(s)
    head = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
    files["audit/chain.json"] = as_json(
        {
            "verified_at_export": check.intact,
            "verification": check.reason,
            "entries_in_chain": check.entries,
            "head_seq": head.seq if head else None,
            "head_hash": head.hash if head else None,
            "genesis_prev_hash": audit.GENESIS,
        }
    )
    counts = {
        "requests": len(reqs),
        "external_searches": len(externals),
        "searches": len(searches),
        "leads": len(lead_ids),
        "audit_entries": len(trail),
    }
    return files, counts


def _pictures(s: Session, row: SearchLog, sealed: bool) -> dict[str, bytes]:
    """The face examined in the probe, and (unless the search is sealed under blind review)
    every listed candidate's gallery photo as enrolled, its examined face and a record of
    its subject, date and SHA-256 (or why the photo is missing)."""
    out: dict[str, bytes] = {}
    face = report_photos.probe_face(s, row.result, row.probe_id)
    if face is not None and face["data"] is not None:
        out[f"probes/search-{row.id}-face.png"] = face["data"]
    if sealed:
        return out
    for p in report_photos.candidate_photos(s, row.result):
        stem = f"gallery/search-{row.id}-rank-{p['rank']}"
        if p["stored"] is not None:
            out[f"{stem}.{_ext(p['stored'])}"] = p["stored"]
        if p["face"] is not None:
            out[f"{stem}-face.png"] = p["face"]
        out[f"{stem}.json"] = as_json(
            {
                "search": row.id,
                "rank": p["rank"],
                "subject": p["subject"],
                "photo_date": p["date"],
                "sha256": p["sha256"],
                "face_box": p["face_box"],
                "missing": p["problem"],
            }
        )
    return out


def _versions(s: Session, spaces: set[str]) -> dict[str, Any]:
    libs: dict[str, str | None] = {}
    for lib in LIBRARIES:
        try:
            libs[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            libs[lib] = None
    return {
        "leadguard": __version__,
        "python": platform.python_version(),
        "libraries_at_export": libs,
        "embedding_spaces": {
            k: rec.descriptor
            for k in sorted(spaces)
            if (rec := s.get(EmbeddingSpaceRecord, k)) is not None
        },
    }


def disclose(ctx: Context, actor: Actor, number: str, out: Path) -> Written:
    """Write the case's disclosure packet (supervisors of the case's unit and auditors)."""
    obj = f"case:{number}"
    with refusals(ctx, actor, "case.disclose", obj):
        if out.exists() and out.is_dir():
            raise InputError(f"{out}: is a folder; give the packet's file name (.zip)")
        with ctx.session() as s:
            user = current_user(s, actor)
            authorize(user, "case.disclose")
            check_case(s, user, "case.disclose", case_by_number(s, number))
            required = policy(ctx, observe=False).examiners_required
            files, counts = packet_files(s, number, out.name, actor.username, required)
            written = write_atomic(out, build_zip(files))  # the entry commits with the file
        with ctx.session() as s:
            entry = audit.append(
                s,
                "case.disclose",
                obj,
                {
                    "file": out.name,
                    "sha256": written.sha256,
                    "manifest_sha256": hashlib.sha256(manifest(files)).hexdigest(),
                    **counts,
                },
                actor=actor.username,
            )
            return Written((written,), entry.seq)
