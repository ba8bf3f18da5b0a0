from __future__ import annotations

from pathlib import Path

import pytest

from leadguard.core.config import default_settings_toml, load_settings, read_settings_file
from leadguard.core.errors import WorkspaceError


def test_precedence_file_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "leadguard.toml").write_text("[leadguard]\ntop_k = 7\nmax_candidates = 20\n")
    assert load_settings(tmp_path).top_k == 7
    monkeypatch.setenv("LEADGUARD_TOP_K", "9")
    s = load_settings(tmp_path)
    assert s.top_k == 9 and s.max_candidates == 20
    assert load_settings(tmp_path, top_k=3, workers=None).top_k == 3


def test_invalid_settings_are_named(tmp_path: Path) -> None:
    (tmp_path / "leadguard.toml").write_text('[leadguard]\nlandmarks = "12"\n')
    with pytest.raises(WorkspaceError, match="landmarks"):
        load_settings(tmp_path)
    (tmp_path / "leadguard.toml").write_text("[leadguard]\nno_such_setting = 1\n")
    with pytest.raises(WorkspaceError, match="no_such_setting"):
        load_settings(tmp_path)
    (tmp_path / "leadguard.toml").write_text("this is = = not toml")
    with pytest.raises(WorkspaceError, match="cannot read settings"):
        load_settings(tmp_path)


def test_default_file_documents_every_setting(tmp_path: Path) -> None:
    text = default_settings_toml()
    (tmp_path / "leadguard.toml").write_text(text)
    # all commented out but the face model, which a workspace records when it is created
    assert read_settings_file(tmp_path / "leadguard.toml") == {"face_model": "dlib-resnet"}
    assert 'face_model = "sface"' in default_settings_toml("sface")
    for name in ("detector_upsample", "landmarks", "min_face_size", "max_candidates"):
        assert f"# {name} = " in text
