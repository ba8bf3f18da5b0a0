"""An urgent search of the person a sealed request is about, in other bytes, is refused.

On the real model and real faces: the probe of a request awaiting its blind reviews,
re-encoded and resized (other bytes, the same photo), and another photo of the same person,
are refused by rule ``sealed_probe``; another person's photo is searched; once the reviews
are in, the copy is searched too."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select

from leadguard.services.casework import review
from leadguard.services.casework import service as cw
from leadguard.services.casework.policy import PolicyRefused
from leadguard.services.casework.sealed_faces import sealed_faces
from leadguard.services.search import Override, SearchRequest, examiners_required, search
from leadguard.storage.tables import AuditEntry, SearchLog
from tests.integration.test_casework import decide, make_desk, open_case

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, johns_split, request) -> dict[str, Any]:
    return make_desk(tmp_path_factory, johns_split, "sqlite", request)


def reencoded(src: Path, dest: Path) -> Path:
    """The same photo in other bytes: 90 % of its size, JPEG quality 70."""
    img = Image.open(src).convert("RGB")
    img = img.resize((img.width * 9 // 10, img.height * 9 // 10), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    dest.write_bytes(buf.getvalue())
    assert dest.read_bytes() != src.read_bytes()
    return dest


def urgent(desk: dict[str, Any], photo: Path) -> Any:
    return search(desk["ctx"], desk["u"]["sup"], SearchRequest(photo, "other"), URGENT)


URGENT = Override("S-URGENT", "a child is missing")


def test_the_sealed_person_is_refused_in_any_photo_until_the_reviews_are_in(
    desk, johns_split, tmp_path
) -> None:
    ctx, u = desk["ctx"], desk["u"]
    enrolled, probes = johns_split
    sought, subject = probes[3]
    another_photo = next(p for p, s in enrolled if s == subject)
    stranger = probes[4][0]
    cw.open_case(ctx, u["sup"], "S-URGENT", "Robbery", date(2026, 3, 1), "d", {}, "o", "w")
    rid = open_case(desk, "S-1", sought)
    copy = reencoded(sought, tmp_path / "copy.jpg")

    for photo in (copy, another_photo):  # pending: other bytes, the same person
        with pytest.raises(PolicyRefused, match="person of the probe of a search request") as no:
            urgent(desk, photo)
        assert "similarity" not in str(no.value) and str(rid) not in str(no.value)
    assert urgent(desk, stranger).search_id is not None  # another person is searched

    cw.approve(ctx, u["sup"], rid)
    cw.run_search(ctx, u["ex1"], rid)
    with pytest.raises(PolicyRefused, match="sealed_probe"):  # searched, no review yet
        urgent(desk, copy)
    packets = {who: review.blind_packet(ctx, u[who], rid) for who in ("rev", "ex2")}
    for who, packet in packets.items():
        review.submit_review(ctx, u[who], rid, decide(ctx, u[who], packet, subject))
    listed = urgent(desk, copy)  # every review in: the list is no longer sealed
    assert listed.candidates and listed.candidates[0].subject == subject

    with ctx.session() as s:
        rules = [
            e.details.get("rule")
            for e in s.scalars(select(AuditEntry).where(AuditEntry.action == "refused"))
            if e.object == "case:S-URGENT"
        ]
        refused_logs = s.scalars(select(SearchLog).where(SearchLog.mode == "refused")).all()
    assert rules == ["sealed_probe"] * 3, rules
    assert sum("sealed_probe" in str(r.result) for r in refused_logs) == 3  # each logged


def test_the_comparison_uses_the_evidence_models_threshold(desk, johns_split) -> None:
    """The waiting probes' unit templates are compared at the evidence model's open-set
    threshold for a gallery of that many probes, at the workspace's target FPIR."""
    from leadguard.evidence import model as evidence_model

    ctx = desk["ctx"]
    open_case(desk, "S-2", johns_split[1][2][0])  # a request waiting for its search
    with ctx.borrowed_model() as model, ctx.read_session() as s:
        sealed = sealed_faces(ctx, s, model, lambda: examiners_required(ctx))
        stored = evidence_model.latest(ctx.ws, model.space.key)
    assert stored is not None and sealed.templates
    expected = stored.model.gallery_threshold(ctx.settings.target_fpir, len(sealed.templates))
    assert sealed.threshold == expected.threshold and 0 < sealed.threshold < 1
    for _, t in sealed.templates:
        assert abs(float(np.linalg.norm(t)) - 1) < 1e-4


def test_a_file_replaced_after_the_bytes_check_is_refused_by_the_bytes_searched(
    desk, johns_split, tmp_path, monkeypatch
) -> None:
    """The early check reads the file before the search reads it again: a file replaced in
    between by the sealed probe is refused by the SHA-256 of the bytes actually searched
    (here with the face comparison switched off, so that the bytes alone decide)."""
    from leadguard.services import search as search_service
    from leadguard.services.casework import sealed_faces as sealed_module

    ctx, u = desk["ctx"], desk["u"]
    probes = johns_split[1]
    sought, stranger = probes[0][0], probes[1][0]
    cw.open_case(ctx, u["sup"], "S-SWAP", "Robbery", date(2026, 3, 1), "d", {}, "o", "w")
    open_case(desk, "S-3", sought)  # waiting for its search
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(stranger.read_bytes())
    checked = search_service.refuse_if_under_review

    def check_then_replace(*args: Any) -> None:
        checked(*args)  # reads the stranger's bytes: passes
        photo.write_bytes(sought.read_bytes())

    monkeypatch.setattr(search_service, "refuse_if_under_review", check_then_replace)
    monkeypatch.setattr(sealed_module, "_template", lambda *args: None)
    swap = Override("S-SWAP", "a child is missing")
    with pytest.raises(PolicyRefused, match="is the probe of a search request") as no:
        search(ctx, u["sup"], SearchRequest(photo, "other"), swap)
    assert no.value.rule == "sealed_probe"
    photo.write_bytes(stranger.read_bytes())  # the same route with the stranger: searched
    monkeypatch.setattr(search_service, "refuse_if_under_review", checked)
    assert search(ctx, u["sup"], SearchRequest(photo, "other"), swap).search_id is not None
