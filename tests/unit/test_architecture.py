"""The shape of the code: each package imports only the packages below it, shells never touch
the ORM, and no module imports another module's underscore names."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import ROOT

SRC = ROOT / "src" / "leadguard"
ORM = ("leadguard.storage", "sqlalchemy", "alembic")
# The one storage module a shell may open: the folder, its settings, database and lock.
SHELL_STORAGE = "leadguard.storage.workspace"

# Bottom to top. A package may import itself, the packages of lower rank and the root package
# (``leadguard.__version__``). docs/architecture.md draws the same order.
LAYERS: list[set[str]] = [
    {"core"},
    {"face_models", "index", "reports"},
    {"pipeline"},
    {"storage"},
    {"audit"},
    {"evaluation"},
    {"evidence"},
    {"quality"},
    {"acceptance"},
    {"gallery"},
    {"search"},
    {"services"},
    {"server"},
    {"cli"},
]
RANK = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
# Declared exceptions, each with its reason.
ALLOWED = {
    # A migration that changes covered rows re-baselines the audit chain it would otherwise break.
    ("leadguard.storage.migrations", "audit"),
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, top-level or inside a function (``TYPE_CHECKING`` too)."""
    found: set[str] = set()
    name = _module_name(path) if path.is_relative_to(SRC) else "leadguard.x"
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return found


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "leadguard" and len(parts) > 1 else None


def _sources() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def _upward(path: Path, me: str | None = None) -> set[str]:
    me = me or _module_name(path)
    mine = _package(me)
    if mine is None:  # the root package
        return set()
    bad = set()
    for m in _imports(path):
        theirs = _package(m)
        if theirs is None or theirs == mine or theirs not in RANK:
            continue
        if RANK[theirs] < RANK[mine]:
            continue
        if any(me.startswith(prefix) and theirs == pkg for prefix, pkg in ALLOWED):
            continue
        bad.add(f"{me} -> {m}")
    return bad


def _named_imports(files: list[Path], wrong: Callable[[str], bool]) -> set[str]:
    """``"file.py: module"`` for each import of ``files`` that ``wrong`` picks out."""
    return {f"{p.name}: {m}" for p in files for m in _imports(p) if wrong(m)}


def test_every_package_has_a_rank() -> None:
    packages = {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(RANK)


def test_each_package_imports_only_those_below_it() -> None:
    bad = set().union(*(_upward(p) for p in _sources()))
    assert bad == set()


def test_core_imports_nothing_else_from_leadguard() -> None:
    files = sorted((SRC / "core").glob("*.py"))
    assert len(files) >= 6
    bad = _named_imports(
        files, lambda m: m.startswith("leadguard.") and not m.startswith("leadguard.core")
    )
    assert bad == set()


def test_storage_holds_no_face_model() -> None:
    """The storage layer is tables, queries, the folder and its lock: the face model is the
    application's, loaded by the services' ``Context`` (one per context, shared by its
    computations), and lower layers that need only the embedding space ask
    ``face_models.model_space`` for it, which loads no weights."""
    files = sorted((SRC / "storage").rglob("*.py"))
    assert len(files) >= 6
    assert _named_imports(files, lambda m: m.startswith("leadguard.face_models")) == set()
    workspace = (SRC / "storage" / "workspace.py").read_text()
    assert "def face_model(" not in workspace and "self._model" not in workspace


@pytest.mark.parametrize("shell", ["cli", "server"])
def test_shells_import_no_orm(shell: str) -> None:
    files = sorted((SRC / shell).glob("*.py"))
    assert len(files) >= 8
    bad = _named_imports(files, lambda m: m.startswith(ORM) and not m.startswith(SHELL_STORAGE))
    assert bad == set()


def test_no_underscore_name_crosses_modules() -> None:
    """``from leadguard.x import _y`` is a private name leaking; a package's own private module
    (``from leadguard.index import _qkernel`` inside ``index``) is its business."""
    bad = set()
    for p in _sources():
        me = _module_name(p)
        for node in ast.walk(ast.parse(p.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            for a in node.names:
                if not a.name.startswith("_") or a.name.startswith("__"):
                    continue
                own = _package(node.module) == _package(me) and f"{node.module}.{a.name}" != me
                if own and (SRC.parent / node.module.replace(".", "/") / f"{a.name}.py").exists():
                    continue
                bad.add(f"{me}: {node.module}.{a.name}")
    assert bad == set()


def test_the_checks_see_what_they_must(tmp_path: Path) -> None:
    f = tmp_path / "x.py"
    f.write_text(
        "from leadguard.storage.tables import User\nimport sqlalchemy\n"
        "def f():\n    from leadguard.services import context\n"
    )
    assert {"leadguard.storage.tables", "sqlalchemy", "leadguard.services.context"} <= _imports(f)
    assert _upward(f, "leadguard.core.x") >= {
        "leadguard.core.x -> leadguard.storage.tables",
        "leadguard.core.x -> leadguard.services.context",
    }
    assert _upward(f, "leadguard.cli.x") == set()
