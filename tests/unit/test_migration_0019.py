"""Migration 0019 and the schema's record in the chain.

Casework and search rows join the audited tables: rows written before (named by no entry)
are named by the migration's baseline and then verify. The revision the chain records
cannot be set back by hand: ``UPDATE alembic_version`` (which would make the next command
re-run a baseline and adopt rows edited meanwhile) is refused before anything migrates,
while an operator's ``alembic downgrade`` is allowed and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select, text

from leadguard.audit import log as audit
from leadguard.core.config import load_settings
from leadguard.core.errors import WorkspaceError
from leadguard.storage.migrations import schema_record
from leadguard.storage.tables import AuditEntry
from leadguard.storage.workspace import Workspace
from tests.unit.migration_kit import downgrade

pytestmark = pytest.mark.usefixtures("database")  # SQLite and PostgreSQL

HEAD = "0022"  # the newest revision

PROBE = (
    "INSERT INTO probes (created_at, sha256, source_type, original_name, exif, edits, data) "
    f"VALUES ('2026-01-01', '{'a' * 64}', 'other', 'p.jpg', '{{}}', '[]', :data)"
)


def _sql(ws: Workspace, statement: str, **params: object) -> None:
    with ws.engine.begin() as conn:
        conn.execute(text(statement), params)


def _actions(ws: Workspace) -> list[tuple[str, dict[str, object]]]:
    with ws.session() as s:
        return [(e.action, dict(e.details)) for e in s.scalars(select(AuditEntry))]


def _unmigrated(root: Path) -> Workspace:
    """The workspace as it stands, without the upgrade ``open`` would run."""
    return Workspace(root, load_settings(root))


def test_a_new_workspace_records_its_schema(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    action, details = _actions(ws)[0]
    assert action == schema_record.ACTION and details == {"from": None, "to": HEAD}
    ws.close()


def test_a_revision_no_migration_knows_is_a_clear_error(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    _sql(ws, "UPDATE alembic_version SET version_num = '0999'")
    ws.close()
    with pytest.raises(WorkspaceError, match="newer LeadGuard, or set outside LeadGuard"):
        Workspace.open(tmp_path / "ws")


def test_a_schema_revision_set_back_by_hand_is_refused(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    _sql(ws, PROBE, data=b"probe")  # a row inserted outside LeadGuard ...
    _sql(ws, "UPDATE alembic_version SET version_num = '0018'")  # ... then laundered
    ws.close()
    with pytest.raises(WorkspaceError, match=f"audit entry 1 records revision {HEAD}"):
        Workspace.open(tmp_path / "ws")
    ws = _unmigrated(tmp_path / "ws")
    with ws.engine.connect() as conn:  # nothing was migrated, nothing adopted
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        baselines = conn.execute(
            text("SELECT count(*) FROM audit_log WHERE action = 'audit.baseline'")
        ).scalar()
    assert version == "0018" and baselines == 0
    ws.close()


def test_rows_written_before_0019_are_named_by_its_baseline(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    downgrade(ws, "0018")  # as an operator would: recorded
    ws = _unmigrated(tmp_path / "ws")
    _sql(ws, PROBE, data=b"probe written by the code of revision 0018")
    _sql(
        ws,
        "INSERT INTO search_log (created_at, probe_sha256, probe_source, space_key, mode, "
        "gallery_subjects, gallery_templates, candidates, outcome, result) VALUES "
        f"('2026-01-01', '{'a' * 64}', 'p.jpg', 'k', 'open-set', 3, 6, 0, 'no_candidate', "
        "'{}')",
    )
    ws.close()

    ws = Workspace.open(tmp_path / "ws")  # upgraded when opened: 0019 runs again
    actions = _actions(ws)
    assert [a for a, _ in actions] == [
        schema_record.ACTION,
        schema_record.DOWN,
        "audit.baseline",
        "audit.baseline",
        schema_record.ACTION,
    ]
    assert actions[1][1] == {"from": HEAD, "to": "0018"}
    assert {d["revision"] for a, d in actions if a == "audit.baseline"} == {"0019"}
    with ws.session() as s:
        check = audit.verify(s)
    assert check.intact, (check.reason, check.record_problems)
    # the chain holds, but what the baselines adopted after the downgrade is unchecked:
    # `audit verify` says so, naming the entry, and fails
    from leadguard.services import audit as audit_svc
    from leadguard.services.context import Context

    shown = audit_svc.verify(Context(ws), None)
    assert not shown.intact and len(shown.schema_problems) == 1, shown.schema_problems
    assert (
        shown.schema_problems[0].startswith("audit entry 2 (")
        and f"{HEAD} to 0018" in (shown.schema_problems[0])
    )
    _sql(ws, "UPDATE probes SET original_name = 'other.jpg'")
    _sql(ws, PROBE, data=b"inserted after the baseline")
    with ws.session() as s:
        problems = audit.verify(s).record_problems
    assert any(p.startswith("probes row 1 was changed") for p in problems), problems
    assert any(p.startswith("probes row 2: named by no audit entry") for p in problems)
    ws.close()


def test_a_revision_set_back_behind_a_restored_entry_is_named(tmp_path: Path) -> None:
    """A red-team pass: the newest schema entry's details changed for a moment to say 0020,
    the revision set back, 0021 re-run on opening (adopting a row inserted meanwhile), then
    the entry put back as it was (its hash holds again). The chain verifies; the schema
    history does not: the next entry starts from 0020 where the one before left the head."""
    ws = Workspace.init(tmp_path / "ws")
    with ws.engine.begin() as conn:
        original = conn.execute(text("SELECT details FROM audit_log WHERE seq = 1")).scalar_one()
    _sql(ws, "UPDATE audit_log SET details = :d WHERE seq = 1", d='{"from": null, "to": "0020"}')
    _sql(ws, "UPDATE alembic_version SET version_num = '0020'")
    _sql(ws, "DROP INDEX ix_search_requests_probe_sha256")
    _sql(ws, "DROP TABLE audit_macs")  # so that 0021 and 0022 can run again
    ws.close()
    ws = Workspace.open(tmp_path / "ws")  # upgraded: 0021 runs again
    details = original if isinstance(original, str) else json.dumps(original)
    _sql(ws, "UPDATE audit_log SET details = :d WHERE seq = 1", d=details)
    with ws.session() as s:
        check = audit.verify(s)
    assert check.intact, (check.reason, check.record_problems)
    from leadguard.services import audit as audit_svc
    from leadguard.services.context import Context

    shown = audit_svc.verify(Context(ws), None)
    gap = [p for p in shown.schema_problems if "changed outside LeadGuard" in p]
    assert len(gap) == 1 and f"from revision 0020, but entry 1 left it at {HEAD}" in gap[0], gap
    assert not shown.intact
    ws.close()
