"""How long the first page of the audit log takes to serve once the log is large.

A temporary workspace (embedded SQLite) with accounts and two cases (one of unit north, one
of unit south) gets an audit log of --entries synthetic entries, bulk inserted with their
real chain hashes (so the chain verifies and the server's own appends continue it): a mix of
case, request, search, login and gallery actions, by several users. Then the web page
``GET /audit`` is requested in-process (the app as `leadguard serve` builds it, with a
cookie login through the login form, as a browser does) and timed from request to the end
of the response, after one warm-up: the first page as an auditor (the target: median under
200 ms), as the north supervisor (whose reads go through the same ``readable`` filter as
the export), the auditor's first page filtered by case, by action and by day, and the
auditor's next (older) page. Each figure is the median of --repeats requests, in ms.

Usage: python benchmarks/audit_page.py [--entries 1000000] [--repeats 9]
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from _common import save
from leadguard.audit import log as audit
from leadguard.server.app import create_app
from leadguard.services import accounts
from leadguard.services.casework import service
from leadguard.services.context import Context
from leadguard.storage.tables import AuditEntry
from leadguard.storage.workspace import Workspace

log = logging.getLogger("audit_page")
PW = "benchmark password 1"
USERS = (
    ("sup", "supervisor", "north"),
    ("sup_s", "supervisor", "south"),
    ("ex1", "examiner", "north"),
    ("ex2", "examiner", "south"),
    ("aud", "auditor", ""),
)
CASES = (("BENCH-N", "sup"), ("BENCH-S", "sup_s"))
CHUNK = 20_000


def synthetic(i: int) -> tuple[str, str, str, dict[str, Any]]:
    """The i-th synthetic entry: actor, action, object, details."""
    number = CASES[i % 2][0]
    actor = ("ex1", "ex2", "sup", "sup_s")[i % 4]
    kind = i % 10
    if kind < 4:
        return actor, "case.view", f"case:{number}", {"reason": "work on the case"}
    if kind < 6:
        req = i // 10
        return actor, "request.create", f"case:{number}/request:{req}", {"purpose": "lead"}
    if kind == 6:
        why = "refused by policy rule 'corroboration_before_lineup'"
        return actor, "refused", f"case:{number}/lead:{i // 10}", {"reason": why}
    if kind == 7:
        return actor, "login", f"user:{actor}", {"address": "127.0.0.1"}
    if kind == 8:
        return actor, "search.run", f"search:{i}", {"candidates": 3, "mode": "open_set"}
    return "admin", "gallery.enroll", "gallery:bench", {"templates": [i, i + 1]}


def fill(ctx: Context, n: int, start: datetime) -> float:
    """Append ``n`` chained entries after the existing ones, ``CHUNK`` rows a statement,
    one second apart from ``start``. Returns the seconds taken."""
    t0 = time.perf_counter()
    with ctx.session() as s:
        last = s.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).first()
        seq0 = last.seq if last else 0
        prev = last.hash if last else audit.GENESIS
    done = 0
    while done < n:
        rows = []
        for i in range(done, min(n, done + CHUNK)):
            seq = seq0 + i + 1
            at = (start + timedelta(seconds=i)).isoformat()
            actor, action, obj, details = synthetic(i)
            h = audit.content_hash(prev, seq, at, actor, action, obj, details)
            rows.append(
                {
                    "seq": seq,
                    "at": at,
                    "actor": actor,
                    "action": action,
                    "object": obj,
                    "details": details,
                    "prev_hash": prev,
                    "hash": h,
                }
            )
            prev = h
        with ctx.session() as s:
            s.execute(insert(AuditEntry), rows)
        done += len(rows)
    return time.perf_counter() - t0


def web_login(app: Any, user: str) -> TestClient:
    client = TestClient(app, base_url="https://testserver")
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token is not None
    r = client.post(
        "/login",
        data={"csrf": token.group(1), "username": user, "password": PW},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return client


def timed(client: TestClient, url: str, repeats: int) -> dict[str, Any]:
    r = client.get(url)  # warm-up
    assert r.status_code == 200, (url, r.status_code, r.text[:500])
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200
    return {
        "url": url,
        "median_ms": round(statistics.median(times), 1),
        "min_ms": round(min(times), 1),
        "max_ms": round(max(times), 1),
        "entries_shown": r.text.count("<tr") - 1,
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(Workspace.init(Path(tmp) / "ws", workers=1))
        accounts.add_user(ctx, None, "admin", PW, "admin")
        admin = accounts.login(ctx, "admin", PW).actor
        for name, role, unit in USERS:
            accounts.add_user(ctx, admin, name, PW, role, unit)
        for number, sup in CASES:
            who = accounts.login(ctx, sup, PW).actor
            service.open_case(
                ctx, who, number, "robbery", date(2026, 3, 1), "bench", {}, "Det. B", "warrant"
            )
        start = datetime(2026, 1, 1, tzinfo=UTC)
        fill_s = fill(ctx, args.entries, start)
        log.info("filled %d entries in %.1f s", args.entries, fill_s)
        app = create_app(ctx, preload=False, login_limit=1000)
        aud, sup = web_login(app, "aud"), web_login(app, "sup")
        first = aud.get("/audit").text
        older = re.search(r'href="(/audit\?before=\d+)"', first)
        assert older is not None, "no link to the older page"
        middle = (start + timedelta(seconds=args.entries // 2)).date().isoformat()
        runs = {
            "auditor_first_page": timed(aud, "/audit", args.repeats),
            "supervisor_first_page": timed(sup, "/audit", args.repeats),
            "auditor_case": timed(aud, "/audit?case=BENCH-N", args.repeats),
            "auditor_action_refused": timed(aud, "/audit?action=refused", args.repeats),
            "auditor_one_day_midway": timed(
                aud, f"/audit?since={middle}&until={middle}", args.repeats
            ),
            "auditor_second_page": timed(aud, older.group(1).replace("&amp;", "&"), args.repeats),
        }
        for name, r in runs.items():
            log.info(
                "%-24s median %7.1f ms (min %.1f, max %.1f), %d entries",
                name,
                r["median_ms"],
                r["min_ms"],
                r["max_ms"],
                r["entries_shown"],
            )
        ctx.close()
    out = save(
        "audit_page",
        {
            "entries": args.entries,
            "repeats": args.repeats,
            "fill_s": round(fill_s, 1),
            "database": "sqlite",
            "results": runs,
        },
    )
    log.info("saved %s", out)


if __name__ == "__main__":
    main()
