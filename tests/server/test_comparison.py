"""The comparison view's server side (docs/server.md, "The comparison view") on real faces:
the aligned pair puts the eyes of both faces where the canvas says (re-detected on the
aligned pixels with the real model), marks are authorised, audited and blind (an examiner
sees only their own, by letter; nothing of who a candidate is leaves a blind response), and
the marks reach the lead report with the aligned pair drawn."""

from __future__ import annotations

import base64
import io
import json
import math
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import delete, select

from leadguard.core.alignment import CANVAS, EYES, INTER_EYE, eye_centres
from leadguard.core.types import Detection
from leadguard.pipeline.compose import dlib_68_on_box
from leadguard.services import accounts, reports
from leadguard.storage.tables import AuditEntry, ComparisonAnnotation, SearchLog, SearchRequest
from tests.server.conftest import PW, Served, decisions, letter_of, open_case, web_client
from tests.server.test_blind_and_units import leaks

pytestmark = [pytest.mark.integration, pytest.mark.api]
CASE = "CMP-1"
TOLERANCE = 4.0  # px on the 360 x 440 canvas (inter-eye distance 108 px): re-detection noise


@pytest.fixture(scope="module")
def searched(served: Served) -> dict[str, Any]:
    s = served
    rid = open_case(s, CASE)
    assert s.post("sup", f"/api/requests/{rid}/approve").status_code == 200
    assert s.post("ex1", f"/api/requests/{rid}/run").status_code == 200
    with s.ctx.session() as db:
        req = db.get(SearchRequest, rid)
        assert req is not None
        row = db.get(SearchLog, req.search_id)
        assert row is not None
        cands = list(row.result["candidates"])
    subject = s.probes[0][1]
    assert any(c["subject"] == subject for c in cands), "the probe's John should be listed"
    return {"request": rid, "cands": cands, "subject": subject}


def pixels(data_url: str) -> np.ndarray:
    head, b64 = data_url.split(",", 1)
    assert head == "data:image/png;base64"
    with Image.open(io.BytesIO(base64.b64decode(b64))) as img:
        assert img.size == CANVAS
        return np.asarray(img.convert("RGB"))


def detected_eyes(served: Served, rgb: np.ndarray) -> tuple[tuple[float, float], ...]:
    """The eye centres the real model finds on an aligned image."""
    with served.ctx.borrowed_model() as model:
        found = model.detect(rgb)
    assert found, "no face found on the aligned image"
    return eye_centres(dlib_68_on_box(rgb, Detection(box=found[0].box, score=0.0)))


def audit_after(s: Served, seq: int, action: str) -> list[AuditEntry]:
    with s.ctx.session() as db:
        rows = list(
            db.scalars(
                select(AuditEntry)
                .where(AuditEntry.seq > seq, AuditEntry.action == action)
                .order_by(AuditEntry.seq)
            )
        )
        for r in rows:
            db.expunge(r)
        return rows


def head(s: Served) -> int:
    with s.ctx.session() as db:
        return int(db.scalars(select(AuditEntry.seq).order_by(AuditEntry.seq.desc())).first() or 0)


def test_the_eyes_of_both_faces_coincide_on_the_aligned_pair(
    served: Served, searched: dict[str, Any]
) -> None:
    s, rid = served, searched["request"]
    seen = letter_of(s, "ex2", rid, searched["subject"])
    r = s.get("ex2", f"/api/requests/{rid}/comparison", params={"candidate": seen})
    assert r.status_code == 200, r.text
    pair = r.json()
    assert (pair["width"], pair["height"]) == CANVAS and pair["inter_eye"] == INTER_EYE
    assert pair["blind"] is True and pair["label"] == f"candidate {seen}"
    sides = []
    for side in ("probe", "candidate"):
        assert pair[side]["image"], pair[side]["problem"]
        marks = pair[side]["landmarks"]
        assert len(marks) == 68
        # the landmarks the server aligned on put the eyes exactly where the canvas says
        for got, want in zip(eye_centres([tuple(p) for p in marks]), EYES, strict=True):
            assert math.dist(got, want) < 0.2, (side, got, want)
        # and the real model, run again on the aligned pixels, finds them there
        found = detected_eyes(s, pixels(pair[side]["image"]))
        for got, want in zip(found, EYES, strict=True):
            assert math.dist(got, want) < TOLERANCE, (side, got, want)
        sides.append(found)
    # the probe's eyes and the candidate's coincide (same inter-eye distance and angle)
    for a, b in zip(*sides, strict=True):
        assert math.dist(a, b) < TOLERANCE, sides
    # every other listed candidate aligns too
    for c in searched["cands"]:
        k = letter_of(s, "ex2", rid, c["subject"])
        other = s.get("ex2", f"/api/requests/{rid}/comparison", params={"candidate": k}).json()
        got = eye_centres([tuple(p) for p in other["candidate"]["landmarks"]])
        assert all(math.dist(g, w) < 0.2 for g, w in zip(got, EYES, strict=True))


