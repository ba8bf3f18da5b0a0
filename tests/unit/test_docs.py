"""Docs stay true: every CLI command is documented, the README starts with the two commands."""

from __future__ import annotations

from leadguard.cli.main import app
from tests.conftest import ROOT


def _names(typer_app) -> list[str]:  # type: ignore[no-untyped-def]
    return [c.name or c.callback.__name__ for c in typer_app.registered_commands]


def command_paths() -> list[str]:
    paths = _names(app)
    for group in app.registered_groups:
        paths += [f"{group.name} {sub}" for sub in _names(group.typer_instance)]
    return paths


def test_every_command_is_in_the_cli_doc() -> None:
    doc = (ROOT / "docs" / "cli.md").read_text()
    missing = [p for p in command_paths() if f"`leadguard {p}" not in doc]
    assert missing == []


def test_readme_starts_with_the_two_setup_commands() -> None:
    lines = [ln.strip() for ln in (ROOT / "README.md").read_text().splitlines() if ln.strip()]
    block = lines[lines.index("```") + 1 : lines.index("```") + 3]
    assert block == ["make demo", "make test"]


def test_every_relative_link_in_the_docs_names_a_file_that_exists() -> None:
    import re

    broken = []
    for md in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for m in re.finditer(r"\]\(([^)#\s]+)(#[^)]*)?\)", md.read_text()):
            target = m.group(1)
            if "://" not in target and not (md.parent / target).exists():
                broken.append(f"{md.relative_to(ROOT)}: {target}")
    assert not broken, broken
