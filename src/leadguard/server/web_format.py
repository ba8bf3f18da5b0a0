"""How the web pages write values: times in the workspace's time zone to the second with the
zone, enumerated values in words (never snake_case), audit actions and details as labels
rather than JSON. Presentation only: nothing here decides what a user may see."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

# Words for values that read badly as code. Anything not listed: underscores become spaces.
WORDS = {
    "M": "male",
    "F": "female",
    "possible_lead": "possible lead",
    "surveillance_still": "surveillance still",
    "video_frame": "video frame",
    "phone_photo": "phone photo",
    "social_media": "social media image",
    "booking_photo": "booking photo",
    "physical_evidence": "physical evidence",
    "no_candidate": "no candidate above the threshold",
    "empty_gallery": "empty gallery",
    "open_set": "open-set",
}

# The person sought's attributes (the case's ``attributes`` keys) by name.
ATTRIBUTES = {
    "sex": "sex",
    "age": "apparent age",
    "apparent_age": "apparent age",
    "height": "height",
    "build": "build",
    "hair": "hair",
    "marks": "marks, scars or tattoos",
    "tattoo": "tattoo",
}

ACTIONS = {
    "audit.export": "audit log read or exported",
    "audit.baseline": "audit baseline",
    "case.open": "case opened",
    "case.assign": "user assigned to the case",
    "case.fact": "known fact recorded",
    "case.suspect": '"suspect identified" recorded',
    "case.disclose": "disclosure packet made",
    "case.packet": "disclosure packet's files named",
    "comparison.annotate": "comparison mark made",
    "comparison.unannotate": "comparison mark removed",
    "external.record": "outside face search recorded",
    "gallery.enroll": "enrollment",
    "gallery.remove": "subject removed from the gallery",
    "gallery.expunge": "subject expunged",
    "lead.release": "lead released",
    "lead.adjudicate": "disagreement adjudicated",
    "lead.corroborate": "corroboration recorded",
    "lead.lineup": "photo lineup",
    "lead.lineup.array": "photo array built",
    "lead.outcome": "outcome recorded",
    "login": "logged in",
    "login.failed": "login failed",
    "logout": "logged out",
    "model.accept": "face model accepted",
    "notification.read": "notifications marked read",
    "probe.received": "probe received",
    "probe.edited": "probe edited",
    "quality.measure": "photo quality measured",
    "refused": "refused",
    "report.lead": "lead report made",
    "report.transparency": "transparency report made",
    "request.create": "search request filed",
    "request.approve": "search request approved",
    "review.packet": "blind review packet opened",
    "review.submit": "blind review submitted",
    "review.reveal": "reveal read",
    "search": "face search",
    "search.run": "search run from a request",
    "search.override": "urgent search (override)",
    "search.refused": "search refused",
    "settings.set": "setting changed",
    "user.create": "account created",
    "user.deactivate": "account deactivated",
    "user.password": "password changed",
}

_MAX_DEPTH = 3


@lru_cache(maxsize=32)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def when(value: Any, zone: str = "UTC") -> str:
    """``2026-12-02 14:37:56 CET``: an instant in ``zone``, to the second, with the zone. A
    stored text time (ISO 8601) or a datetime (a naive one is UTC, as stored); a date stays a
    date; anything else is shown as it is."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(_zone(zone)).strftime("%Y-%m-%d %H:%M:%S %Z")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def word(value: Any) -> str:
    """An enumerated value in words: ``physical_evidence`` -> ``physical evidence``."""
    if value is None:
        return ""
    text = str(value)
    if "/" in text:  # a re-photographed source: screen_photo/surveillance_still
        outer, _, inner = text.partition("/")
        return f"{word(outer)} of a {word(inner)}"
    return WORDS.get(text, text.replace("_", " "))


def attribute(key: Any) -> str:
    """A person-sought attribute's name in words: ``marks`` -> ``marks, scars or tattoos``."""
    text = str(key)
    return ATTRIBUTES.get(text, text.replace("_", " "))


def action_label(action: str) -> str:
    if action in ACTIONS:
        return ACTIONS[action]
    head, _, rest = action.partition(".")
    return f"{word(head)}: {word(rest)}" if rest else word(action)


def label(key: str) -> str:
    text = str(key).replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else "(no name)"


def value_text(value: Any, depth: int = 0) -> str:
    """A detail's value in one line: lists joined, objects as ``name: value; ...``."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        if depth >= _MAX_DEPTH:
            return f"{len(value)} more fields"
        inner = [f"{label(k).lower()}: {value_text(v, depth + 1)}" for k, v in value.items()]
        return "; ".join(inner) or "none"
    if isinstance(value, list):
        if not value:
            return "none"
        if depth >= _MAX_DEPTH:
            return f"{len(value)} items"
        return ", ".join(value_text(v, depth + 1) for v in value)
    return str(value)


def details_items(details: Any) -> list[tuple[str, str]]:
    """An entry's details as (label, text) rows: ``records`` (content hashes of the rows the
    entry names) as a count with the rows named, the rest field by field."""
    if not isinstance(details, dict):
        return [("Details", value_text(details))]
    out = []
    for key, v in details.items():
        if key in ("records", "deleted_records") and isinstance(v, list):
            named = ", ".join(f"{r.get('table')} {r.get('id')}" for r in v if isinstance(r, dict))
            what = "Records deleted" if key == "deleted_records" else "Records (content hashed)"
            out.append((what, f"{len(v)}: {named}" if named else str(len(v))))
        else:
            out.append((label(key), value_text(v)))
    return out


def shown(value: Any) -> str:
    """A value from the log or a form as one safe line: control, bidi and invisible
    characters escaped (``textsafe.printable``), so a name cannot reorder what follows."""
    from leadguard.core.textsafe import printable

    return printable(value if isinstance(value, str) else str(value))
