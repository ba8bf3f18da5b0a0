"""Test helpers for casework: a consistent exculpatory checklist and plain corroboration."""

from __future__ import annotations

from datetime import date
from typing import Any

from leadguard.services.casework.checks import PHOTO_AGE
from leadguard.services.casework.corroboration import Evidence


def checklist(attributes: dict[str, Any] | list[str], **overrides: Any) -> list[dict[str, Any]]:
    """A consistent check of every described attribute (and the gallery photo's age);
    ``overrides`` replace a check by attribute name with the given dict."""
    names = [*attributes, PHOTO_AGE]
    out = []
    for n in dict.fromkeys(names):
        out.append(overrides.get(n) or {"attribute": n, "consistent": True, "note": ""})
    return out


def evidence(on: date, **changes: Any) -> Evidence:
    """Independent physical evidence linking the person to the offence, unless changed."""
    base: dict[str, Any] = {
        "kind": "physical_evidence",
        "description": "his fingerprint on the till drawer",
        "how_obtained": "latent print lifted at the scene, compared by the fingerprint unit",
        "obtained_by": "Det. Rivera",
        "obtained_on": on,
        "face_comparison_involved": False,
        "witness_shown_candidate": False,
        "links_to": "offence",
    }
    base.update(changes)
    return Evidence(**base)
