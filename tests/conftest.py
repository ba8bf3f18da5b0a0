"""Shared fixtures. Datasets are read where they are, never copied into the repository."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pgserver import PgServer

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
LFW = DATASETS / "lfw"
FIXTURES = DATASETS / "fixtures"


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {DATASETS}")
    return DATASETS


# What `-n auto` (pyproject's addopts) means: a worker per usable core, at most this many, the
# count the whole suite was run with. Each worker starts its own PostgreSQL server and loads
# the face models, so more workers cost memory; PYTEST_XDIST_AUTO_NUM_WORKERS overrides.
MAX_WORKERS = 2


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    import os

    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))


SOURCE_ROOTS_ENV = ("LEADGUARD_SOURCE_ROOTS", f'["{DATASETS}"]')
SHIPPED_DEFAULT_MODEL: str = ""  # the release's default face model, before the suite's own


@pytest.fixture(scope="session", autouse=True)
def _dlib_for_the_suites_fixtures() -> Iterator[None]:
    """The suite's fixtures and expectations (scores, thresholds, failures to acquire) were
    measured with dlib-resnet, so a workspace a test creates without naming a model gets
    dlib-resnet, as it did before SFace became the release's default. The tests of the
    default itself (tests/unit/test_default_model.py) put the shipped default back."""
    global SHIPPED_DEFAULT_MODEL
    from leadguard.core import config

    SHIPPED_DEFAULT_MODEL = config.DEFAULT_FACE_MODEL
    config.DEFAULT_FACE_MODEL = config.LEGACY_FACE_MODEL
    yield
    config.DEFAULT_FACE_MODEL = SHIPPED_DEFAULT_MODEL


@pytest.fixture(scope="session", autouse=True)
def _source_roots() -> None:
    """Session-wide too, for session fixtures that enroll from manifests in tmp folders."""
    import os

    os.environ[SOURCE_ROOTS_ENV[0]] = SOURCE_ROOTS_ENV[1]


@pytest.fixture(scope="session")
def _data_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data-home")


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch, _data_home: Path) -> None:
    """Tests never see a developer's LEADGUARD_* environment, and the audit keys that
    `leadguard init` makes go to a folder of the session's, not the account's home."""
    import os

    for key in list(os.environ):
        if key.startswith("LEADGUARD_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(_data_home))
    # manifests written by tests point into the shared datasets: declare them a source root
    monkeypatch.setenv(*SOURCE_ROOTS_ENV)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL server, started once for the session (a start failure fails the
    tests that need it; it never skips them)."""
    server = PgServer().start()
    yield server
    server.stop()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(request: pytest.FixtureRequest) -> str:
    """The database a module's tests run on, module by module (so that module-scoped
    fixtures build their workspace on it too: ask for ``backend`` and ``pg_server``)."""
    return str(request.param)


def new_database_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    """For a fixture that builds a workspace: a fresh PostgreSQL database, or None (SQLite)."""
    if backend != "postgres":
        return None
    server: PgServer = request.getfixturevalue("pg_server")
    return server.new_database()


@pytest.fixture
def database(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Opt in with ``pytestmark = pytest.mark.usefixtures("database")``: the module's tests run
    on SQLite and again on PostgreSQL, where every new workspace gets a fresh database."""
    if backend == "sqlite":
        yield "sqlite"
        return
    from leadguard.core.config import SETTINGS_FILE
    from leadguard.storage.workspace import Workspace

    server: PgServer = request.getfixturevalue("pg_server")
    created: list[str] = []
    real_init = Workspace.init.__func__  # type: ignore[attr-defined]

    def init(cls: type[Workspace], root: Path, **overrides: Any) -> Workspace:
        if not overrides.get("database_url") and not (root / SETTINGS_FILE).exists():
            created.append(server.new_database())
            overrides["database_url"] = created[-1]
        return real_init(cls, root, **overrides)

    monkeypatch.setattr(Workspace, "init", classmethod(init))
    yield "postgres"
    for url in created:
        server.drop_database(url)
