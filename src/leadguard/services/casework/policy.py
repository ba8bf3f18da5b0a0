"""The casework policy file (TOML) and the refusals that name its rules."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from leadguard.core.errors import InputError, LeadGuardError
from leadguard.core.files import MAX_POLICY_BYTES, read_bounded


class PolicyRefused(LeadGuardError):
    """An action the casework policy forbids; ``rule`` names the rule."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(f"refused by policy rule {rule!r}: {message}")


@dataclass(frozen=True)
class CaseworkPolicy:
    eligible_offences: tuple[str, ...]
    supervisor_approval_required: bool
    examiners_required: int
    searcher_may_review: bool
    list_length: int
    corroboration_required: bool
    source: str
    sha256: str = ""  # of the file's bytes: what an admin adopts (casework/adoption.py)


SHIPPED = "leadguard/services/casework/data/policy.toml (shipped)"


def read_policy_file(path: Path | None = None) -> tuple[str, bytes]:
    """(source, bytes) of the casework policy file: the workspace's own, or the shipped one."""
    if path is None:
        f = resources.files("leadguard.services.casework").joinpath("data", "policy.toml")
        return SHIPPED, f.read_bytes()

    def fail(why: str) -> InputError:  # a pipe or a device would never end
        return InputError(f"{path}: cannot read the casework policy ({why})")

    return str(path), read_bounded(path, MAX_POLICY_BYTES, fail)


def load_casework_policy(path: Path | None = None) -> CaseworkPolicy:
    return parse_casework_policy(*read_policy_file(path))


def parse_casework_policy(source: str, data: bytes) -> CaseworkPolicy:
    try:
        d = tomllib.loads(data.decode())
        policy = CaseworkPolicy(
            tuple(o.lower() for o in d["eligible_offences"]),
            bool(d["supervisor_approval_required"]),
            int(d["examiners_required"]),
            bool(d["searcher_may_review"]),
            int(d["list_length"]),
            bool(d["corroboration_required"]),
            source,
            hashlib.sha256(data).hexdigest(),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{source}: not a valid casework policy ({exc!r})") from exc
    if policy.examiners_required < 2:
        raise InputError(f"{source}: examiners_required must be at least 2")
    return policy
