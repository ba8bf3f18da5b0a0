"""The lead report: one released lead, everything behind it, from stored records only
(docs/reports.md). Pure: takes the record data, returns a Document."""

from __future__ import annotations

import json
from typing import Any

from leadguard.reports.document import Document
from leadguard.reports.lead_models import models_section

BANNER = "Investigative lead only — not probable cause"
WARNING = (
    "This is an investigative lead from a face search, not an identification. A face search "
    "returns people who look alike; the person sought may not be in the gallery at all. It "
    "may not be the sole basis of an arrest, a warrant or a photo lineup: independent "
    "evidence must connect this person to the offence."
)


def _pct(v: Any) -> str:
    return "—" if v is None else f"{float(v):.3g}"


def _quality(doc: Document, q: dict[str, Any] | None) -> None:
    doc.h("Probe quality", 2)
    if not q:
        doc.p("No quality verdict is on record for this search.")
        return
    doc.fields(
        [
            ("Verdict", q.get("decision")),
            ("Unified quality score (0-100)", q.get("unified_score")),
            ("Policy", q.get("policy")),
        ]
    )
    findings = q.get("findings") or []
    if findings:
        doc.table(["Finding"], [[f if isinstance(f, str) else json.dumps(f)] for f in findings])
    else:
        doc.p("Findings: none (no measure below a refusal floor or in a warning band).")
    measures = q.get("measures") or {}
    doc.table(
        ["Measure", "Raw value", "Unit", "Score (0-100)"],
        [[k, m.get("raw"), m.get("unit"), m.get("score")] for k, m in measures.items()],
        (2, 1, 2, 1),
    )


def _probes(doc: Document, probes: list[dict[str, Any]], searched: str | None) -> None:
    doc.h("Probe as received and after each recorded edit", 2)
    for p in probes:
        edits = (
            ", ".join(
                f"{e.get('op')}({', '.join(map(str, e.get('args', [])))})" for e in p["edits"]
            )
            or "none"
        )
        what = "as received" if p["parent_id"] is None else f"edited by LeadGuard: {edits}"
        mark = " — this is the image that was searched" if p["sha256"] == searched else ""
        doc.picture(f"Probe #{p['id']} {what}{mark}. SHA-256 {p['sha256']}", p["data"], 45)
        doc.fields(
            [
                ("Declared source type", p.get("source_described", p["source_type"])),
                ("File name as received", p["original_name"]),
                ("Received", p["received_at"]),
                ("Image editor named in EXIF", p["editor"] or "none"),
                ("Derived from probe", p["parent_id"]),
            ]
        )


def _probe_face(doc: Document, face: dict[str, Any] | None) -> None:
    doc.h("The face examined in the probe", 2)
    if not face or face.get("data") is None:
        why = (face or {}).get("problem") or "no face box is on record for this search"
        doc.p(f"Not shown: {why}.", warning=True)
        return
    b = face["box"]
    doc.picture(
        f"The face the detector found and the face model compared, cut from probe "
        f"#{face['probe_id']} (SHA-256 {face['sha256']}) at box left {b['left']}, top "
        f"{b['top']}, right {b['right']}, bottom {b['bottom']}, with a margin.",
        face["data"],
        30,
    )


def _candidate_photo(doc: Document, photo: dict[str, Any] | None) -> None:
    if photo is None:
        doc.p("The gallery photo of this candidate is not on record.", warning=True)
        return
    date = f"dated {photo['date']}" if photo.get("date") else "its date not recorded"
    if photo.get("data") is None:
        doc.p(f"Gallery photo ({date}) not shown: {photo.get('problem')}.", warning=True)
    else:
        how = " (re-encoded as PNG for this document)" if photo.get("converted") else ""
        doc.picture(
            f"Gallery photo of {photo['subject']}, rank {photo['rank']}, {date}; as "
            f"enrolled{how}, SHA-256 {photo['sha256']}.",
            photo["data"],
            45,
        )
    if photo.get("face") is not None:
        doc.picture(
            f"The face examined in this gallery photo (rank {photo['rank']}).", photo["face"], 30
        )
    elif photo.get("data") is not None:
        doc.p(f"The examined face is not shown: {photo.get('face_problem')}.")


