"""The documented wrongful-arrest chains, replayed through the services with LFW stand-ins
in both variants: every chain is stopped at two or more independent safeguards, no step
that should be refused is allowed, and no legitimate step is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.replays.report import markdown, run_all
from tests.replays.runner import Replay
from tests.replays.scenarios import REPLAYS, load_all

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCENARIOS = [s.id for s in load_all()] if REPLAYS.is_dir() else []


@pytest.fixture(scope="module")
def replays(
    tmp_path_factory: pytest.TempPathFactory, datasets: Path
) -> dict[tuple[str, str], Replay]:
    if not SCENARIOS:
        pytest.skip(f"no replay scenarios at {REPLAYS}")
    done = run_all(tmp_path_factory.mktemp("replays"))
    out = tmp_path_factory.getbasetemp() / "replay-table.md"
    out.write_text(markdown(done))  # the table of this run, for the record
    return {(r.scenario, r.variant): r for r in done}


@pytest.mark.parametrize("variant", ["real", "worst"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_chain_is_stopped_twice_and_judged_right(replays, scenario: str, variant: str) -> None:
    r = replays[(scenario, variant)]
    assert r.first_stop is not None, f"{scenario} ({variant}) never stopped"
    assert len(r.stop_groups) >= 2, (scenario, variant, r.stop_groups)
    allowed = [f"{s.index}. {s.action}" for s in r.wrong if s.verdict == "wrongly allowed"]
    refused = [
        f"{s.index}. {s.action} ({s.rule}: {s.detail})"
        for s in r.wrong
        if s.verdict == "wrongly refused"
    ]
    assert not allowed, f"wrongly allowed: {allowed}"
    assert not refused, f"wrongly refused: {refused}"


def test_every_step_of_every_scenario_was_exercised(replays) -> None:
    """Forcing past a stop leaves no later step unattempted (except where the case itself
    offered nothing: no corroboration at all)."""
    for (scenario, variant), r in replays.items():
        skipped = [
            s.action
            for s in r.steps
            if s.outcome == "not attempted" and s.detail != "nothing offered"
        ]
        assert not skipped, (scenario, variant, skipped)
        steps = {s.index for s in r.steps}
        assert steps == set(range(1, len(steps) + 1)), (scenario, variant)


def test_the_worst_case_search_finds_the_probes_own_person(replays) -> None:
    """In the worst variant the face search works against the process: its candidate is
    another photo of the probe's person (forced where the degraded probe found nobody)."""
    for (scenario, variant), r in replays.items():
        if variant == "worst":
            search = next(s for s in r.steps if s.action == "search_gallery")
            assert search.outcome in ("allowed", "no candidate")
            assert search.outcome == "allowed" or search.forced, (scenario, search)


def test_a_refuted_lead_stays_refuted_and_array_picks_never_corroborate(replays) -> None:
    for (scenario, variant), r in replays.items():
        outcome = next(s for s in r.steps if s.action == "record_outcome")
        assert outcome.outcome == "allowed" and "final" in outcome.detail, (scenario, outcome)
        corro = next((s for s in r.steps if s.action == "record_corroboration"), None)
        if corro is not None and corro.outcome == "refused":
            # the same words with every independence question answered "no" fail too
            assert "refused too" in corro.detail, (scenario, variant, corro.detail)
