"""Photo-array guardrails on the real model: no array without corroboration, fillers drawn
by the witness's description, and the "suspect stands out" refusal triggered by an array
built around a face search lead but not by a fair one."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leadguard.core.errors import InputError
from leadguard.gallery.enroll import enroll
from leadguard.services import accounts
from leadguard.services.audit import trail
from leadguard.services.casework import leads, review
from leadguard.services.casework import service as cw
from leadguard.services.casework.blind import letters_of
from leadguard.services.casework.corroboration import corroborate
from leadguard.services.casework.lineup import (
    _photo,
    build_array,
    fits,
    probe_template,
    record_administration,
    stands_out,
)
from leadguard.services.casework.policy import PolicyRefused
from leadguard.services.context import Context
from leadguard.storage.workspace import Workspace
from tests.casework_helpers import checklist, evidence
from tests.conftest import LFW
from tests.integration.conftest import manifest_rows

pytestmark = pytest.mark.integration
PW = "correct horse battery staple"


def test_fits_reads_only_recorded_attributes() -> None:
    assert fits({"sex": "M"}, "m", None)
    assert not fits({"sex": "M", "race": "african"}, "M", None)  # not recorded: no fit
    assert not fits({"sex": "F"}, "M", "african")
    assert fits({"sex": "male", "race": "African"}, "M", "african")  # one sex, two spellings
    assert not fits({"sex": "?"}, "M", None)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, johns_split) -> dict[str, Any]:
    """The Johns (men) and six men from LFW, sex recorded from the manifests; the first
    John's enrolled photos split between his name and an alias (one person enrolled twice,
    as happens in real galleries); a lead released on him from his held-back photo."""
    enrolled, probes = johns_split
    root = tmp_path_factory.mktemp("lineup")
    lfw = [r for r in manifest_rows(LFW) if r["sex"] == "M"]
    men: dict[str, str] = {}
    for r in lfw:
        if len(men) < 6 and r["identity"] not in men and "John" not in r["identity"]:
            men[r["identity"]] = r["path"]
    first = probes[0][1]
    rows = []
    for i, (p, s) in enumerate(p for p in enrolled):
        alias = s == first and i % 2 == 0
        rows.append([str(p), "Alias_1" if alias else s, "M", "x" if alias else "y"])
    rows += [[str(LFW / p), who, "M", "x"] for who, p in men.items()]
    manifest = root / "m.csv"
    with manifest.open("w", newline="") as fh:
        csv.writer(fh).writerows([["path", "subject_id", "sex", "race"], *rows])
    ws = Workspace.init(root / "ws", workers=1)
    enroll(ws, manifest)
    ctx = Context(ws)
    accounts.add_user(ctx, None, "admin", PW, "admin")
    admin = accounts.login(ctx, "admin", PW).actor
    u = {}
    for name, role in (
        ("sup", "supervisor"),
        ("ex1", "examiner"),
        ("ex2", "examiner"),
        ("rev", "reviewer"),
        ("aud", "auditor"),
    ):
        accounts.add_user(ctx, admin, name, PW, role, "north")
        u[name] = accounts.login(ctx, name, PW).actor
    cw.open_case(
        ctx,
        u["sup"],
        "L-1",
        "robbery",
        date(2026, 3, 1),
        "robbery",
        {"sex": "M"},
        "Det. Rivera",
        "warrant",
    )
    for n in ("ex1", "ex2", "rev"):
        cw.assign(ctx, u["sup"], "L-1", n)
    req = cw.request_search(ctx, u["ex1"], "L-1", probes[0][0], "surveillance_still", "find")
    cw.approve(ctx, u["sup"], req.id)
    cw.run_search(ctx, u["ex1"], req.id)
    for n in ("rev", "ex2"):
        packet = review.blind_packet(ctx, u[n], req.id)
        seen = letters_of(ctx, req.id, u[n].id)[first]
        review.submit_review(
            ctx,
            u[n],
            req.id,
            {
                c.letter: {
                    "decision": "possible_lead" if c.letter == seen else "exclusion",
                    "confidence": 3,
                    "features": {"nose": "similar"},
                    "exculpatory": checklist({"sex": "M"}),
                }
                for c in packet.candidates
            },
        )
    lead = leads.release(ctx, u["sup"], req.id, first)
    accounts.add_user(ctx, admin, "blind", PW, "examiner", "north")  # not on the case
    return {"ctx": ctx, "u": u, "root": root, "lead": lead.id, "probes": probes, "men": sorted(men)}


def test_no_array_without_corroboration_and_fillers_by_description(desk) -> None:
    ctx, u, root, lead = desk["ctx"], desk["u"], desk["root"], desk["lead"]
    with pytest.raises(PolicyRefused, match="corroboration_before_lineup"):
        build_array(ctx, u["ex2"], lead, {"sex": "M"}, root / "a0")
    presence = evidence(
        date(2026, 3, 9),
        kind="documents_or_records",
        description="his phone connected to the mast near the store that evening",
        how_obtained="carrier records under a production order",
        links_to="presence_only",
    )
    assert corroborate(ctx, u["ex2"], lead, presence)["counts"] is False
    with pytest.raises(PolicyRefused, match="corroboration_before_lineup"):  # presence only
        build_array(ctx, u["ex2"], lead, {"sex": "M"}, root / "a0")
    corroborate(ctx, u["ex2"], lead, evidence(date(2026, 3, 9)))
    with pytest.raises(PolicyRefused, match="fillers_by_description"):  # nobody recorded F
        build_array(ctx, u["ex2"], lead, {"sex": "F"}, root / "a1")
    with pytest.raises(PolicyRefused, match="fillers_by_description"):  # race not recorded
        build_array(ctx, u["ex2"], lead, {"sex": "M", "race": "african"}, root / "a2")
    refused = {
        e["details"].get("rule") for e in trail(ctx, u["aud"], "L-1") if e["action"] == "refused"
    }
    assert {"corroboration_before_lineup", "fillers_by_description"} <= refused


def test_suspect_stands_out_in_an_array_built_around_the_search(desk) -> None:
    ctx, u, root, lead, probes = desk["ctx"], desk["u"], desk["root"], desk["lead"], desk["probes"]
    space = ctx.face_model().space.key
    suspect = probes[0][1]
    probe = probes[0][0].read_bytes()
    vec = probe_template(ctx, probe, None)
    with ctx.session() as s:
        shown = {p: _photo(s, p, space) for p in [suspect, "Alias_1", *desk["men"]]}
    score = {p: float(np.dot(vec, v[1])) for p, v in shown.items() if v is not None}
    fillers = [score[m] for m in desk["men"][:5]]
    assert stands_out(score[suspect], fillers)  # constructed: the search's own lead
    other = probe_template(ctx, probes[1][0].read_bytes(), None)  # a fair one: the culprit
    fair = {p: float(np.dot(other, v[1])) for p, v in shown.items() if v is not None}
    assert not stands_out(fair[suspect], [fair[m] for m in desk["men"][:5]])  # is not him

    leads_ = {e["details"].get("rule") for e in trail(ctx, u["aud"], "L-1")}
    assert "suspect_stands_out" not in leads_
    # through the service: the description (recorded sex M, race "y") fits only the four
    # other Johns; all four are drawn, and the suspect, the search's own lead, stands out
    with pytest.raises(PolicyRefused, match="suspect_stands_out"):
        build_array(ctx, u["ex2"], lead, {"sex": "M", "race": "y"}, root / "b", fillers=4)
    assert not (root / "b" / "array").exists()


def test_a_fair_array_is_written_with_the_position_sealed(desk) -> None:
    """With the alias among the fillers (the same man's other photos), the suspect is not
    the face most like the probe: the array is written, the suspect's position drawn at
    random and recorded in the sealed key and the audit log, not in the array folder."""
    ctx, u, root, lead = desk["ctx"], desk["u"], desk["root"], desk["lead"]
    space = ctx.face_model().space.key
    vec = probe_template(ctx, desk["probes"][0][0].read_bytes(), None)
    with ctx.session() as s:
        sus, alias = _photo(s, desk["probes"][0][1], space), _photo(s, "Alias_1", space)
    assert sus is not None and alias is not None
    if float(np.dot(vec, alias[1])) < float(np.dot(vec, sus[1])):
        pytest.fail("the alias photo scores below the suspect's: pick another split")
    # race "x" fits the six LFW men and the alias: all seven drawn
    arrays = [
        build_array(ctx, u["ex2"], lead, {"sex": "M", "race": "x"}, root / f"c{i}", fillers=7)
        for i in range(2)
    ]
    a = arrays[0]
    assert len(a.members) == 8 and sum(m.role == "suspect" for m in a.members) == 1
    assert "Alias_1" in {m.subject for m in a.members}
    names = sorted(p.name for p in a.folder.iterdir())
    assert names == sorted(f"position-{m.position}.jpg" for m in a.members)
    key = json.loads(a.key_file.read_text())
    assert key["suspect_position"] == next(m.position for m in a.members if m.role == "suspect")
    assert not any(desk["probes"][0][1] in n for n in names)
    recorded = [e for e in trail(ctx, u["aud"], "L-1") if e["action"] == "lead.lineup.array"]
    assert [e["details"]["suspect_position"] for e in recorded] == [
        x.members[[m.role for m in x.members].index("suspect")].position for x in arrays
    ]


def test_administration_is_double_blind_and_sequential(desk) -> None:
    ctx, u, lead = desk["ctx"], desk["u"], desk["lead"]
    n = len(
        [e for e in trail(ctx, u["aud"], "L-1") if e["action"] == "lead.lineup.array"][-1][
            "details"
        ]["members"]
    )
    said = "The person may or may not be present. Take your time."
    shown = [
        {"position": i, "decision": "not_the_person", "confidence": "sure it is not him"}
        for i in range(1, n + 1)
    ]
    victim = ("W-1 (the clerk)", "in_person")
    with pytest.raises(PolicyRefused, match="double_blind_administrator"):
        record_administration(ctx, u["ex2"], lead, "ex1", said, shown, *victim)  # ran the search
    with pytest.raises(PolicyRefused, match="may_not_be_present_instruction"):
        record_administration(ctx, u["ex2"], lead, "blind", "Pick the robber.", shown, *victim)
    with pytest.raises(InputError, match="sequential"):
        record_administration(ctx, u["ex2"], lead, "blind", said, shown[::-1], *victim)
    bad = [dict(d) for d in shown]
    bad[0]["confidence"] = ""
    with pytest.raises(InputError, match="own words"):
        record_administration(ctx, u["ex2"], lead, "blind", said, bad, *victim)
    with pytest.raises(PolicyRefused, match="witness_saw_only_recording"):
        record_administration(
            ctx, u["ex2"], lead, "blind", said, shown, "loss-prevention contractor",
            "same_recording_only",
        )  # fmt: skip
    with pytest.raises(InputError, match="not one of"):
        record_administration(ctx, u["ex2"], lead, "blind", said, shown, "W-2", "video")
    with pytest.raises(InputError, match="needs a note"):
        record_administration(ctx, u["ex2"], lead, "blind", said, shown, "W-2", "other")
    with pytest.raises(InputError, match="needs the witness"):
        record_administration(ctx, u["ex2"], lead, "blind", said, shown, " ", "in_person")
    record_administration(ctx, u["ex2"], lead, "blind", said, shown, *victim)
    (entry,) = [e for e in trail(ctx, u["aud"], "L-1") if e["action"] == "lead.lineup"]
    assert entry["details"]["administrator"] == "blind" and entry["details"]["sequential"]
    assert entry["details"]["witness_type"] == "in_person"
    assert [d["position"] for d in entry["details"]["decisions"]] == list(range(1, n + 1))
    from leadguard.services.casework.views import list_leads

    (info,) = [x for x in list_leads(ctx, u["sup"]) if x.id == lead]
    assert [w["witness_type"] for w in info.lineups] == ["in_person"]
    # the witness's pick, recorded in LeadGuard for this lead, can never be corroboration
    pick = evidence(
        date(2026, 3, 20),
        kind="eyewitness_identification_before_search",
        description="the clerk named the man who robbed her",
        how_obtained="interview at the station",
        witness="w-1 (THE CLERK)",
        identified_on=date(2026, 3, 2),
    )
    with pytest.raises(PolicyRefused, match="array_pick_never_corroborates"):
        corroborate(ctx, u["ex2"], lead, pick)
    # the witness type is printed in the lead report and carried in the disclosure packet
    import zipfile

    from leadguard.services.disclosure import disclose
    from leadguard.services.reports import lead_report

    report = lead_report(ctx, u["sup"], lead, desk["root"] / "report")
    html = next(f.path for f in report.files if f.path.suffix == ".html").read_text()
    assert "Witness type" in html and "in_person" in html and "W-1 (the clerk)" in html
    packet = disclose(ctx, u["sup"], "L-1", desk["root"] / "L-1.zip")
    zip_path = next(f.path for f in packet.files if f.path.suffix == ".zip")
    with zipfile.ZipFile(zip_path) as z:
        name = next(n for n in z.namelist() if n.endswith(f"leads/lead-{lead}.json"))
        record = json.loads(z.read(name))
    assert [w["witness_type"] for w in record["lineups"]] == ["in_person"]


def test_array_command(desk, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from leadguard.cli.main import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    ws = str(desk["ctx"].root)
    runner = CliRunner()
    assert (
        runner.invoke(app, ["login", "ex2", "--password-stdin", "-w", ws], input=PW).exit_code == 0
    )
    lead = str(desk["lead"])
    res = runner.invoke(
        app,
        [
            "lead",
            "array",
            lead,
            "--sex",
            "M",
            "--race",
            "y",
            "--fillers",
            "4",
            "--out",
            str(tmp_path / "a"),
            "-w",
            ws,
        ],
    )
    assert res.exit_code == 2 and "suspect_stands_out" in res.output, res.output
    res = runner.invoke(
        app,
        [
            "lead",
            "array",
            lead,
            "--sex",
            "M",
            "--race",
            "x",
            "--fillers",
            "7",
            "--out",
            str(tmp_path / "b"),
            "-w",
            ws,
        ],
    )
    assert res.exit_code == 0 and "sealed key" in res.output, res.output
    shown = tmp_path / "shown.json"
    shown.write_text(
        json.dumps(
            [
                {"position": i, "decision": "not_the_person", "confidence": "sure"}
                for i in range(1, 9)
            ]
        )
    )
    common = [
        "lead", "administer", lead, "--administrator", "blind", "--instruction",
        "The person may or may not be present.", "--file", str(shown), "--witness", "W-9",
    ]  # fmt: skip
    res = runner.invoke(app, [*common, "--witness-type", "same_recording_only", "-w", ws])
    assert res.exit_code == 2 and "witness_saw_only_recording" in res.output, res.output
    res = runner.invoke(app, [*common, "--witness-type", "knows_person", "-w", ws])
    assert res.exit_code == 0 and "knows_person" in res.output, res.output