def _candidates(doc: Document, rec: dict[str, Any]) -> None:
    res = rec["search"]["result"]
    cands = res.get("candidates", [])
    subject = rec["lead"]["subject"]
    doc.h("The candidate list as returned", 1)
    th = res.get("threshold") or {}
    doc.fields(
        [
            ("Search", f"#{rec['search']['id']} at {rec['search']['at']}"),
            ("Mode", res.get("mode")),
            ("Outcome", res.get("outcome")),
            (
                "Gallery searched",
                f"{res['gallery_searched']['subjects']} people, "
                f"{res['gallery_searched']['templates']} photos; {res.get('search')}",
            ),
            ("Threshold", th.get("statement") or "none (no threshold applied)"),
            (
                "Per-search open-set fit",
                (res.get("open_set") or {}).get("statement") or "none recorded for this search",
            ),
            ("List length asked for", res.get("list_length")),
            ("Scores", res.get("score")),
        ]
    )
    stood = [c for c in cands if c["subject"] == subject]
    if stood:
        doc.p(
            f"The released candidate, {subject}, stood at rank {stood[0]['rank']} of "
            f"{len(cands)} on this list (score {stood[0]['score']:.4f})."
        )
    else:
        doc.p(f"The released candidate, {subject}, is not on the stored list.", warning=True)
    rows = []
    for c in cands:
        ev = c.get("evidence") or {}
        rows.append(
            [
                c["rank"],
                c["subject"] + ("  (released)" if c["subject"] == subject else ""),
                f"{c['score']:.4f}",
                ev.get("statement"),
                _pct(ev.get("expected_innocent_at_or_above")),
                ev.get("likelihood_ratio_statement"),
                ev.get("photo_age_days_at_incident"),
            ]
        )
    doc.table(
        [
            "Rank",
            "Candidate",
            "Score",
            "False match rate at this score",
            "Innocent people expected this high",
            "Likelihood ratio",
            "Photo age (days)",
        ],
        rows,
        (0.6, 1.8, 0.9, 2.6, 1.2, 2.4, 0.9),
    )
    photos = {p["rank"]: p for p in rec.get("candidate_photos") or []}
    for c in cands:
        ev = c.get("evidence") or {}
        doc.h(f"Rank {c['rank']}: {c['subject']} — in plain words", 2)
        _candidate_photo(doc, photos.get(c["rank"]))
        for line in ev.get("statements") or ["No evidence statement is on record."]:
            doc.p(line)
        pq = c.get("gallery_photo_quality") or {}
        if pq.get("decision") in ("warn", "refuse"):  # as the list said it (cli.render)
            doc.p(
                f"The gallery photo was flagged for quality when it was enrolled "
                f"({pq['decision']}): {'; '.join(map(str, pq.get('findings') or [])) or '-'}.",
                warning=True,
            )
        doc.fields(
            [
                ("Gallery photo SHA-256", c.get("image_sha256")),
                ("Gallery photo quality at enrollment", pq.get("decision") or "not recorded"),
                ("Gallery photo date", c.get("encounter_date") or "not recorded"),
                ("Photo age at the incident (days)", ev.get("photo_age_days_at_incident")),
                ("Newer photo of this person in the gallery", ev.get("newer_encounter_in_gallery")),
            ]
        )
    if res.get("notices"):
        doc.h("Notices given with the list", 2)
        for n in res["notices"]:
            doc.p(n)


def _consistency(v: Any) -> str:
    return "consistent" if v is True else ("cannot be checked" if v is None else "INCONSISTENT")


