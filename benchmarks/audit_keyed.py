"""What a keyed audit log costs: an entry appended with its code, and ``audit verify``.

Two real SQLite workspaces, one keyed (``leadguard audit key``) and one not, each get the
same entries: ``--entries`` audit entries, ``--per-tx`` to a transaction (a search writes
three). Reported, medians of ``--runs``, measured alternately in one run:
- milliseconds a transaction of ``--per-tx`` appends, unkeyed and keyed (the keyed one adds
  an HMAC and an insert into ``audit_macs`` per entry, and per transaction the head
  receipt: read and one indexed query at its first entry, rewritten after its commit; the
  unkeyed one a one-row read of the log per transaction, which tells it whether the log is
  keyed);
- ``audit.verify`` over the whole chain, unkeyed and keyed (every code recomputed);
- microseconds to read the head receipt and to move it on (``storage.audit_head``).

Usage: python benchmarks/audit_keyed.py [--entries 20000] [--per-tx 3] [--runs 5]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

from _common import median, save, timed
from leadguard.audit import log as audit
from leadguard.services.audit_key import adopt_key
from leadguard.services.context import Context
from leadguard.storage import audit_head
from leadguard.storage.workspace import Workspace

log = logging.getLogger("audit_keyed")


def fill(ws: Workspace, entries: int, per_tx: int) -> list[float]:
    """Append ``entries`` entries, ``per_tx`` a transaction; seconds a transaction."""
    times = []
    for start in range(0, entries, per_tx):
        t = time.perf_counter()
        with ws.session() as s:
            for k in range(start, min(entries, start + per_tx)):
                audit.append(s, "bench", f"search:{k}", {"k": k, "threshold": 0.58})
        times.append(time.perf_counter() - t)
    return times


def receipt_costs(root: Path, runs: int, n: int = 1000) -> dict[str, float]:
    """Microseconds to read the head receipt (a transaction's first entry does) and to
    move it on (after a commit), medians of ``runs`` rounds of ``n``."""
    key = b"k" * 32
    path = audit_head.head_file(key, root / "receipt-bench")
    assert path is not None
    audit_head.advance(path, key, 1, "0" * 64, force=True)
    reads, moves = [], []
    for r in range(runs):
        t = time.perf_counter()
        for _ in range(n):
            audit_head.read(path, key)
        reads.append((time.perf_counter() - t) / n)
        t = time.perf_counter()
        for i in range(n):
            audit_head.advance(path, key, 2 + r * n + i, "0" * 64)
        moves.append((time.perf_counter() - t) / n)
    return {"read": round(median(reads) * 1e6, 1), "advance": round(median(moves) * 1e6, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=20000)
    ap.add_argument("--per-tx", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["XDG_DATA_HOME"] = str(root / "data")  # the head receipts: not the home's
        (root / "keys").mkdir(mode=0o700)
        plain = Workspace.init(root / "plain")
        keyed = Workspace.init(root / "keyed")
        adopt_key(Context(keyed), None, root / "keys" / "audit.key")
        append: dict[str, list[float]] = {"unkeyed": [], "keyed": []}
        share = args.entries // args.runs
        for _ in range(args.runs):  # alternately, so that the machine's load hits both
            for name, ws in (("unkeyed", plain), ("keyed", keyed)):
                append[name].append(median(fill(ws, share, args.per_tx)))
        verify: dict[str, float] = {}
        for name, ws in (("unkeyed", plain), ("keyed", keyed)):

            def run(ws: Workspace = ws) -> None:
                with ws.read_session() as s:
                    assert audit.verify(s).intact

            verify[name] = timed(run, args.runs)
        result = {
            "entries": args.entries,
            "per_tx": args.per_tx,
            "runs": args.runs,
            "append_tx_ms": {k: [round(v * 1000, 3) for v in vs] for k, vs in append.items()},
            "append_tx_ms_median": {k: round(median(vs) * 1000, 3) for k, vs in append.items()},
            "verify_s": {k: round(v, 3) for k, v in verify.items()},
            "receipt_us": receipt_costs(root, args.runs),
        }
        log.info("head receipt: %s", result["receipt_us"])
        for name in ("unkeyed", "keyed"):
            log.info(
                "%s: %.2f ms a transaction of %d entries; verify of %d entries %.2f s",
                name,
                result["append_tx_ms_median"][name],
                args.per_tx,
                args.entries,
                verify[name],
            )
        plain.close()
        keyed.close()
    log.info("saved %s", save("audit_keyed", result))


if __name__ == "__main__":
    main()
