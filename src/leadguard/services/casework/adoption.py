"""Adopting the casework policy: an admin's audited act, and the refusal of a policy file
nobody adopted.

``settings adopt-policy`` appends a ``settings.adopt_policy`` entry (object
``settings:casework_policy``) holding the policy file's source, SHA-256 and content, with
the admin as actor. At every use the policy in force must have the digest of the latest
adoption: a file edited in place, or a ``leadguard.toml`` pointed at another file, is
refused until an admin adopts it. A workspace with no adoption at all accepts only the
policy LeadGuard ships (new workspaces adopt it at ``leadguard init``).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadguard.audit import log as audit
from leadguard.services.casework.policy import SHIPPED, CaseworkPolicy, PolicyRefused
from leadguard.storage.tables import AuditEntry

ACTION = "settings.adopt_policy"
OBJECT = "settings:casework_policy"
COMMAND = "leadguard settings adopt-policy"


class PolicyNotAdopted(PolicyRefused):
    """The casework policy file in force is not the one an admin last adopted."""

    def __init__(self, message: str) -> None:
        super().__init__("adopted_policy", message)


def last_adoption(session: Session) -> AuditEntry | None:
    q = (
        select(AuditEntry)
        .where(AuditEntry.action == ACTION, AuditEntry.object == OBJECT)
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    return session.scalars(q).first()


def require_adopted(session: Session, policy: CaseworkPolicy, workspace: str) -> None:
    """Refuse a policy whose digest is not the latest adoption's (or, with none recorded,
    any policy but the shipped one)."""
    last = last_adoption(session)
    if last is None:
        if policy.source == SHIPPED:
            return
        why = "no casework policy was ever adopted in this workspace"
    elif last.details.get("sha256") == policy.sha256:
        return
    else:
        why = (
            f"its SHA-256 {policy.sha256[:12]}... differs from the policy adopted in audit "
            f"entry {last.seq} ({last.details.get('source')}, "
            f"{str(last.details.get('sha256'))[:12]}..., by {last.actor})"
        )
    raise PolicyNotAdopted(
        f"the casework policy file {policy.source} is not adopted: {why}; an admin who has "
        f"read it adopts it with: {COMMAND} -w {workspace}"
    )


def record(session: Session, policy: CaseworkPolicy, content: bytes, actor: str) -> AuditEntry:
    """The adoption entry (in the caller's transaction)."""
    last = last_adoption(session)
    return audit.append(
        session,
        ACTION,
        OBJECT,
        {
            "source": policy.source,
            "sha256": policy.sha256,
            "content": content.decode(),
            "previous_sha256": last.details.get("sha256") if last is not None else None,
        },
        actor=actor,
    )
