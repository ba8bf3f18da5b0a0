"""The server is a shell like the CLI: it never touches the ORM or the database directly."""

from __future__ import annotations

from tests.conftest import ROOT
from tests.unit.test_architecture import ORM, _imports

SERVER = ROOT / "src" / "leadguard" / "server"


def test_the_server_imports_no_orm() -> None:
    files = [*sorted(SERVER.glob("*.py")), ROOT / "src" / "leadguard" / "cli" / "serve.py"]
    assert len(files) >= 10
    bad = {f"{p.name}: {m}" for p in files for m in _imports(p) if m.startswith(ORM)}
    assert bad == set()


def test_templates_and_scripts_come_with_the_package() -> None:
    scripts = [p.read_text() for p in (SERVER / "templates").glob("*.html")]
    assert len(scripts) >= 14
    for html in scripts:
        assert "http://" not in html and "https://" not in html  # nothing from a CDN
        assert "<script>" not in html and " on" + "click=" not in html  # no inline script (CSP)
