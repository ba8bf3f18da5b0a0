"""The lead report's candidate section carries what the list said of each candidate's
gallery photo: a photo flagged for quality at enrollment is flagged in the report too; a
witness description reads as words, not JSON."""

from __future__ import annotations

from typing import Any

from leadguard.reports.document import Document, Para
from leadguard.reports.lead import _candidates


def _record(quality: dict[str, Any] | None) -> dict[str, Any]:
    cand = {
        "rank": 1,
        "subject": "ana",
        "score": 0.71,
        "image_sha256": "ab" * 32,
        "evidence": {"statements": ["False match rate at this score: about 1 in 9,000."]},
        "gallery_photo_quality": quality,
    }
    result = {
        "mode": "open-set",
        "outcome": "candidates",
        "gallery_searched": {"subjects": 150, "templates": 342},
        "candidates": [cand],
    }
    return {"search": {"id": 3, "at": "2026-12-04", "result": result}, "lead": {"subject": "ana"}}


def _paras(rec: dict[str, Any]) -> list[Para]:
    doc = Document("t", "banner")
    _candidates(doc, rec)
    return [b for b in doc.blocks if isinstance(b, Para)]


def test_a_flagged_gallery_photo_is_flagged_in_the_report() -> None:
    flagged = {"decision": "warn", "findings": ["single_face = 2 faces (score 0)"]}
    warned = [p for p in _paras(_record(flagged)) if "flagged for quality" in p.text]
    assert len(warned) == 1 and warned[0].warning
    assert "(warn): single_face = 2 faces (score 0)" in warned[0].text
    assert not any("flagged for quality" in p.text for p in _paras(_record({"decision": "pass"})))
    assert not any("flagged for quality" in p.text for p in _paras(_record(None)))


def test_a_witness_description_reads_as_words() -> None:
    from leadguard.reports.lead import _described

    assert _described({"sex": "?", "height_cm": 180}) == "height cm: 180; sex: ?"
    assert _described({}) == "none recorded" and "{" not in _described({"sex": "F"})
