"""Changes to the configuration that governs casework (the settings file, the casework
policy, the quality policy) are recorded as they are first seen by a casework action."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from sqlalchemy import select

from leadguard.audit import log as audit
from leadguard.core.config import SETTINGS_FILE
from leadguard.quality.gate import shipped_policy_bytes
from leadguard.services.casework.policy import CaseworkPolicy
from leadguard.services.context import Context
from leadguard.storage.tables import AuditEntry


def observe_config(ctx: Context, pol: CaseworkPolicy) -> None:
    """Record in the audit log the digests of the settings file, the casework policy and the
    quality policy in force: ``config.observed`` the first time, then ``config.changed``
    (naming what changed) whenever a casework action finds them different from the last
    entry."""

    def digest(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    settings = ctx.root / SETTINGS_FILE
    quality = ctx.settings.quality_policy
    if quality is not None and not quality.is_absolute():
        quality = ctx.root / quality
    shipped = resources.files("leadguard")
    casework_bytes = (
        Path(pol.source).read_bytes()
        if "(shipped)" not in pol.source
        else shipped.joinpath("services", "casework", "data", "policy.toml").read_bytes()
    )
    quality_bytes = (
        quality.read_bytes()
        if quality is not None and quality.exists()
        else shipped_policy_bytes(ctx.settings.face_model)
    )
    now = {
        "settings": digest(settings.read_bytes()) if settings.exists() else "",
        "casework_policy": f"{pol.source} {digest(casework_bytes)}",
        "quality_policy": f"{quality or 'shipped'} {digest(quality_bytes)}",
    }
    with ctx.session() as s:
        last = s.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(("config.observed", "config.changed")))
            .order_by(AuditEntry.seq.desc())
            .limit(1)
        ).first()
        if last is None:
            audit.append(s, "config.observed", "config", {"now": now})
        elif last.details.get("now") != now:
            before = last.details.get("now", {})
            changed = sorted(k for k in now if before.get(k) != now[k])
            audit.append(
                s, "config.changed", "config", {"now": now, "before": before, "changed": changed}
            )
