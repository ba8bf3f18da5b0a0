"""The quality gate: a policy file (TOML) of refusal floors and warning bands per measure,
the unified quality score, and the verdict for one face.

The policy LeadGuard ships (``quality/data/policy.toml``) was written by ``leadguard eval
quality`` from measured error (docs/quality.md); a workspace can use its own with the
``quality_policy`` setting. Nothing here decides a number.
"""

from __future__ import annotations

import math
import tomllib
import weakref
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from leadguard.core.errors import InputError
from leadguard.core.files import MAX_POLICY_BYTES, read_bounded
from leadguard.pipeline.measures import Measure

if TYPE_CHECKING:
    from leadguard.storage.workspace import Workspace

SOURCE_TYPES = (
    "surveillance_still",
    "video_frame",
    "phone_photo",
    "social_media",
    "booking_photo",
    "other",
)
# A photo of a screen or of a print showing the original: declared as
# ``screen_photo/ORIGINAL`` or ``print_photo/ORIGINAL`` (e.g. ``screen_photo/surveillance_still``),
# so the original's source type travels with it into every record and document.
REPHOTO_KINDS = {
    "screen_photo": "a photo of a screen showing",
    "print_photo": "a photo or scan of a print of",
}
PROHIBITED_SOURCE_TYPES = (
    "sketch",
    "composite",
    "artist_rendering",
    "computer_generated",
    "lookalike",
)


def declarable_source_types() -> tuple[str, ...]:
    """Every source type a form may offer: the plain ones and each re-photograph of one."""
    return SOURCE_TYPES + tuple(f"{k}/{t}" for k in REPHOTO_KINDS for t in SOURCE_TYPES)


def split_source_type(source_type: str) -> tuple[str, str | None]:
    """``(kind, original)``: ``("screen_photo", "surveillance_still")`` for a re-photograph,
    ``(source_type, None)`` for anything else."""
    kind, sep, original = source_type.partition("/")
    return (kind, original) if sep else (source_type, None)


def describe_source_type(source_type: str) -> str:
    """The declared source type in words, for documents: a re-photograph names the original."""
    kind, original = split_source_type(source_type)
    if original is None or kind not in REPHOTO_KINDS:
        return source_type
    return (
        f"{source_type} ({REPHOTO_KINDS[kind]} a {original}: a copy of a copy, with the "
        "screen's or print's pattern and a second camera's losses on top of the original's)"
    )


# what a warning on a measure means, where its name alone does not say it
HINTS = {
    "screen_pattern": (
        "a periodic pattern (moiré or scan lines) in the face: the probe looks like a photo "
        "of a screen or of a print; declare it as screen_photo/ORIGINAL or "
        "print_photo/ORIGINAL, and find the original footage if it exists"
    ),
}


class QualityRefused(InputError):
    """The probe cannot support a lead: the message names the failing measures."""


class PolicyError(InputError):
    """A quality policy file that cannot be used."""


@dataclass(frozen=True)
class Rule:
    refuse_below: float | None = None  # score (0-100)
    warn_below: float | None = None


@dataclass(frozen=True)
class Unified:
    """Unified quality: a logistic model of the measure scores, fitted to predict whether a
    mated comparison falls below the threshold (so it predicts recognition error);
    100 x (1 - the predicted chance of such a miss, with both outcomes weighted equally)."""

    intercept: float
    weights: dict[str, float]

    def score(self, measures: dict[str, Measure]) -> int:
        z = self.intercept
        for name, w in self.weights.items():
            m = measures.get(name)
            z += w * (m.score if m is not None else 0.0)
        return round(100 / (1 + math.exp(min(50.0, max(-50.0, z)))))


@dataclass(frozen=True)
class Policy:
    rules: dict[str, Rule]
    unified: Unified | None
    prohibited_source_types: tuple[str, ...] = PROHIBITED_SOURCE_TYPES
    source: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)


