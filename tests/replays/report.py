"""Run every replay scenario in both variants and write the replay table.

    PYTHONPATH=src python -m tests.replays.report [--out FILE] [--docs docs/casework.md]

``--docs`` replaces the table between the ``replay-table`` markers of that file. The
gallery is small (36 LFW people); a run takes a few minutes on two cores."""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from pathlib import Path

from leadguard.gallery.enroll import enroll
from leadguard.services import accounts
from leadguard.services.context import Actor, Context
from leadguard.storage.workspace import Workspace
from tests.replays import adapter
from tests.replays.runner import Replay, replay
from tests.replays.scenarios import load_all
from tests.replays.standins import LFW, build_gallery, write_manifest

log = logging.getLogger(__name__)
PW = "replay password, long enough"
USERS = (
    ("sup", "supervisor", "replay"),
    ("sup2", "supervisor", "replay"),
    ("ex1", "examiner", "replay"),
    ("ex2", "examiner", "replay"),
    ("rev", "reviewer", "replay"),
    ("blindadmin", "examiner", "replay"),
)
BEGIN, END = "<!-- replay-table: begin -->", "<!-- replay-table: end -->"


def run_all(tmp: Path) -> list[Replay]:
    os.environ.setdefault("LEADGUARD_SOURCE_ROOTS", f'["{LFW.parent}"]')
    scenarios = load_all()
    gallery = build_gallery(scenarios)
    ws = Workspace.init(tmp / "ws", workers=1)
    try:
        enroll(ws, write_manifest(tmp / "gallery.csv", gallery))
        ctx = Context(ws)
        accounts.add_user(ctx, None, "admin", PW, "admin")
        admin = accounts.login(ctx, "admin", PW).actor
        users: dict[str, Actor] = {}
        for name, role, unit in USERS:
            accounts.add_user(ctx, admin, name, PW, role, unit)
            users[name] = accounts.login(ctx, name, PW).actor
        out = []
        for sc in scenarios:
            for variant in ("real", "worst"):
                out.append(replay(ctx, users, sc, gallery.casts[(sc.id, variant)], tmp))
        return out
    finally:
        ws.close()


DETAILED = ("show_array_to_witness", "record_corroboration", "record_outcome")


def _short(text: str, limit: int = 220) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(replays: list[Replay]) -> str:
    api = "structured corroboration and checks" if adapter.STRUCTURED else "free-text corroboration"
    lines = [
        f"Casework API replayed: {api}. Real: the culprit not enrolled, an innocent person is; "
        "worst: another photo of the probe's person enrolled as the innocent candidate.",
        "",
        "| scenario | variant | first stopped at | independent stops | safeguards that stopped it "
        "| forced | wrongly allowed | wrongly refused |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in replays:
        first = r.first_stop
        where = f"{first.index}. {first.action} ({first.rule})" if first else "never"
        forced = [f"{s.index}. {s.action}" for s in r.steps if s.forced]
        wa = [f"{s.index}. {s.action}" for s in r.wrong if s.verdict == "wrongly allowed"]
        wr = [
            f"{s.index}. {s.action} ({s.rule})" for s in r.wrong if s.verdict == "wrongly refused"
        ]
        lines.append(
            f"| {r.scenario} | {r.variant} | {_cell(where)} | {len(r.stop_groups)} | "
            f"{_cell(', '.join(r.stop_groups))} | {_cell(', '.join(forced) or '—')} | "
            f"{_cell(', '.join(wa) or 'none')} | {_cell(', '.join(wr) or 'none')} |"
        )
    lines += ["", "Every step (expected / what LeadGuard did / rule / forced):", ""]
    for r in replays:
        lines.append(
            f"- **{r.scenario} ({r.variant})**: "
            + "; ".join(
                f"{s.index}. {s.action}: {s.expected} / {s.outcome}"
                + (f" ({s.rule})" if s.rule else "")
                + (f" [forced: {s.forced}]" if s.forced else "")
                + (f" — {_short(s.detail)}" if s.action in DETAILED and s.detail else "")
                + ("" if s.verdict == "ok" else f" **{s.verdict}**")
                for s in r.steps
            )
        )
    return "\n".join(lines) + "\n"


def update_docs(path: Path, table: str) -> None:
    text = path.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    if not rest:
        raise SystemExit(f"{path}: no {BEGIN} marker")
    path.write_text(f"{head}{BEGIN}\n{table}{END}{tail}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, help="write the markdown table here")
    ap.add_argument("--docs", type=Path, help="replace the table in this markdown file")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        table = markdown(run_all(Path(tmp)))
    if args.out:
        args.out.write_text(table)
    if args.docs:
        update_docs(args.docs, table)
    log.info("%s", table)


if __name__ == "__main__":
    main()
