"""One search request, built by the shells and the casework service and taken whole by the
search."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from leadguard.quality.provenance import Edit


@dataclass(frozen=True)
class SearchRequest:
    """What to search and how. ``investigation=N`` asks for N people with no threshold;
    ``stored_probe`` searches a probe already received (its stored bytes, never the file at
    ``probe``); ``probe_name`` is what the probe is recorded and shown as (an upload's file
    name, where ``probe`` is the server's temporary copy)."""

    probe: Path
    source_type: str = "other"
    top_k: int | None = None
    face: int | None = None
    investigation: int | None = None
    incident_date: date | None = None
    edits: tuple[Edit, ...] = ()
    stored_probe: int | None = None
    probe_sex: str | None = None  # the probe person's recorded groups, when known
    probe_race: str | None = None
    probe_name: str | None = None

    @property
    def shown(self) -> str:
        return self.probe_name or str(self.probe)