def _reviews(doc: Document, rec: dict[str, Any]) -> None:
    doc.h("Blind reviews", 1)
    if not rec["reviews"]:
        doc.p("No review is on record.", warning=True)
    for r in rec["reviews"]:
        doc.h(f"Review by {r['examiner']} (submitted {r['submitted_at']})", 2)
        rows = []
        for subject, d in sorted(r["decisions"].items()):
            feats = "; ".join(f"{k}: {v}" for k, v in sorted((d.get("features") or {}).items()))
            checks = "; ".join(
                f"{c.get('attribute')}: {_consistency(c.get('consistent'))}"
                + (f" ({c['note']})" if c.get("note") else "")
                + (f" — explained: {c['explanation']}" if c.get("explanation") else "")
                for c in d.get("exculpatory") or []
            )
            rows.append([subject, d.get("decision"), d.get("confidence"), feats, checks])
        doc.table(
            [
                "Candidate",
                "Decision",
                "Confidence (1-5)",
                "Features compared",
                "Exculpatory checks",
            ],
            rows,
            (1.6, 1.2, 0.8, 2.6, 2.2),
        )
    adj = rec["request"]["adjudications"] or []
    doc.h("Adjudication", 2)
    if not adj:
        doc.p(
            "None: the lead was released on concurring reviews."
            if rec["lead"]["basis"] == "concurring"
            else "None on record."
        )
    for a in adj:
        doc.fields(
            [
                (k, json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v)
                for k, v in sorted(a.items())
            ]
        )


def _comparison(doc: Document, rec: dict[str, Any]) -> None:
    """The examiners' marks on the eye-aligned pair of the lead's candidate."""
    comp = rec.get("comparison") or {}
    marks = comp.get("marks") or []
    doc.h("The comparison: marks on the eye-aligned pair", 2)
    if not marks:
        doc.p(
            "No examiner or adjudicator marked a feature or took a measurement on the "
            "eye-aligned pair of this candidate; no aligned pair is drawn."
        )
        return
    if comp.get("png"):
        doc.picture(
            "The probe (left) and the lead's candidate (right), each scaled and rotated so "
            "that the centres of the eyes (from dlib's 68 landmarks in the face box the "
            "search compared) fall on the same two points, the ticks at eye height; every "
            "mark below is drawn and numbered on it.",
            comp["png"],
            150,
        )
    else:
        doc.p(f"The aligned pair is not drawn: {comp.get('problem')}.", warning=True)
    rows = []
    for n, m in enumerate(marks, 1):
        size = (
            f"{m['measure']:.3f} of the inter-eye distance" if m.get("measure") is not None else ""
        )
        where = ", ".join(f"({x:.0f}, {y:.0f})" for x, y in m["points"])
        rows.append(
            [
                n,
                m["examiner"],
                m["image"],
                m["feature"].replace("_", " "),
                m["kind"],
                where,
                size,
                m["note"],
                m["created_at"],
            ]
        )
    doc.table(
        [
            "#",
            "By",
            "Image",
            "FISWG feature",
            "Kind",
            "Points (aligned px)",
            "Measurement",
            "Note",
            "Made",
        ],
        rows,
        (0.3, 0.9, 0.8, 1.0, 0.7, 1.2, 1.2, 2.0, 1.3),
    )


def _yes_no(v: Any) -> str:
    return "—" if v is None else ("yes" if v else "no")


def _answers(c: dict[str, Any]) -> str:
    if c.get("legacy"):
        return "not asked (recorded before the questions were)"
    links = (
        "only places the person somewhere"
        if c.get("links_to") == "presence_only"
        else "links to the offence"
    )
    return (
        f"face comparison involved: {_yes_no(c.get('face_comparison_involved'))}; witness "
        f"shown the candidate: {_yes_no(c.get('witness_shown_candidate'))}; {links}"
    )


