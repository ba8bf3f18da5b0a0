"""The embedding space names everything that changes a template, and nothing else."""

from __future__ import annotations

from dataclasses import replace

from leadguard.core.config import Settings
from leadguard.core.types import EmbeddingSpace
from leadguard.face_models import create_model


def space(**kw: object) -> EmbeddingSpace:
    return create_model(Settings(**kw)).space  # hashes the weights; loads nothing


def test_default_space_describes_the_model() -> None:
    s = space()
    assert s.model_name == "dlib_face_recognition_resnet_model_v1"
    assert len(s.weights_sha256) == 64 and len(s.landmark_sha256) == 64
    assert s.landmark_model == "shape_predictor_68_face_landmarks"
    assert "mirror-average" in s.alignment and "fallback-adjust=-0.5" in s.detector
    assert s.dim == 128


def test_pipeline_settings_change_the_key() -> None:
    base = space().key
    for kw in (
        {"mirror": False},
        {"landmarks": "5"},
        {"detector_upsample": 2},
        {"chip_padding": 0.3},
        {"detector_fallback_adjust": 0.0},
    ):
        assert space(**kw).key != base, kw


def test_software_version_is_not_in_the_key_but_revision_is() -> None:
    s = space()
    assert replace(s, software_version="9.9.9").key == s.key
    assert replace(s, pipeline_revision=s.pipeline_revision + 1).key != s.key
    assert EmbeddingSpace.from_dict(s.to_dict()) == s
