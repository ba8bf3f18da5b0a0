"""The docs' commands as written: every option a documented `leadguard ...` command names
exists on that command (README.md and docs/*.md, code blocks and inline), and the README's
server commands run in order on a new workspace."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from leadguard.cli.main import app

ROOT = Path(__file__).parents[2]
runner = CliRunner()
ROOT_COMMAND = typer.main.get_command(app)


def cli(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), input=input, env=env)


def resolve(words: list[str]) -> tuple[Any, list[str]]:
    cmd: Any = ROOT_COMMAND
    path: list[str] = []
    for w in words:
        sub = getattr(cmd, "commands", {}).get(w)
        if sub is None:
            break
        cmd, path = sub, [*path, w]
    return cmd, path


def options_of(cmd: Any) -> set[str]:
    names = {"--help"}
    for p in cmd.params:
        names.update(getattr(p, "opts", []))
        names.update(getattr(p, "secondary_opts", []))
    return names


def documented_commands(text: str) -> list[str]:
    """Each `leadguard ...` command a Markdown text shows: code-block lines (comments
    dropped) and inline code, split at `;` and `&&`."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    prose = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    pieces = [ln.split(" #")[0] for b in blocks for ln in b.splitlines()]
    pieces += re.findall(r"`([^`\n]*leadguard [^`\n]*)`", prose)
    return [part for s in pieces for part in re.split(r";|&&|\|\|", s) if "leadguard " in part]


def unknown_options(command: str) -> list[str]:
    m = re.search(r"(?:^|[\s/])leadguard ((?:[a-z][a-z-]*\s?)+)(.*)", command)
    if not m:
        return []
    cmd, path = resolve(m.group(1).split())
    if not path:
        return []
    given = re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", command[m.start(1) :])
    return [f"leadguard {' '.join(path)} {o}" for o in given if o not in options_of(cmd)]


def test_the_checker_finds_an_option_that_does_not_exist() -> None:
    text = "Accept with `leadguard models accept NAME --user ADMIN`.\n```\nleadguard login x\n```"
    assert [u for c in documented_commands(text) for u in unknown_options(c)] == [
        "leadguard models accept --user"
    ]
    assert unknown_options("leadguard models accept sface --note 'on authority'") == []


def test_every_documented_option_exists() -> None:
    bad = []
    for f in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for command in documented_commands(f.read_text()):
            bad += [f"{f.name}: {u}" for u in unknown_options(command)]
    assert bad == []


def readme_server_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The server") :]
    block = section[section.index("```") + 3 :]
    block = block[: block.index("```")]
    return [ln.split("#")[0].strip() for ln in block.splitlines() if "leadguard " in ln]


def test_the_readmes_server_commands_run_as_written(tmp_path: Path) -> None:
    """`make serve` creates the workspace; then each command as written (but enroll, which
    needs the face model and is run by tests/integration)."""
    lines = readme_server_commands()
    assert any(" login admin" in ln for ln in lines)
    ws = str(tmp_path / ".leadguard-server")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    assert cli("init", ws).exit_code == 0
    pw = "correct horse battery staple"
    ran = 0
    for line in lines:
        if line.startswith("make "):
            continue
        args = line.split()
        assert args[0] == ".venv/bin/leadguard", line
        args = [ws if a == ".leadguard-server" else a for a in args[1:]]
        if args[0] == "enroll":
            continue
        prompt = f"{pw}\n" if "--password-stdin" in args else f"{pw}\n{pw}\n"
        r = cli(*args, input=prompt, env=env)
        assert r.exit_code == 0, (line, r.output)
        ran += 1
    assert ran >= 5
    r = cli("user", "list", "-w", ws, env=env)
    assert r.exit_code == 0 and "sup1" in r.output and "north" in r.output
