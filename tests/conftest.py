"""Shared fixtures. Datasets are read where they are, never copied into the repository."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
LFW = DATASETS / "lfw"
FIXTURES = DATASETS / "fixtures"


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {DATASETS}")
    return DATASETS


SOURCE_ROOTS_ENV = ("LEADGUARD_SOURCE_ROOTS", f'["{DATASETS}"]')


@pytest.fixture(scope="session", autouse=True)
def _source_roots() -> None:
    """Session-wide too, for session fixtures that enroll from manifests in tmp folders."""
    import os

    os.environ[SOURCE_ROOTS_ENV[0]] = SOURCE_ROOTS_ENV[1]


@pytest.fixture(autouse=True)
def _isolate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see a developer's LEADGUARD_* environment."""
    import os

    for key in list(os.environ):
        if key.startswith("LEADGUARD_"):
            monkeypatch.delenv(key, raising=False)
    # manifests written by tests point into the shared datasets: declare them a source root
    monkeypatch.setenv(*SOURCE_ROOTS_ENV)
