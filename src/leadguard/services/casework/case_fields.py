"""What a new case records about itself: the unit it belongs to and its known facts."""

from __future__ import annotations

from typing import Any

from leadguard.core.errors import InputError
from leadguard.services.authz import NotAllowed
from leadguard.storage.tables import User


def case_unit(user: User, unit: str | None) -> str:
    """The unit a new case belongs to: its opener's (an examiner or supervisor). A case
    opened for another unit, or for a unit nobody works in, would be worked by whoever
    opened it, outside any supervisor's unit."""
    chosen = (unit or "").strip() or user.unit
    if chosen != user.unit:
        raise NotAllowed(
            f"{user.username} may open cases in their own unit ({user.unit or 'none'}) only, "
            f"not in {chosen!r}"
        )
    return chosen


def case_facts(facts: dict[str, str], attributes: dict[str, Any]) -> dict[str, str]:
    out = {}
    for name, text in facts.items():
        if not isinstance(name, str) or not name.strip() or not str(text).strip():
            raise InputError(f"known fact {name!r}: needs a name and its text")
        if name in attributes:
            raise InputError(f"known fact {name!r}: already a described attribute of the case")
        out[name.strip()] = str(text).strip()
    return out