def _corroboration(doc: Document, lead: dict[str, Any]) -> None:
    doc.h("Corroboration and outcome", 1)
    items = lead["corroboration"] or []
    if not lead.get("independent_corroboration"):
        doc.p(
            "No independent evidence linking the person to the offence is on record. Under "
            "the policy this lead cannot support a photo lineup or a suspect identification.",
            warning=True,
        )
    if items:
        doc.table(
            ["Kind", "What", "How obtained; by; on", "Independence answers", "Counts"],
            [
                [
                    "legacy free text (not counted)" if c.get("legacy") else c.get("kind"),
                    c.get("description"),
                    f"{c.get('how_obtained') or '—'}; {c.get('obtained_by')}; "
                    f"{c.get('obtained_on')}",
                    _answers(c),
                    _yes_no(c.get("counts")),
                ]
                for c in items
            ],
            (1.3, 2.2, 2.0, 2.0, 0.6),
        )
    if lead.get("final"):
        doc.p(f"This lead is final: {lead['final']}.", warning=True)
    doc.fields([("Photo lineup recorded", lead["lineup_recorded"])])
    for w in lead.get("lineups") or []:
        doc.fields(
            [
                ("Photo array shown to witness", w.get("witness", "not recorded")),
                ("Witness type", w.get("witness_type")),
                ("Witness note", w.get("witness_note") or "—"),
                ("Administrator", w.get("administrator", "not recorded")),
            ]
        )
    if lead["outcomes"]:
        doc.table(
            ["Outcome", "Details", "Recorded at", "By"],
            [
                [o.get("outcome"), o.get("details"), o.get("at"), o.get("by")]
                for o in lead["outcomes"]
            ],
        )
    else:
        doc.p("Outcome: none recorded yet.")


def _external(doc: Document, rows: list[dict[str, Any]]) -> None:
    doc.h("Face searches run outside LeadGuard on this case", 2)
    if not rows:
        doc.p("None recorded.")
        return
    doc.p(
        "Each is a face comparison by another system: never corroboration of this lead, and "
        "never a lead by itself.",
        warning=True,
    )
    doc.table(
        ["#", "Run by", "System", "Run on", "Person named", "Probe SHA-256"],
        [
            [
                x["id"],
                x["run_by"],
                x["system"],
                x["run_on"],
                x["candidate_named"],
                x["probe_sha256"],
            ]
            for x in rows
        ],
    )


def _described(attrs: Any) -> str:
    """A witness description in words ("sex: ?; height: 180 cm"), not as JSON."""
    if not isinstance(attrs, dict) or not attrs:
        return "none recorded"
    return "; ".join(
        f"{k.replace('_', ' ')}: {v if isinstance(v, str | int | float) else json.dumps(v)}"
        for k, v in sorted(attrs.items())
    )


def lead_document(rec: dict[str, Any]) -> Document:
    case, req, lead = rec["case"], rec["request"], rec["lead"]
    doc = Document(f"Lead report — case {case['number']}, lead {lead['id']}", BANNER)
    doc.p(WARNING, warning=True)
    doc.h("Case, request and release", 1)
    doc.fields(
        [
            ("Case", case["number"]),
            ("Offence", case["offence"]),
            ("Incident date", case["incident_date"]),
            ("Description", case["description"]),
            (
                "Person sought (witness description)",
                _described(case["person_sought"]),
            ),
            ("Requesting officer", case["requesting_officer"]),
            ("Legal authority", case["legal_authority"]),
            ("Search request", f"#{req['id']}: {req['purpose']}"),
            ("Requested by", req["requested_by"]),
            ("Approved by", req["approved_by"]),
            ("Search run by", req["searched_by"]),
            ("Lead", f"#{lead['id']}: {lead['subject']}"),
            (
                "Candidate's recorded sex / race",
                f"{lead['subject_sex'] or 'not recorded'} / "
                f"{lead['subject_race'] or 'not recorded'}",
            ),
            ("Released by", f"{lead['released_by']} at {lead['released_at']}"),
            ("Basis of release", lead["basis"]),
        ]
    )
    doc.h("Probe", 1)
    prov = rec["search"]["result"].get("probe_provenance") or {}
    _probes(doc, rec["probes"], prov.get("searched_sha256"))
    _probe_face(doc, rec.get("probe_face"))
    _quality(doc, rec["search"]["result"].get("probe_quality"))
    _candidates(doc, rec)
    _reviews(doc, rec)
    _comparison(doc, rec)
    _corroboration(doc, lead)
    _external(doc, rec.get("external_searches") or [])
    models_section(doc, rec)
    doc.h("About this document", 1)
    doc.p(
        "Built only from LeadGuard's stored records (case, request, probe bytes, search log, "
        "reviews, lead, evidence model, accuracy records); it holds no generation time, so "
        "the same records always give the same bytes. Its SHA-256 and the time it was "
        "produced are in the audit log (action report.lead)."
    )
    return doc
