"""A casework action records the configuration it runs under: ``config.observed`` with the
digests of the settings file, the casework policy and the quality policy the first time, then
``config.changed`` naming what changed, and nothing while nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from leadguard.services import accounts
from leadguard.services.casework.service import policy
from leadguard.services.settings import set_setting
from leadguard.storage.tables import AuditEntry
from tests.unit.accounts_kit import PW, north_desk


def config_entries(ctx) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with ctx.session() as s:
        return list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.in_(("config.observed", "config.changed")))
                .order_by(AuditEntry.seq)
            )
        )


def test_config_changes_are_recorded_once_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = north_desk(tmp_path / "ws", monkeypatch)
    policy(ctx)
    policy(ctx)
    first = config_entries(ctx)
    assert [e.action for e in first] == ["config.observed"]
    now = first[0].details["now"]
    assert set(now) == {"settings", "casework_policy", "quality_policy"}
    assert all(len(v.split()[-1]) == 64 for v in now.values() if v)  # SHA-256 digests

    admin = accounts.login(ctx, "admin", PW).actor
    set_setting(ctx, admin, "top_k", "7")
    policy(ctx, observe=False)  # a read records nothing
    assert len(config_entries(ctx)) == 1
    policy(ctx)
    changed = config_entries(ctx)[-1]
    assert changed.action == "config.changed" and changed.details["changed"] == ["settings"]
    assert changed.details["before"] == now
