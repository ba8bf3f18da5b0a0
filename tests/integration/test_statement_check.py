"""Words that are true: real searches with the default model (SFace) on real faces, every
statement of the lists and reports read back (CLI text and JSON, the API's JSON, the lead
report's PDF via pdftotext and its HTML) and checked against the numbers by
``statement_check``.

The gallery: LFW people with a recorded sex and race and a second photo (so a search can
find them), every one of the rarer groups and a quarter of the Caucasian people."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from leadguard.cli.main import app
from leadguard.evidence import model as em
from leadguard.evidence.groups import subject_groups
from leadguard.face_models import model_space
from leadguard.gallery.enroll import enroll
from leadguard.server.app import create_app
from leadguard.services import accounts, reports
from leadguard.services.casework import leads, review
from leadguard.services.casework import service as cw
from leadguard.services.casework.service import described_groups
from leadguard.services.context import Context
from leadguard.services.report_data import lead_record
from leadguard.storage.workspace import Workspace
from tests.conftest import LFW
from tests.integration import statement_check as sc
from tests.integration.test_reports import SOUGHT, decide, pdf_text

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # 160 people, every document
runner = CliRunner()
PW = "correct horse battery staple"


def _people() -> dict[str, list[dict[str, str]]]:
    with (LFW / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    by: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by.setdefault(r["identity"], []).append(r)
    return by


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, datasets: Path) -> dict[str, Any]:
    by = _people()
    labelled = sorted(i for i, rs in by.items() if len(rs) >= 2 and rs[0]["sex"] and rs[0]["race"])
    rare = [i for i in labelled if by[i][0]["race"] != "caucasian"]
    common = [i for i in labelled if by[i][0]["race"] == "caucasian"][::4]
    people = sorted(rare + common)
    root = tmp_path_factory.mktemp("words")
    manifest = root / "gallery.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "subject_id", "sex", "race"])
        for i in people:
            r = by[i][0]
            w.writerow([str(LFW / r["path"]), i, r["sex"], r["race"]])
    ws = Workspace.init(root / "ws", face_model="sface", workers=2, source_roots=[str(LFW)])
    report = enroll(ws, manifest)
    assert report.enrolled >= 150, report
    recorded = {i: (by[i][0]["sex"], by[i][0]["race"]) for i in people}
    woman = next(i for i in common if by[i][0]["sex"] == "F")
    man = next(i for i in rare if by[i][0]["sex"] == "M" and by[i][0]["race"] == "african")
    single = sorted(i for i, rs in by.items() if len(rs) == 1 and rs[0]["race"])[::50][:1]
    searches = {
        "woman, group recorded": (
            LFW / by[woman][1]["path"],
            ["--probe-sex", "F", "--probe-race", "caucasian"],
            ("F", "caucasian"),
        ),
        "man, group recorded": (
            LFW / by[man][1]["path"],
            ["--probe-sex", "M", "--probe-race", "african"],
            ("M", "african"),
        ),
        "stranger, investigation": (
            LFW / by[single[0]][0]["path"],
            ["--investigation", "--top-k", "6", "--probe-sex", by[single[0]][0]["sex"]],
            (by[single[0]][0]["sex"], None),
        ),
    }
    out: dict[str, Any] = {"recorded": recorded, "cli": {}, "ws": ws}
    base = ["--source-type", "other", "-w", str(ws.root), "--incident-date", "2025-06-01"]
    for name, (probe, extra, probe_rec) in searches.items():
        args = ["search", str(probe), *base, *extra]
        text = runner.invoke(app, args)
        assert text.exit_code == 0, text.output
        data = runner.invoke(app, [*args, "--json"])
        assert data.exit_code == 0, data.output
        out["cli"][name] = (text.output, json.loads(data.output), subject_groups(*probe_rec))
    # accounts from here on: the API's urgent search and a lead through casework
    ctx = Context(ws)
    accounts.add_user(ctx, None, "admin", PW, "admin")
    admin = accounts.login(ctx, "admin", PW).actor
    u = {}
    for name, role in (
        ("sup", "supervisor"),
        ("ex1", "examiner"),
        ("ex2", "examiner"),
        ("rev", "reviewer"),
    ):
        accounts.add_user(ctx, admin, name, PW, role, "north")
        u[name] = accounts.login(ctx, name, PW).actor
    cw.open_case(
        ctx,
        u["sup"],
        "W-1",
        "Robbery",
        date(2026, 3, 1),
        "armed robbery",
        SOUGHT,
        "Det. Rivera",
        "warrant 26-117",
    )
    for name in ("ex1", "ex2", "rev"):
        cw.assign(ctx, u["sup"], "W-1", name)
    probe = searches["woman, group recorded"][0]
    api = create_app(ctx, secure_cookies=True, login_limit=1000)
    with TestClient(api, base_url="https://testserver") as client:
        tok = client.post("/api/login", json={"username": "sup", "password": PW}).json()["token"]
        with probe.open("rb") as fh:
            r = client.post(
                "/api/search",
                headers={"Authorization": f"Bearer {tok}"},
                files={"probe": (probe.name, fh, "image/jpeg")},
                data={"case": "W-1", "reason": "urgent: armed suspect", "source_type": "other"},
            )
        assert r.status_code == 200, r.text
        out["api"] = r.json()
    req = cw.request_search(ctx, u["ex1"], "W-1", probe, "surveillance_still", "find the robber")
    cw.approve(ctx, u["sup"], req.id)
    cw.run_search(ctx, u["ex1"], req.id)
    for name in ("rev", "ex2"):
        packet = review.blind_packet(ctx, u[name], req.id)
        review.submit_review(ctx, u[name], req.id, decide(ctx, u[name], packet, woman))
    lead = leads.release(ctx, u["sup"], req.id, woman)
    written = reports.lead_report(ctx, u["sup"], lead.id, root / "lead")
    with ctx.session() as s:
        rec = lead_record(s, lead.id)
    out["lead_list"] = rec["search"]["result"]
    out["lead_groups"] = rec["evidence_model"]["groups_at_threshold"]
    out["pdf"] = pdf_text(next(f.path for f in written.files if f.path.suffix == ".pdf"))
    out["html"] = next(f.path for f in written.files if f.path.suffix == ".html").read_text()
    out["model"] = em.latest(ws, model_space(ws.settings).key).model  # type: ignore[union-attr]
    yield out
    ctx.close()


def _assert_clean(*found: sc.Findings) -> None:
    problems = [p for f in found for p in f.problems]
    assert not problems, "\n".join(problems)


def test_cli_lists_state_only_what_their_numbers_support(rendered: dict[str, Any]) -> None:
    model, recorded = rendered["model"], rendered["recorded"]
    listed = 0
    for name, (text, data, probe_groups) in rendered["cli"].items():
        _assert_clean(
            sc.check_list_json(model, data, recorded, probe_groups, f"CLI JSON, {name}"),
            sc.check_document(text, data, f"CLI text, {name}"),
        )
        body = sc.flat(text)
        for c in data["candidates"]:
            listed += 1
            for st in c["evidence"]["statements"]:  # the text shows what the record holds
                assert sc.flat(st) in body, (name, st)
    assert listed >= 6  # the checks ran on real candidates, open-set and investigation


def test_a_validated_lr_is_shown_only_for_recorded_validated_groups(
    rendered: dict[str, Any],
) -> None:
    _, woman, _ = rendered["cli"]["woman, group recorded"]
    _, man, _ = rendered["cli"]["man, group recorded"]
    top = woman["candidates"][0]
    assert rendered["recorded"][top["subject"]] == ("F", "caucasian")
    assert top["evidence"]["log10_likelihood_ratio"] is not None
    assert top["evidence"]["likelihood_ratio_validated_within"] == ["F/caucasian"]
    for c in man["candidates"]:  # M/african: too few held-out pairs to validate an LR
        assert c["evidence"]["log10_likelihood_ratio"] is None
        assert "M/african" in c["evidence"]["likelihood_ratio_withheld_because"]


def test_the_api_list_states_only_what_its_numbers_support(rendered: dict[str, Any]) -> None:
    data = rendered["api"]
    assert data["candidates"], data["notices"]
    case = subject_groups(*described_groups(SOUGHT))  # the case describes the person sought
    _assert_clean(sc.check_list_json(rendered["model"], data, rendered["recorded"], case, "API"))


def test_the_lead_report_states_only_what_its_list_supports(rendered: dict[str, Any]) -> None:
    data = rendered["lead_list"]
    model = rendered["model"]
    _assert_clean(
        sc.check_list_json(
            model,
            data,
            rendered["recorded"],
            subject_groups(*described_groups(SOUGHT)),
            "lead report's list",
        ),
        sc.check_document(rendered["pdf"], data, "lead report PDF", rendered["lead_groups"]),
        sc.check_document(
            sc.html_text(rendered["html"]), data, "lead report HTML", rendered["lead_groups"]
        ),
    )
    assert sc.worst_groups_named(rendered["pdf"])  # the report names its worst group


def test_the_checker_catches_what_it_checks(rendered: dict[str, Any]) -> None:
    """Positive controls: each check fails on a statement that breaks it."""
    model, recorded = rendered["model"], rendered["recorded"]
    _, data, groups = rendered["cli"]["stranger, investigation"]
    bad = json.loads(json.dumps(data))
    c2 = bad["candidates"][1]
    c2["evidence"]["statements"].append("The score is also the highest of 9 comparisons.")
    c2["evidence"]["statements"].append("This is a match.")
    c2["evidence"]["false_match_rate"] += 0.01
    f = sc.check_list_json(model, bad, recorded, groups, "control")
    text = "\n".join(f.problems)
    assert "rank 2 is called the highest" in text and "'match'" in text
    assert "is not the record's" in text
    wrong = sc.check_list_json(model, data, recorded, ("sex X",), "control")
    assert any("probe's groups stated" in p for p in wrong.problems)
    two = "may be highest on this list (M/a, from 3) ... may be highest on this list (F/b, from 4)"
    g = sc.Findings("control")
    sc.check_words(two, g)
    assert g.problems and "2 different worst groups" in g.problems[0]
    assert sc.vacuous(0.0, 0.708, 0.0) and not sc.vacuous(0.034, 0.040, 0.028)
