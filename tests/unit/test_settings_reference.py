"""Every setting is documented: docs/settings.md is the table the settings model produces."""

from __future__ import annotations

import pytest

from leadguard.core import config
from leadguard.core.config import Settings, settings_reference
from tests import conftest
from tests.conftest import ROOT


def test_docs_settings_is_the_generated_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    # the release's default face model, not the one the suite's fixtures use
    monkeypatch.setattr(config, "DEFAULT_FACE_MODEL", conftest.SHIPPED_DEFAULT_MODEL)
    assert (ROOT / "docs" / "settings.md").read_text() == settings_reference()


def test_every_setting_has_a_row_and_a_description() -> None:
    text = settings_reference()
    for name, field in Settings.model_fields.items():
        assert f"| `{name}` |" in text
        assert field.description and len(field.description) > 10, name
