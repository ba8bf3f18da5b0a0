"""Candidate lists that say what a score is worth: open-set thresholds for the gallery
searched, statements per candidate, "no candidate" recorded, investigation mode labelled."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from leadguard.cli.main import app
from leadguard.core.errors import EvidenceUnavailable
from leadguard.evidence import model as evidence_model
from leadguard.face_models import model_space
from leadguard.search.request import SearchRequest
from leadguard.storage.tables import EvidenceModelRecord, SearchLog
from leadguard.storage.workspace import Workspace
from tests.integration.test_cli import VERDICT
from tests.models import search

pytestmark = pytest.mark.integration
runner = CliRunner()


def _log(ws: Workspace, search_id: int | None) -> SearchLog:
    with ws.session() as s:
        row = s.scalars(select(SearchLog).where(SearchLog.id == search_id)).one()
        s.expunge(row)
        return row


def test_the_shipped_model_serves_this_embedding_space(johns) -> None:
    space = model_space(johns.ws.settings)
    payload = evidence_model.shipped_payload(space.key)
    assert payload is not None, f"no evidence model shipped for space {space.key}"
    stored = evidence_model.latest(johns.ws, space.key)
    assert stored is not None and stored.model.space_key == space.key
    meta = stored.model.meta
    # fitted on one half of LFW's people, validated on the other
    assert meta["calibration"]["identities"] > 2000
    assert meta["validation"]["held_out"]["identities"] > 2000
    assert meta["provenance"]["protocol"] == "evidence"
    with johns.ws.session() as s:
        rows = s.scalars(select(EvidenceModelRecord)).all()
        assert len(rows) == 1 and rows[0].source == "shipped"


def test_open_set_search_states_what_each_score_is_worth(johns) -> None:
    probe, subject = johns.mated_probes[0]
    result = search(johns.ws, SearchRequest(probe, incident_date=date(2030, 6, 1), probe_sex="M"))
    assert result.mode == "open-set" and result.threshold is not None
    stored = evidence_model.latest(johns.ws, result.space.key)
    assert stored is not None
    s = johns.ws.settings
    assert s.worst_group_threshold  # on by default: the worst measured group sets it
    expected = stored.model.gallery_threshold(s.target_fpir, 49, worst_group=True)
    average = stored.model.gallery_threshold(s.target_fpir, 49)
    assert result.threshold.threshold == expected.threshold >= average.threshold
    assert result.threshold.gallery_size == result.gallery_templates == 49
    assert [c.subject for c in result.candidates][:1] == [subject]
    for c in result.candidates:
        assert c.score >= result.threshold.threshold
        ev = c.evidence
        assert ev is not None
        assert ev.chance.gallery_size == 49
        assert ev.chance.expected == pytest.approx(49 * ev.fmr.fmr)
        assert ev.worst_group is not None
        assert ev.worst_group.group == result.candidates[0].evidence.worst_group.group  # type: ignore[union-attr]
        assert ("probe", "sex M") in [(r, st.group) for r, st in ev.own_groups]
        # only the probe's sex is recorded, no candidate group: no LR is shown, and it says why
        assert ev.llr is None and "sex and race are not both recorded" in ev.lr.reason
        text = "\n".join(ev.lines())
        assert "found by searching 49 photos" in text and "For comparison" in text
        assert ev.photo_age_days is None  # the Johns have no encounter dates
    row = _log(johns.ws, result.search_id)
    assert row.outcome == "candidates" and row.threshold == result.threshold.threshold
    assert row.evidence_model_id == stored.id and row.mode == "open-set"


def test_nobody_above_the_threshold_is_a_normal_recorded_answer(johns, non_enrolled_probes) -> None:
    outcomes = []
    for probe, _ in non_enrolled_probes:
        result = search(johns.ws, SearchRequest(probe))
        outcomes.append(result.outcome)
        if result.outcome == "no_candidate":
            assert result.candidates == ()
            assert any("No candidate above the threshold" in n for n in result.notices)
            # five Johns are too few for a per-search fit: the list says so, never silently
            assert result.open_set is not None and not result.open_set.fitted
            assert any(n.startswith("NO PER-SEARCH FIT: only 5 subjects") for n in result.notices)
            row = _log(johns.ws, result.search_id)
            assert row.outcome == "no_candidate" and row.candidates == 0
            assert row.result["open_set"]["basis"] == "fallback"
            assert row.result["outcome"] == "no_candidate"
    # eight strangers against five Johns at FPIR 1 %: most, if not all, return nobody
    assert outcomes.count("no_candidate") >= 7, outcomes


def test_investigation_mode_returns_a_fixed_list_and_says_so(johns, non_enrolled_probes) -> None:
    probe, _ = non_enrolled_probes[0]
    result = search(johns.ws, SearchRequest(probe, investigation=3))
    assert result.mode == "investigation" and result.threshold is None
    assert len(result.candidates) == 3  # strangers all: the list is full anyway
    assert "whether or not the person sought is enrolled" in result.notices[0]
    assert all(c.evidence is not None for c in result.candidates)
    assert _log(johns.ws, result.search_id).mode == "investigation"


def test_without_an_evidence_model_only_investigation_mode_runs(tmp_path: Path, johns) -> None:
    # a space LeadGuard ships no model for (no mirror averaging): no threshold can be set
    ws = Workspace.init(tmp_path / "ws", mirror=False)
    probe = johns.mated_probes[0][0]
    with pytest.raises(EvidenceUnavailable, match="no evidence model"):
        search(ws, SearchRequest(probe))
    result = search(ws, SearchRequest(probe, investigation=5))
    assert result.outcome == "empty_gallery"
    assert any("no evidence model" in n for n in result.notices)


def test_cli_human_and_json_lists_carry_the_statements(johns) -> None:
    probe, subject = johns.mated_probes[1]
    ws = str(johns.ws.root)
    res = runner.invoke(
        app,
        ["search", str(probe), "--source-type", "other", "-w", ws, "--incident-date", "2025-06-01"],
    )
    assert res.exit_code == 0, res.output
    out = res.output
    assert "open-set; candidates listed from score" in out and "threshold 0." in out
    assert "False match rate at this score" in out
    assert "innocent people" in out and "Likelihood ratio" in out and "investigative lead" in out
    assert not VERDICT.search(out)
    res = runner.invoke(app, ["search", str(probe), "--source-type", "other", "-w", ws, "--json"])
    data = json.loads(res.output)
    assert data["mode"] == "open-set" and data["threshold"]["target_fpir"] == 0.01
    assert data["evidence_model"]["source"] == "shipped"
    top = data["candidates"][0]
    assert top["subject"] == subject
    ev = top["evidence"]
    for key in (
        "false_match_rate",
        "false_match_rate_ci95",
        "expected_innocent_at_or_above",
        "p_at_least_one_innocent",
        "worst_group",
        "log10_likelihood_ratio",
        "likelihood_ratio_withheld_because",
        "prior_odds_at_most",
    ):
        assert key in ev
    res = runner.invoke(
        app,
        [
            "search",
            str(probe),
            "--source-type",
            "other",
            "-w",
            ws,
            "--investigation",
            "--top-k",
            "2",
        ],
    )
    assert res.exit_code == 0 and "INVESTIGATION MODE" in res.output
    res = runner.invoke(
        app,
        ["search", str(probe), "--source-type", "other", "-w", ws, "--incident-date", "yesterday"],
    )
    assert res.exit_code == 2 and "--incident-date 'yesterday'" in res.output
    res = runner.invoke(app, ["searches", "-w", ws, "--last", "3"])
    assert res.exit_code == 0 and "Search log" in res.output and "investigation" in res.output