def test_marks_under_blind_review_are_the_examiners_own_audited_and_blind(
    served: Served, searched: dict[str, Any]
) -> None:
    s, rid, cands = served, searched["request"], searched["cands"]
    seen = letter_of(s, "ex2", rid, searched["subject"])
    before = head(s)
    point = {"candidate": seen, "image": "probe", "kind": "point", "feature": "eyebrows"}
    point |= {"points": [[120, 150]], "note": "scar through the left eyebrow"}
    r = s.post("ex2", f"/api/requests/{rid}/annotations", json=point)
    assert r.status_code == 201, r.text
    assert r.json()["examiner"] == "ex2" and r.json()["measure"] is None
    measure = {"candidate": seen, "image": "candidate", "kind": "measure", "feature": "nose"}
    measure |= {"points": [[180, 200], [180, 281]], "note": "nose length"}
    r = s.post("ex2", f"/api/requests/{rid}/annotations", json=measure)
    assert r.status_code == 201, r.text
    assert r.json()["measure"] == pytest.approx(81 / INTER_EYE, abs=1e-3)

    # the blind responses (the API's and the page's) hold nothing of who the candidate is
    shown = s.get("ex2", f"/api/requests/{rid}/comparison", params={"candidate": seen})
    assert [m["note"] for m in shown.json()["annotations"]] == [point["note"], measure["note"]]
    web = web_client(s, "ex2")
    page_json = web.get(f"/requests/{rid}/comparison", params={"candidate": seen})
    assert page_json.status_code == 200
    listed = s.get("ex2", f"/api/requests/{rid}/annotations", params={"candidate": seen})
    for text in (shown.text, page_json.text, listed.text, r.text):
        assert not leaks(text, cands), leaks(text, cands)

    # another examiner sees none of them; by subject nobody gets anything while blind
    other = letter_of(s, "rev", rid, searched["subject"])
    assert (
        s.get("rev", f"/api/requests/{rid}/annotations", params={"candidate": other}).json() == []
    )
    for user in ("ex2", "sup", "aud"):
        r = s.get(user, f"/api/requests/{rid}/comparison", params={"subject": cands[0]["subject"]})
        assert r.status_code == 403, (user, r.text)
        assert not leaks(r.text, cands)
    # the requester (ex1) may not review, so may not mark; a bad mark says what is wrong
    r = s.post("ex1", f"/api/requests/{rid}/annotations", json=point)
    assert r.status_code in (403, 409), r.text
    bad = {**point, "feature": "tattoo_colour"}
    r = s.post("ex2", f"/api/requests/{rid}/annotations", json=bad)
    assert r.status_code == 400 and "FISWG" in r.json()["message"]
    r = s.post("ex2", f"/api/requests/{rid}/annotations", json={**point, "points": [[400, 10]]})
    assert r.status_code == 400 and "0-360" in r.json()["message"]
    r = s.post("ex2", f"/api/requests/{rid}/annotations", json={**point, "candidate": "ZZ"})
    assert r.status_code == 404 and "ZZ" not in r.text

    # audited on the request, sealed while the reviews are not in
    made = audit_after(s, before, "comparison.annotate")
    assert [e.actor for e in made] == ["ex2", "ex2"]
    assert all(e.object == f"case:{CASE}/request:{rid}" for e in made)
    assert all(searched["subject"] not in json.dumps(e.details) for e in made)
    trail = s.get("aud", "/api/audit/entries", params={"case": CASE}).json()
    marks = [e for e in trail if e["action"] == "comparison.annotate"]
    assert marks and all(e["sealed"] for e in marks)
    refused = [e for e in audit_after(s, before, "refused") if e.actor == "ex1"]
    assert refused, "the requester's refused mark is audited"


