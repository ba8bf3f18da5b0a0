"""Layering: the CLI never touches the ORM; ``types.py`` imports nothing above itself."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

SRC = ROOT / "src" / "leadguard"
ORM = ("leadguard.storage", "sqlalchemy", "alembic")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_the_cli_imports_no_orm() -> None:
    bad = {
        f"{p.name}: {m}"
        for p in sorted((SRC / "cli").glob("*.py"))
        for m in _imports(p)
        if m.startswith(ORM)
    }
    assert bad == set()


def test_types_imports_nothing_above_it() -> None:
    above = {m for m in _imports(SRC / "types.py") if m.startswith("leadguard")}
    assert above == set()


def test_the_check_sees_an_orm_import(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text("from leadguard.storage.models import User\nimport sqlalchemy\n")
    assert {"leadguard.storage.models", "sqlalchemy"} <= _imports(f)
