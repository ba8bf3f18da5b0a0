"""Face models are registered by name; the setting face_model picks one."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from leadguard.core.config import Settings
from leadguard.core.errors import InputError
from leadguard.face_models import create_model, registry
from leadguard.face_models.dlib_backend import DlibFaceModel
from leadguard.face_models.sface_backend import SFaceModel


def test_the_setting_picks_the_backend() -> None:
    assert isinstance(create_model(Settings()), DlibFaceModel)
    assert isinstance(create_model(Settings(face_model="sface")), SFaceModel)
    assert isinstance(create_model(Settings(face_model="sface"), "dlib"), DlibFaceModel)
    assert create_model(Settings(face_model="sface", sface_mirror=True)).mirror is True  # type: ignore[attr-defined]


def test_each_backend_has_its_own_embedding_space() -> None:
    dlib = create_model(Settings()).space
    sface = create_model(Settings(face_model="sface")).space
    assert dlib.key != sface.key
    assert sface.model_name.startswith("sface") and sface.dim == 128
    assert sface.landmark_model == "yunet-5pt" and "arcface" in sface.alignment
    mirrored = create_model(Settings(face_model="sface", sface_mirror=True)).space
    assert mirrored.key != sface.key
    # choosing a model does not change the space of the default pipeline
    assert create_model(Settings(face_model="dlib-resnet")).space.key == dlib.key


def test_built_ins_are_declared_as_entry_points() -> None:
    found = registry.registered()
    assert {"dlib-resnet", "sface"} <= set(found)
    assert found["sface"].target == registry.BUILTIN["sface"]


def test_a_plug_in_registers_like_a_built_in(monkeypatch: pytest.MonkeyPatch) -> None:
    plug = EntryPoint("mirror-dlib", "leadguard.face_models.factories:dlib_resnet", registry.GROUP)
    clash = EntryPoint("sface", "somewhere.else:factory", registry.GROUP)
    monkeypatch.setattr(registry, "entry_points", lambda group: [plug, clash])
    registry.registered.cache_clear()
    try:
        found = registry.registered()
        assert found["mirror-dlib"].target == plug.value
        assert found["sface"].target == registry.BUILTIN["sface"]  # a plug-in cannot replace it
        assert isinstance(create_model(Settings(face_model="mirror-dlib")), DlibFaceModel)
    finally:
        registry.registered.cache_clear()


def test_an_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(InputError, match=r"unknown face model 'nope'.*dlib-resnet, sface"):
        create_model(Settings(face_model="nope"))


def test_the_sface_batch_setting_reaches_the_model_and_leaves_the_space_alone() -> None:
    plain = create_model(Settings(face_model="sface"))
    batched = create_model(Settings(face_model="sface", sface_batch=8))
    assert batched.batch == 8 and plain.batch == 1  # type: ignore[attr-defined]
    # chips per inference run change how work is grouped, not the templates
    assert batched.space.key == plain.space.key
