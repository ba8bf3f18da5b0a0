"""Accounts for unit tests: argon2 at its lowest cost (the tests count logins and entries,
not the cost of each hash) and a workspace with an admin, a supervisor and an examiner of
unit north."""

from __future__ import annotations

from pathlib import Path

import pytest
from argon2 import PasswordHasher

from leadguard.services import accounts
from leadguard.services.context import Context
from leadguard.storage.workspace import Workspace

PW = "correct horse battery staple"


def cheap_hashing(mp: pytest.MonkeyPatch) -> None:
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    mp.setattr(accounts, "_hasher", lambda: cheap)
    accounts._dummy_hash.cache_clear()
    mp.setattr(accounts, "_dummy_hash", lambda: cheap.hash("unknown"))


def north_desk(root: Path, mp: pytest.MonkeyPatch, examiner: bool = True) -> Context:
    """A new workspace at ``root`` with accounts admin, sup (supervisor, north) and, unless
    ``examiner`` is False, ex1 (examiner, north); every password is ``PW``."""
    cheap_hashing(mp)
    c = Context(Workspace.init(root))
    accounts.add_user(c, None, "admin", PW, "admin")
    admin = accounts.login(c, "admin", PW).actor
    accounts.add_user(c, admin, "sup", PW, "supervisor", "north")
    if examiner:
        accounts.add_user(c, admin, "ex1", PW, "examiner", "north")
    return c
