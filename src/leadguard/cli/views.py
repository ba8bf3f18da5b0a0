"""Readable renderings of casework values, and ``--json`` for every one of them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from leadguard.cli.render import safe


def plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def as_json(console: Console, value: Any) -> None:
    console.print_json(json.dumps(plain(value), default=str))


# Columns that are never cut or wrapped (a subject's name, a case number, a status or a
# decision read in part is a wrong name, number or state); the others wrap, and at a
# narrow width the least important go first (each table's ``drop``, in order).
KEEP = frozenset(
    {
        "id",
        "case",
        "subject",
        "status",
        "outcome",
        "request",
        "rank",
        "score",
        "user",
        "role",
        "incident",
        "photo date",
    }
)
FOLD_MIN = 8  # the narrowest a wrapping column is made before it is left out
WORD_MAX = 14  # a wrapping column is made as wide as its longest word, up to this
CELL = 3  # per column: one padding space each side and the rule between columns


def _text(v: Any) -> str:
    return "" if v is None else str(v)


def _fold_width(texts: Sequence[str]) -> int:
    """The narrowest a wrapping column is made: its longest word (so "worst-group" or
    "(F/african)" wraps between words, not inside one), at least FOLD_MIN, at most WORD_MAX,
    never wider than its longest text."""
    longest = max(cell_len(t) for t in texts)
    word = max((cell_len(w) for t in texts for w in t.split()), default=0)
    return min(longest, max(FOLD_MIN, min(word, WORD_MAX)))


def _needed(head: Sequence[str], rows: Sequence[Sequence[str]], keep: set[str]) -> int:
    total = 1
    for i, h in enumerate(head):
        texts = [h, *(r[i] for r in rows)]
        total += CELL + (max(cell_len(t) for t in texts) if h in keep else _fold_width(texts))
    return total


def _fold_widths(
    width: int,
    head: Sequence[str],
    cells: Sequence[Sequence[str]],
    shown: Sequence[int],
    keep: set[str],
) -> dict[int, int]:
    """The width of each wrapping column shown: its full text where everything fits, else
    its longest word (``_fold_width``) plus a share of the room left, in proportion to how
    much more its full text would need. Rich's own collapse was found to leave a table of
    80 columns 2 wider than the terminal, cropping its last column."""
    texts = {i: [head[i], *(r[i] for r in cells)] for i in shown if head[i] not in keep}
    full = {i: max(cell_len(t) for t in ts) for i, ts in texts.items()}
    least = {i: _fold_width(ts) for i, ts in texts.items()}
    spare = width - _needed([head[i] for i in shown], [[r[i] for i in shown] for r in cells], keep)
    want = sum(full[i] - least[i] for i in texts)
    if want <= spare:
        return full
    out = {i: least[i] + (full[i] - least[i]) * max(spare, 0) // max(want, 1) for i in texts}
    return out


def fit_columns(
    width: int,
    head: Sequence[str],
    rows: Sequence[Sequence[str]],
    keep: set[str],
    drop: Sequence[str] = (),
) -> list[int]:
    """The indexes of the columns shown at ``width``: all, unless the kept columns at their
    full width and the others at a readable minimum do not fit; then ``drop``'s columns
    are left out, in order, until they do."""
    shown = list(range(len(head)))
    for name in drop:
        sub_head = [head[i] for i in shown]
        sub_rows = [[r[i] for i in shown] for r in rows]
        if _needed(sub_head, sub_rows, keep) <= width:
            break
        if name in head and head.index(name) in shown:
            shown.remove(head.index(name))
    return shown


def table(
    console: Console,
    title: str,
    head: Sequence[str],
    rows: Sequence[Sequence[Any]],
    drop: Sequence[str] = (),
    keep: frozenset[str] | set[str] = KEEP,
) -> None:
    """A table that fits the terminal without cutting a kept column (``KEEP``, and every
    column named in ``keep``): the others wrap; columns of ``drop`` are left out (and
    named) when the width is too small; if the kept columns alone are too wide, each row
    is printed as ``column: value`` lines instead."""
    if not rows:
        console.print(f"{title}: none")
        return
    keep = set(keep)
    cells = [[_text(v) for v in r] for r in rows]
    shown = fit_columns(console.width, head, cells, keep, drop)
    left_out = [head[i] for i in range(len(head)) if i not in shown]
    if _needed([head[i] for i in shown], [[r[i] for i in shown] for r in cells], keep) > (
        console.width
    ):
        console.print(f"[bold]{safe(title)}[/]")
        for r in cells:
            for i, h in enumerate(head):
                console.print(f"  {safe(h)}: {safe(r[i])}", soft_wrap=True, highlight=False)
            console.print()
        return
    t = Table(title=title, title_justify="left")
    folds = _fold_widths(console.width, head, cells, shown, keep)
    for i in shown:
        h = head[i]
        if h in keep:
            longest = max(cell_len(h), *(cell_len(r[i]) for r in cells))
            t.add_column(h, no_wrap=True, min_width=longest, overflow="ignore")
        else:
            t.add_column(h, overflow="fold", width=folds[i])
    for r in cells:
        t.add_row(*(safe(r[i]) for i in shown))
    console.print(t)
    if left_out:
        console.print(
            f"  (not shown at {console.width} columns: {', '.join(left_out)}; see --json)",
            highlight=False,
        )


def show(console: Console, value: Any, as_json_out: bool, render: Any) -> None:
    if as_json_out:
        as_json(console, value)
    else:
        render(console, value)


def cases(console: Console, rows: Any) -> None:
    table(
        console,
        "Cases",
        ["case", "offence", "incident", "unit", "status", "assigned"],
        [
            (c.number, c.offence, c.incident_date, c.unit, c.status, ", ".join(c.assigned))
            for c in rows
        ],
        drop=("assigned", "unit", "incident"),
    )


def external_searches(console: Console, rows: Any) -> None:
    table(
        console,
        "Face searches run outside LeadGuard (never a lead, never corroboration)",
        ["id", "case", "run by", "system", "run on", "candidate named", "probe sha256"],
        [
            (r.id, r.case, r.run_by, r.system, r.run_on, r.candidate, r.probe_sha256 or "none")
            for r in rows
        ],
    )


def requests(console: Console, rows: Any) -> None:
    table(
        console,
        "Search requests",
        ["id", "case", "status", "source", "probe sha256", "requested by", "approved by"],
        [
            (
                r.id,
                r.case,
                r.status,
                r.source_type,
                (r.probe_sha256 or "")[:12],
                r.requested_by,
                r.approved_by,
            )
            for r in rows
        ],
        drop=("probe sha256", "approved by", "source", "requested by"),
    )


def leads(console: Console, rows: Any) -> None:
    table(
        console,
        "Leads",
        ["id", "case", "request", "subject", "basis", "corroboration", "lineup", "outcome"],
        [
            (
                lead.id,
                lead.case,
                lead.request,
                lead.subject,
                lead.basis,
                _corroboration(lead),
                ", ".join(w["witness_type"] for w in lead.lineups) or "no",
                ("FINAL: " + lead.final) if lead.final else (lead.outcome or "open"),
            )
            for lead in rows
        ],
        drop=("basis", "lineup", "corroboration", "request"),
    )


def _corroboration(lead: Any) -> str:
    counted = sum(1 for c in lead.corroboration if c.get("counts"))
    other = len(lead.corroboration) - counted
    return f"{counted} independent" + (f", {other} not counted" if other else "")


def case_detail(console: Console, d: Any) -> None:
    c = d.case
    console.print(
        f"[bold]Case {safe(c.number)}[/]: {safe(c.offence)}, incident "
        f"{c.incident_date}, unit {safe(c.unit)}, status {c.status}"
    )
    console.print(f"  {safe(c.description)}")
    console.print(
        f"  officer {safe(c.officer)}; authority {safe(c.authority)}; "
        f"assigned: {safe(', '.join(c.assigned))}"
    )
    requests(console, d.requests)
    leads(console, d.leads)


def users(console: Console, rows: Any) -> None:
    table(
        console,
        "Users",
        ["user", "role", "unit", "active", "locked"],
        [
            (u.username, u.role, u.unit, "yes" if u.active else "no", "yes" if u.locked else "")
            for u in rows
        ],
    )


def queue(console: Console, rows: Any) -> None:
    table(
        console,
        "My pending reviews",
        ["request", "case", "candidates"],
        [(q.request, q.case, q.candidates) for q in rows],
    )


def packet(console: Console, p: Any) -> None:
    console.print(f"[bold]Blind packet[/] for request {p.request} (case {safe(p.case)})")
    console.print(f"  probe: stored probe {p.probe_id} (sha256 {(p.probe_sha256 or '')[:16]})")
    console.print(f"  incident: {safe(p.incident_description)}")
    console.print(f"  person sought: {safe(json.dumps(p.person_sought))}")
    if p.known_facts:
        console.print(f"  known facts: {safe(json.dumps(p.known_facts))}")
    table(
        console,
        "Candidates (by letter, your own order; no names or scores)",
        ["candidate", "photo date"],
        [(c.letter, c.photo_date or "not recorded") for c in p.candidates],
    )
    console.print(f"  decisions: {', '.join(p.decisions)}")
    console.print(
        f"  a possible_lead checks each of: {safe(', '.join(p.required_checks))} "
        "(consistent true/false/null; explain each false)"
    )


def brief(console: Console, b: Any) -> None:
    console.print(f"[bold]Adjudication brief[/]: {safe(b.subject)}, request {b.request}")
    for e in b.examiners:
        console.print(f"  [bold]{safe(e.examiner)}[/]: {e.decision} (confidence {e.confidence})")
        for k, v in sorted(e.features.items()):
            console.print(f"    feature {safe(k)}: {safe(str(v))}")
        for c in e.checks:
            state = {True: "consistent", False: "NOT CONSISTENT", None: "cannot be checked"}
            line = f"    check {c.get('attribute')}: {state.get(c.get('consistent'), '?')}"
            if c.get("note"):
                line += f" ({c['note']})"
            if c.get("explanation"):
                line += f"; explained: {c['explanation']}"
            console.print(safe(line))
    for u in b.unchecked:
        console.print(f"  [red]missing check[/]: {safe(u)}")
    if b.to_answer:
        console.print(
            f"  the ruling must answer in writing (--answers): {safe(', '.join(b.to_answer))}"
        )


def reveal(console: Console, r: Any) -> None:
    console.print(f"[bold]Request {r.request}[/] (case {safe(r.case)}): scores and decisions")
    names = [rv.examiner for rv in r.reviews]
    rows = []
    for c in r.candidates:
        ds = [rv.decisions.get(c["subject"], {}).get("decision", "-") for rv in r.reviews]
        rows.append((c.get("rank"), c["subject"], f"{c.get('score', 0):.4f}", *ds))
    table(console, "Candidates", ["rank", "subject", "score", *names], rows, keep={*KEEP, *names})
    for a in r.adjudications:
        console.print(
            f"  adjudicated {safe(a['subject'])} on {a['on']} by {safe(a['by'])}: "
            f"{'release' if a['release'] else 'no release'} ({safe(a['note'])})"
        )
        for check, answer in sorted((a.get("answers") or {}).items()):
            console.print(f"    answered {safe(check)}: {safe(answer)}")