def _rule(name: str, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise PolicyError(f"quality policy: [{name}] must be a table")
    vals = {k: raw.get(k) for k in ("refuse_below", "warn_below")}
    for k, v in vals.items():
        if v is not None and not (isinstance(v, int | float) and 0 <= v <= 100):
            raise PolicyError(f"quality policy: {name}.{k} must be a score from 0 to 100")
    r, w = vals["refuse_below"], vals["warn_below"]
    if r is not None and w is not None and w < r:
        raise PolicyError(f"quality policy: {name}.warn_below is below its refuse_below")
    return Rule(r, w)


def parse_policy(text: str, source: str) -> Policy:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML ({exc})") from exc
    try:  # a hand-edited file can hold any shape: every wrong one is a named refusal
        rules = {n: _rule(n, r) for n, r in (data.get("measures") or {}).items()}
        unified = None
        if "unified" in data:
            u = data["unified"]
            rules["unified"] = _rule("unified", u)
            model = u.get("model")
            if model:
                unified = Unified(
                    float(model["intercept"]), {k: float(v) for k, v in model["weights"].items()}
                )
        listed = data.get("provenance", {}).get("prohibited_source_types", ())
        if isinstance(listed, str) or not all(isinstance(t, str) for t in listed):
            raise PolicyError(f"{source}: prohibited_source_types must be a list of names")
        prohibited = tuple(listed)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        raise PolicyError(f"{source}: not a valid quality policy ({exc!r})") from exc
    missing = set(PROHIBITED_SOURCE_TYPES) - set(prohibited)
    if missing:
        raise PolicyError(
            f"{source}: prohibited_source_types must keep {sorted(missing)}: searches on "
            "sketches, composites, renderings, generated faces or look-alikes are not allowed"
        )
    return Policy(rules, unified, prohibited, source, data.get("provenance_of_defaults", {}))


# The policy LeadGuard ships for each built-in model, derived from that model's own scores
# (docs/quality.md). A model without one gets dlib-resnet's, and its source says so.
SHIPPED_POLICIES = {"dlib-resnet": "policy.toml", "sface": "policy-sface.toml"}
FALLBACK_MODEL = "dlib-resnet"


def _canonical(face_model: str) -> str:
    from leadguard.face_models.registry import ALIASES

    return ALIASES.get(face_model, face_model)


def shipped_policy_file(face_model: str = FALLBACK_MODEL) -> tuple[str, str]:
    """The shipped policy file for a model (under leadguard/quality/data) and the model it
    was derived for."""
    name = _canonical(face_model)
    if name in SHIPPED_POLICIES:
        f = resources.files("leadguard.quality").joinpath("data", SHIPPED_POLICIES[name])
        if f.is_file():
            return SHIPPED_POLICIES[name], name
    return SHIPPED_POLICIES[FALLBACK_MODEL], FALLBACK_MODEL


def shipped_policy_bytes(face_model: str = FALLBACK_MODEL) -> bytes:
    name, _ = shipped_policy_file(face_model)
    return resources.files("leadguard.quality").joinpath("data", name).read_bytes()


def load_policy(path: Path | None = None, face_model: str = FALLBACK_MODEL) -> Policy:
    """The policy file ``path``, else the one shipped for ``face_model``."""
    if path is not None:
        where = f"{path}: cannot read the quality policy"
        # a pipe or a device would never end
        data = read_bounded(path, MAX_POLICY_BYTES, lambda why: PolicyError(f"{where} ({why})"))
        try:
            text = data.decode()
        except UnicodeDecodeError:
            raise PolicyError(f"{where} (not UTF-8 text)") from None
        return parse_policy(text, str(path))
    name, derived_for = shipped_policy_file(face_model)
    note = "" if derived_for == _canonical(face_model) else f", derived for {derived_for} only"
    return parse_policy(
        shipped_policy_bytes(face_model).decode(),
        f"leadguard/quality/data/{name} (shipped{note})",
    )


_POLICIES: weakref.WeakKeyDictionary[Workspace, Policy] = weakref.WeakKeyDictionary()


def workspace_policy(ws: Workspace) -> Policy:
    """The workspace's quality policy (its settings' file, else the one shipped for its face
    model), read once per workspace object."""
    held = _POLICIES.get(ws)
    if held is None:
        path = ws.settings.quality_policy
        if path is not None and not path.is_absolute():
            path = ws.root / path
        held = _POLICIES[ws] = load_policy(path, ws.settings.face_model)
    return held


@dataclass(frozen=True)
class Finding:
    measure: str
    raw: float
    unit: str
    score: int
    limit: float
    level: str  # "refuse" | "warn"

    def text(self) -> str:
        limit = "refusal floor" if self.level == "refuse" else "warning band"
        return (
            f"{self.measure} = {self.raw:.3g} {self.unit} (score {self.score}, "
            f"{limit} {self.limit:g})"
        )


@dataclass(frozen=True)
class Verdict:
    decision: str  # "pass" | "warn" | "refuse"
    findings: tuple[Finding, ...]
    measures: dict[str, Measure]
    unified: int | None
    policy: str

    def warnings(self) -> list[str]:
        return [
            f"probe quality warning: {f.text()}"
            + (f": {HINTS[f.measure]}" if f.measure in HINTS else "")
            for f in self.findings
            if f.level == "warn"
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "unified_score": self.unified,
            "findings": [f.text() for f in self.findings],
            "measures": {n: m.to_dict() for n, m in self.measures.items()},
            "policy": self.policy,
        }


def assess(measures: dict[str, Measure], policy: Policy) -> Verdict:
    unified = policy.unified.score(measures) if policy.unified else None
    values = dict(measures)
    if unified is not None:
        values["unified"] = Measure("unified", float(unified), "score", unified, "")
    findings: list[Finding] = []
    for name, rule in policy.rules.items():
        m = values.get(name)
        if m is None or np.isnan(m.raw):
            continue
        if rule.refuse_below is not None and m.score < rule.refuse_below:
            findings.append(Finding(name, m.raw, m.unit, m.score, rule.refuse_below, "refuse"))
        elif rule.warn_below is not None and m.score < rule.warn_below:
            findings.append(Finding(name, m.raw, m.unit, m.score, rule.warn_below, "warn"))
    decision = (
        "refuse" if any(f.level == "refuse" for f in findings) else "warn" if findings else "pass"
    )
    return Verdict(decision, tuple(findings), measures, unified, policy.source)