def test_marks_reach_the_adjudicator_and_the_lead_report(
    served: Served, searched: dict[str, Any], tmp_path: Any
) -> None:
    s, rid, subject = served, searched["request"], searched["subject"]
    for name in ("ex2", "rev"):
        packet = s.get(name, f"/api/requests/{rid}/packet").json()
        body = {"decisions": decisions(s, name, packet, subject)}
        assert s.post(name, f"/api/requests/{rid}/reviews", json=body).status_code == 201
    # the examiner's marks closed with the review
    seen = letter_of(s, "ex2", rid, subject)
    late = {"subject": subject, "candidate": seen, "image": "probe", "kind": "point"}
    late |= {"feature": "chin", "points": [[100, 300]]}
    r = s.post("ex2", f"/api/requests/{rid}/annotations", json=late)
    assert r.status_code == 403 and "closed" in r.json()["message"], r.text
    # after the reveal: every mark by subject, with who made it; the supervisor marks too
    pair = s.get("sup", f"/api/requests/{rid}/comparison", params={"subject": subject}).json()
    assert pair["blind"] is False and pair["label"] == subject
    assert {m["examiner"] for m in pair["annotations"]} == {"ex2"}
    sup_mark = {"subject": subject, "image": "candidate", "kind": "region", "feature": "ears"}
    sup_mark |= {"points": [[20, 170], [70, 260]], "note": "ear lobes attached"}
    r = s.post("sup", f"/api/requests/{rid}/annotations", json=sup_mark)
    assert r.status_code == 201, r.text
    extra = s.post("sup", f"/api/requests/{rid}/annotations", json={**sup_mark, "note": "x"})
    gone = extra.json()["id"]
    r = s.post("sup", f"/api/requests/{rid}/annotations/{gone}/delete")
    assert r.status_code == 200, r.text
    r = s.post("sup", f"/api/requests/{rid}/annotations/{gone}/delete")
    assert r.status_code == 404 and "does not exist" in r.json()["message"]
    web = web_client(s, "sup")
    page = web.get(f"/requests/{rid}/adjudicate", params={"subject": subject})
    assert page.status_code == 200 and "data-compare" in page.text

    r = s.post("sup", f"/api/requests/{rid}/release", json={"subject": subject})
    assert r.status_code == 201, r.text
    lead = r.json()["id"]
    sup = accounts.login(s.ctx, "sup", PW).actor
    written = reports.lead_report(s.ctx, sup, lead, tmp_path)
    html = next(f.path for f in written.files if f.path.suffix == ".html").read_text()
    assert "marks on the eye-aligned pair" in html
    for note in ("scar through the left eyebrow", "nose length", "ear lobes attached"):
        assert note in html
    assert f"{81 / INTER_EYE:.3f} of the inter-eye distance" in html
    assert "The probe (left) and the lead" in html
    # the probe, its face, each candidate's photo and face, and the marked aligned pair
    assert html.count("<img ") == 1 + 1 + 2 * len(searched["cands"]) + 1
    assert ">x<" not in html  # the removed mark is gone
    assert s.get("aud", "/api/audit/verify").json()["intact"]
    # a mark slipped into the table by hand is named by no entry, and found
    with s.ctx.session() as db:
        planted = ComparisonAnnotation(
            request_id=rid,
            user_id=1,
            subject=subject,
            image="probe",
            kind="point",
            feature="nose",
            points=[[1.0, 2.0]],
            note="planted",
        )
        db.add(planted)
        db.flush()
        planted_id = planted.id
    v = s.get("aud", "/api/audit/verify").json()
    assert not v["intact"]
    assert any(f"comparison_annotations row {planted_id}" in p for p in v["record_problems"])
    with s.ctx.session() as db:
        db.execute(delete(ComparisonAnnotation).where(ComparisonAnnotation.id == planted_id))
    assert s.get("aud", "/api/audit/verify").json()["intact"]
