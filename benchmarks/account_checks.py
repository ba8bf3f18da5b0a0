"""What checking accounts against the audit log costs (``audit.as_recorded``, ``acted_as``).

In a keyed workspace with ``--entries`` audit entries and one admin:
- ``accounts.authenticate`` with the check as used on and off (``as_recorded.problem``
  replaced by a no-op), with no entry written between calls and with one written between
  each; and the first check in a new process (it reads that account's entries once);
- a transaction of three entries written by a process (no account row read) and by an
  account (its row read once, recorded as ``acted_as``).

Medians of ``--calls`` calls, ``--runs`` rounds alternating the two sides in one process.
Argon2 is set to its lowest cost: logins are not what is measured.

Usage: python benchmarks/account_checks.py [--entries 20000] [--calls 300] [--runs 3]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher

from _common import save
from leadguard.audit import as_recorded
from leadguard.audit import log as audit
from leadguard.services import accounts
from leadguard.services.audit_key import adopt_key
from leadguard.services.context import Context
from leadguard.storage.workspace import Workspace

log = logging.getLogger("account_checks")
PW = "benchmark password 1"


def _median_ms(calls: int, each: Callable[[int], None], before: Callable[[int], None]) -> float:
    times = []
    for i in range(calls):
        before(i)
        t = time.perf_counter()
        each(i)
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=20000)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    accounts._hasher = lambda: cheap  # type: ignore[assignment]
    real_problem = as_recorded.problem
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "keys").mkdir(mode=0o700)
        ctx = Context(Workspace.init(root / "ws"))
        adopt_key(ctx, None, root / "keys" / "audit.key")
        accounts.add_user(ctx, None, "admin", PW, "admin")
        token = accounts.login(ctx, "admin", PW).token
        with ctx.session() as s:
            for i in range(args.entries):
                audit.append(s, "note", "workspace", {"n": i})

        def note(i: int, who: str = "os:bench") -> None:
            with ctx.session() as s:
                audit.append(s, "note", "workspace", {"i": i}, actor=who)

        def auth(_: int) -> None:
            accounts.authenticate(ctx, token)

        def nothing(_: int) -> None:
            return None

        def tx(who: str) -> Callable[[int], None]:
            def run(i: int) -> None:
                with ctx.session() as s:
                    for k in range(3):
                        audit.append(s, "note", "workspace", {"i": i, "k": k}, actor=who)

            return run

        rounds = []
        for _ in range(args.runs):
            r: dict[str, float] = {}
            for side in ("off", "on"):
                as_recorded.problem = (  # type: ignore[assignment]
                    real_problem if side == "on" else (lambda *a: None)
                )
                r[f"authenticate_{side}_ms"] = _median_ms(args.calls, auth, nothing)
                r[f"authenticate_{side}_write_between_ms"] = _median_ms(args.calls, auth, note)
            as_recorded.problem = real_problem  # type: ignore[assignment]
            fresh = Context(Workspace.open(root / "ws"))
            t = time.perf_counter()
            accounts.authenticate(fresh, token)
            r["first_check_new_process_ms"] = round((time.perf_counter() - t) * 1000, 3)
            fresh.close()
            r["tx3_process_ms"] = _median_ms(args.calls, tx("os:bench"), nothing)
            r["tx3_account_ms"] = _median_ms(args.calls, tx("admin"), nothing)
            rounds.append(r)
            log.info("%s", r)
        ctx.close()
    save("account_checks", {"entries": args.entries, "calls": args.calls, "rounds": rounds})


if __name__ == "__main__":
    main()
