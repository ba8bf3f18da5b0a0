"""The server keeps the index loaded, and stays in step with the database: an enrollment or
a removal by another process (a CLI beside the server) is in the very next search."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadguard.gallery.maintenance import INDEX
from leadguard.services import accounts, gallery
from leadguard.services.context import Context
from tests.integration.conftest import write_manifest
from tests.server.conftest import PW, Served, open_case

pytestmark = [pytest.mark.integration, pytest.mark.api]


def urgent(s: Served, probe: Path) -> list[str]:
    files = {"probe": (probe.name, probe.read_bytes(), "image/jpeg")}
    form = {"case": "RES-1", "reason": "urgent", "source_type": "surveillance_still"}
    r = s.post("sup", "/api/search", files=files, data=form)
    assert r.status_code == 200, r.text
    return [c["subject"] for c in r.json()["candidates"]]


def test_enrollment_and_removal_beside_the_server(
    served: Served, non_enrolled_probes: list[tuple[Path, str]], tmp_path: Path
) -> None:
    s = served
    open_case(s, "RES-1")
    probe, person = non_enrolled_probes[0]
    assert person not in urgent(s, probe)
    space = s.ctx.face_model().space.key
    loaded = s.ctx.ws.resident.peek(INDEX, space)
    assert loaded is not None
    assert person not in urgent(s, probe)
    assert s.ctx.ws.resident.peek(INDEX, space) is loaded  # nothing changed: the same index

    other = Context.open(s.root / "ws")  # another process's view (e.g. the CLI)
    admin = accounts.login(other, "admin", PW).actor
    report = gallery.enroll(other, admin, write_manifest(tmp_path / "m.csv", [(probe, person)]))
    assert report.enrolled == 1
    assert urgent(s, probe)[0] == person  # picked up by the next search
    assert s.ctx.ws.resident.peek(INDEX, space) is not loaded

    assert gallery.remove_subject(other, admin, person) == 1
    assert person not in urgent(s, probe)
    stats = s.get("admin", "/api/gallery/stats").json()
    assert stats["subjects"] == 5
    other.close()
