"""The CLI at 80 columns: list tables never cut a subject's name, a case number or a status
(less important columns are left out first, and named); `models list` and every `--help`
fit; `settings set` works in a workspace that has no accounts yet (its set-up) and needs
the admin's login once it has."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from types import SimpleNamespace as N
from typing import Any

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from leadguard.cli import render, views
from leadguard.cli.main import app

NAMES = ("Lino_Oviedo_Zarate_de_la_Fuente", "Maria_Soledad_Alvear_Valenzuela")
CASE = "2026-ROB-000417"
runner = CliRunner()


def narrow(render_fn: Any, value: Any, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None, force_terminal=False)
    render_fn(console, value)
    return console.export_text()


def assert_whole(text: str, *values: str, width: int = 80) -> None:
    for line in text.splitlines():
        assert len(line) <= width, line
    assert "…" not in text
    for v in values:
        assert any(v in line for line in text.splitlines()), f"{v!r} cut or wrapped:\n{text}"


def lead(i: int, name: str) -> N:
    return N(
        id=i,
        case=CASE,
        request=33,
        subject=name,
        basis="two_concurring_examiners",
        corroboration=[{"kind": "physical_evidence", "counts": True}],
        lineup_recorded=False,
        outcome="no_further_action",
        final=None,
        lineups=(),
    )


def test_lead_list_keeps_names_cases_and_outcomes() -> None:
    text = narrow(views.leads, [lead(1, NAMES[0]), lead(2, NAMES[1])])
    assert_whole(text, *NAMES, CASE, "no_further_action")
    assert "not shown at 80 columns: " in text and "basis" in text  # named, not hidden
    wide = narrow(views.leads, [lead(1, NAMES[0])], width=200)
    assert "two_concurring_examiners" in wide and "not shown" not in wide


def test_request_and_case_lists_keep_cases_and_statuses() -> None:
    rows = [
        N(
            id=33,
            case=CASE,
            status="awaiting_review",
            source_type="surveillance_still",
            probe_sha256="ab" * 32,
            requested_by="examiner_jones",
            approved_by="supervisor_garcia",
        )
    ]
    assert_whole(narrow(views.requests, rows), CASE, "awaiting_review")
    cases = [
        N(
            number=CASE,
            offence="armed_robbery",
            incident_date="2026-03-01",
            unit="north",
            status="suspect_identified",
            assigned=["examiner_jones", "examiner_okafor", "reviewer_smith"],
        )
    ]
    assert_whole(narrow(views.cases, cases), CASE, "suspect_identified", "2026-03-01")


def test_reveal_keeps_names_and_every_decision() -> None:
    r = N(
        request=33,
        case=CASE,
        reviews=[
            N(examiner="examiner_jones", decisions={NAMES[0]: {"decision": "possible_lead"}}),
            N(examiner="examiner_okafor", decisions={NAMES[0]: {"decision": "inconclusive"}}),
        ],
        candidates=[
            {"rank": 1, "subject": NAMES[0], "score": 0.93},
            {"rank": 2, "subject": NAMES[1], "score": 0.91},
        ],
        adjudications=[],
    )
    text = narrow(views.reveal, r)
    assert_whole(text, *NAMES, "possible_lead", "inconclusive", "examiner_okafor")


def test_markup_and_wide_characters_in_names() -> None:
    names = ["[bold]Not_Bold[/bold]_de_la_Fuente", "王小明_Wang_Xiaoming_Zhang"]
    text = narrow(views.leads, [lead(1, names[0]), lead(2, names[1])])
    assert_whole(text, *names, CASE)


def test_a_name_wider_than_the_terminal_is_still_whole() -> None:
    huge = "Sebastian_" * 9 + "Lopez"  # 95 characters: no table can hold it at 80
    text = narrow(views.leads, [lead(1, huge)])
    assert huge in text.replace("\n", "")  # one soft-wrapped line, never cut
    assert "…" not in text


class Ev:
    def cells(self) -> tuple[str, str, str]:
        return ("1.2e-05 [0.8e-05, 2.0e-05]", "4.1e-05 (male/black)", "+3.1 [2.4, 3.8]")

    def lines(self) -> list[str]:
        return ["about 1 in 80,000 innocent people score this high"]


def test_candidate_list_keeps_names() -> None:
    cands = tuple(
        N(
            rank=i + 1,
            subject=name,
            score=0.9312 - i / 100,
            image_path=f"/data/gallery/{name}/{name}_0001.jpg",
            encounter_date=None,
            evidence=Ev(),
            photo_quality=None,
        )
        for i, name in enumerate(NAMES)
    )
    cl = N(
        probe_source="probe.jpg",
        probe_sha256="cd" * 32,
        probe_face=N(box=N(left=1, top=2, right=100, bottom=120)),
        gallery_subjects=10,
        gallery_templates=12,
        space=N(key="945135dd216ff1a3"),
        threshold=None,
        open_set=None,
        mode="open-set",
        evidence_model=None,
        incident_date=None,
        candidates=cands,
        top_k=20,
        notices=(),
        search_id=7,
        outcome="candidates",
    )
    text = narrow(render.candidate_list, cl)
    assert_whole(text, *NAMES, "0.9312")
    table = text[text.index("Candidates at or above") : text.index("#1 ")]
    assert all(f" {n} " in table for n in NAMES)  # in the table itself, not only below it


def test_models_list_reads_at_80_columns(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["init", str(ws)]).exit_code == 0
    r = runner.invoke(app, ["models", "list", "-w", str(ws)], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert_whole(r.output, "dlib_face_recognition_resnet_model_v1", "945135dd216ff1a3")
    assert r.output.count("shipped: LeadGuard release") == 2, r.output  # both evaluated
    assert "lfw-pairs, blufr, manifest, evidence" in r.output


def commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [path]
    if hasattr(group, "commands"):  # a group (typer may bring its own click)
        for name, cmd in group.commands.items():
            out += commands(cmd, (*path, name))
    return out


def test_every_help_reads_at_80_columns() -> None:
    root = typer.main.get_command(app)
    paths = commands(root)
    assert len(paths) > 40
    for path in paths:
        r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        assert r.exit_code == 0, (path, r.output)
        for line in r.output.splitlines():
            assert len(line) <= 80, (path, line)
        assert "…" not in r.output, path
        # a docstring's own line breaks are joined: no sentence broken after a few words
        prose = [ln.strip() for ln in r.output.splitlines() if ln.startswith(" ") and "│" not in ln]
        for a, b in itertools.pairwise(prose):
            if a and b and len(a) < 40 and b[:1].islower():
                pytest.fail(f"{' '.join(path)}: a line broken early: {a!r} / {b!r}")


def cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), input=input, env=env)


def test_settings_set_before_the_first_account(tmp_path: Path) -> None:
    ws = str(tmp_path / "ws")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert cli("init", ws).exit_code == 0
    r = cli("settings", "set", "top_k", "7", "-w", ws, env=env)
    assert r.exit_code == 0, r.output
    assert "top_k" in r.output and "no accounts yet" in r.output
    assert re.search(r"^top_k = 7$", (tmp_path / "ws" / "leadguard.toml").read_text(), re.M)
    r = cli("audit", "export", "--out", str(tmp_path / "a.jsonl"), "-w", ws, env=env)
    assert r.exit_code == 0, r.output
    assert '"settings.set"' in (tmp_path / "a.jsonl").read_text()
    pw = "correct horse battery staple\n"
    r = cli("user", "add", "admin", "--role", "admin", "--password-stdin", "-w", ws, input=pw)
    assert r.exit_code == 0, r.output
    r = cli("settings", "set", "top_k", "8", "-w", ws, env=env)  # now the admin's login
    assert r.exit_code == 2 and "login" in r.output
    assert cli("login", "admin", "--password-stdin", "-w", ws, input=pw, env=env).exit_code == 0
    r = cli("settings", "set", "top_k", "8", "-w", ws, env=env)
    assert r.exit_code == 0 and "no accounts yet" not in r.output


def test_help_lists_the_choices_of_an_option() -> None:
    from leadguard.quality.gate import SOURCE_TYPES
    from leadguard.services.casework.leads import OUTCOMES

    for path, choices in (
        (("search",), SOURCE_TYPES),
        (("request", "add"), SOURCE_TYPES),
        (("lead", "outcome"), OUTCOMES),
    ):
        r = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
        flat = " ".join(r.output.replace("│", " ").split())
        for choice in choices:
            assert choice in flat, (path, choice)


def test_no_help_text_is_eaten_as_markup() -> None:
    """The help is rendered as Markdown: an ``<word>`` in a help string is taken for an HTML
    tag and vanishes ("a folder of / photos"). Every option's and argument's help must keep
    each of its words."""
    root = typer.main.get_command(app)
    for path in commands(root):
        cmd: Any = root
        for name in path:
            cmd = cmd.commands[name]
        for param in cmd.params:
            text = getattr(param, "help", None) or ""
            assert not re.search(r"<[A-Za-z_][\w-]*>", text), (path, param.name, text)


def test_a_wrapping_column_breaks_between_words_and_the_table_fits() -> None:
    """The candidate table's columns that wrap are as wide as their longest word (up to
    views.WORD_MAX): "worst-group" and "(F/african)" are never split inside the word, and
    the table, its last border included, fits 80 columns (Rich's own collapse left it 2
    wider and cropped the last column)."""
    rows = [
        (1, "Lino_Oviedo", "0.9036", "9.1e-08", "5e-06 (sex M)", "withheld", "-", "/a/b.jpg"),
        (2, "Kim_Clijsters", "0.3173", "0.0045", "0.1 (F/african)", "withheld", "-", "/c.jpg"),
    ]
    head, drop = render.CANDIDATE_COLUMNS, render.CANDIDATE_DROP
    text = narrow(lambda c, v: views.table(c, "Candidates", head, v, drop=drop), rows)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), text
    assert any("worst-group" in line for line in lines), text
    assert any("(F/african)" in line for line in lines), text
    table_lines = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert table_lines and all(line.rstrip()[-1] in "┓┃┩│┘" for line in table_lines), text


def test_a_refused_search_in_the_log_says_why_and_counts_nothing() -> None:
    rows = [
        (
            7,
            "2026-12-04 10:00",
            "refused",
            "unreadable",
            0,
            0,
            None,
            "gone.jpg",
            "gone.jpg: file not found",
        ),
        (6, "2026-12-04 09:00", "open-set", "candidates", 2, 342, "0.5035", "p.jpg", None),
    ]
    text = narrow(render.search_log, rows)
    refused = next(line for line in text.splitlines() if line.startswith("#7"))
    assert "refused (unreadable): gone.jpg: file not found" in refused
    assert "candidate(s)" not in refused and "templates" not in refused
    assert "2 candidate(s) from 342 templates" in text
