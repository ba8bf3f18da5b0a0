"""The transparency report for a period: counts and plots from the period's data (pure;
the plots are PNGs whose bytes depend on the data only)."""

from __future__ import annotations

import io
from collections import Counter
from typing import Any

from leadguard.reports.document import Document

BANNER = "Public transparency report — counts only, no personal data"


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def _plots(data: dict[str, Any]) -> list[tuple[str, bytes]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    out: list[tuple[str, bytes]] = []
    rows = data["searches"]
    offences = sorted({r["offence"] for r in rows})
    outcomes = sorted({r["outcome"] for r in rows})
    if rows:
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(offences) + 1.8))
        left = [0] * len(offences)
        for k in outcomes:
            counts = [
                sum(r["count"] for r in rows if r["offence"] == o and r["outcome"] == k)
                for o in offences
            ]
            ax.barh(offences, counts, left=left, label=k)
            left = [a + b for a, b in zip(left, counts, strict=True)]
        ax.set_xlabel("searches")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("Searches by offence and outcome")
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        out.append(("Searches by offence and outcome", _png(fig)))
        plt.close(fig)
    leads = data["leads"]
    if leads:
        groups = sorted({x["group"] for x in leads})
        released = [sum(1 for x in leads if x["group"] == g) for g in groups]
        refuted = [sum(1 for x in leads if x["group"] == g and x["refuted"]) for g in groups]
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(groups) + 1.8))
        ys = list(range(len(groups)))
        ax.barh([y + 0.2 for y in ys], released, height=0.4, label="released")
        ax.barh([y - 0.2 for y in ys], refuted, height=0.4, label="refuted")
        ax.set_yticks(ys, groups)
        ax.set_xlabel("leads")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title("Leads by recorded sex / race")
        ax.legend(fontsize=7)
        fig.tight_layout()
        out.append(("Released and refuted leads by recorded sex / race", _png(fig)))
        plt.close(fig)
    return out


def transparency_document(data: dict[str, Any]) -> Document:
    doc = Document(f"Face search transparency report, {data['start']} to {data['end']}", BANNER)
    rows = data["searches"]
    total = sum(r["count"] for r in rows)
    by_outcome: Counter[str] = Counter()
    for r in rows:
        by_outcome[r["outcome"]] += r["count"]
    leads = data["leads"]
    doc.h("Summary", 1)
    doc.fields(
        [
            ("Period (days inclusive, UTC)", f"{data['start']} to {data['end']}"),
            ("Searches", total),
            ("Searches with candidates", by_outcome.get("candidates", 0)),
            ("Searches with no candidate", by_outcome.get("no_candidate", 0)),
            (
                "Searches refused or failed",
                sum(n for k, n in by_outcome.items() if k.startswith("refused")),
            ),
            ("Requests and actions refused by policy", sum(data["policy_refusals"].values())),
            ("Leads released", len(leads)),
            ("Leads corroborated", sum(x["corroborated"] for x in leads)),
            ("Leads refuted", sum(x["refuted"] for x in leads)),
            ("Leads closed with no further action", sum(x["no_further_action"] for x in leads)),
            ("Photo lineups recorded", sum(x["lineup"] for x in leads)),
            ("Cases moved to 'suspect identified'", sum(x["suspect_identified"] for x in leads)),
            ("Arrests", "not recorded by LeadGuard (see 'suspect identified' and outcomes)"),
        ]
    )
    doc.h("Searches by offence and outcome", 1)
    if rows:
        doc.table(
            ["Offence", "Outcome", "Searches"],
            [[r["offence"], r["outcome"], r["count"]] for r in rows],
            (3, 2, 1),
        )
    else:
        doc.p("No search in this period.")
    doc.h("Refusals", 1)
    doc.h("Quality refusals by failing measure", 2)
    q = data["quality_refusals"]
    if q:
        doc.table(["Measure below its refusal floor", "Searches"], [[k, v] for k, v in q.items()])
    else:
        doc.p("No probe was refused by the quality gate in this period.")
    doc.h("Policy and authorisation refusals (action: rule)", 2)
    pr = data["policy_refusals"]
    if pr:
        doc.table(["Refused action: rule or reason", "Times"], [[k, v] for k, v in pr.items()])
    else:
        doc.p("None in this period.")
    doc.h("Leads by the candidate's recorded sex / race", 1)
    groups = sorted({x["group"] for x in leads})
    if groups:
        doc.table(
            ["Recorded sex / race", "Released", "Corroborated", "Refuted"],
            [
                [
                    g,
                    sum(1 for x in leads if x["group"] == g),
                    sum(1 for x in leads if x["group"] == g and x["corroborated"]),
                    sum(1 for x in leads if x["group"] == g and x["refuted"]),
                ]
                for g in groups
            ],
            (3, 1, 1, 1),
        )
    else:
        doc.p("No lead was released in this period.")
    doc.h("Plots", 1)
    for caption, png in _plots(data):
        doc.picture(caption, png, 160)
    doc.h("Audit log", 1)
    c = data["chain"]
    doc.fields(
        [
            ("Hash chain", "intact" if c["intact"] else f"BROKEN: {c['reason']}"),
            ("Last entry on or before the period's end", c["head_seq"]),
            ("Its hash", c["head_hash"]),
        ]
    )
    if not c["intact"]:
        doc.p("The audit log's hash chain is broken: these counts cannot be trusted.", True)
    doc.h("About this report", 1)
    doc.p(
        "Counts are read from LeadGuard's stored records: the search log (every search, "
        "including those that returned no candidate and those refused), the audit log "
        "(refusals), and the leads with their corroboration and outcome history. A search "
        "belongs to the period of the day (UTC) it ran; a lead to the day it was released. "
        "Sex and race are as recorded in the gallery for the candidate released."
    )
    return doc
