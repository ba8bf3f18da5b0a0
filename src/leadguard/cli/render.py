"""Human-readable output for the CLI (rich). No business logic here."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leadguard.core.serialize import candidate_list_dict
from leadguard.core.textsafe import printable
from leadguard.core.types import CandidateList, GalleryStats
from leadguard.evidence.search_check import CHECKED
from leadguard.gallery.enroll import EnrollReport
from leadguard.gallery.lookalikes import LookalikeCheck
from leadguard.gallery.maintenance import IndexCheck

MAX_LISTED_FAILURES = 200
CANDIDATE_COLUMNS = (
    "rank",
    "subject",
    "score",
    "FMR at score",
    "worst-group FMR up to",
    "log10 LR",
    "photo date",
    "image",
)
CANDIDATE_DROP = ("image", "photo date", "worst-group FMR up to", "log10 LR")  # first goes first


def safe(value: object) -> str:
    """User-controlled text (subject ids, file names, notes, reasons quoting them) made
    harmless for the terminal: control characters, line breaks and bidi overrides escaped
    (one value, one line; no forged lines) and Rich markup escaped (no hidden links, no
    MarkupError). Every place render shows such text goes through here."""
    return escape(printable(str(value)))


def enroll_report(console: Console, report: EnrollReport) -> None:
    table = Table(title="Enrollment summary", show_header=False)
    table.add_row("embedding space", report.space_key)
    table.add_row("items in source", str(report.total))
    table.add_row("enrolled now", str(report.enrolled))
    table.add_row("skipped", str(len(report.skipped)))
    table.add_row("failed", str(len(report.failed)))
    for code, n in sorted(report.failures_by_code().items()):
        table.add_row(f"  failed: {code}", str(n))
    table.add_row("time", f"{report.elapsed_s:.1f} s ({report.faces_per_second:.1f} faces/s)")
    table.add_row("flagged low quality (enrolled)", str(len(report.low_quality)))
    console.print(table)
    for notice in report.notices:
        console.print(f"[bold yellow]Notice:[/bold yellow] {safe(notice)}")
    if report.low_quality:
        console.print(
            "[bold]Low-quality gallery photos[/bold] (enrolled and flagged; candidate lists "
            "show the flag):"
        )
        for src, why in report.low_quality[:MAX_LISTED_FAILURES]:
            console.print(f"  [yellow]{safe(src)}[/yellow]: {safe(why)}", soft_wrap=True)
        more = len(report.low_quality) - MAX_LISTED_FAILURES
        if more > 0:
            console.print(f"  ... and {more} more (stored per face in the workspace)")
    if report.failed:
        console.print("[bold]Failures[/bold] (file: reason):")
        for f in report.failed[:MAX_LISTED_FAILURES]:
            console.print(
                f"  [red]{f.code}[/red] {safe(f.source)}: {safe(f.message)}", soft_wrap=True
            )
        more = len(report.failed) - MAX_LISTED_FAILURES
        if more > 0:
            console.print(
                f"  ... and {more} more; every failure with an image hash is kept in the "
                "workspace (table enroll_failures) and skipped on re-runs unless --retry-failed"
            )
    reasons: dict[str, int] = {}
    for _, why in report.skipped:
        key = "failed before" if why.startswith("failed before") else why.split(" under ")[0]
        reasons[key] = reasons.get(key, 0) + 1
    for why, n in sorted(reasons.items()):
        console.print(f"  skipped {n}: {safe(why)}")


def open_set_mode(cl: CandidateList) -> str:
    """The mode line: the score the list starts from first (the per-search threshold where
    it is higher), then how the gallery-size threshold was set."""
    said = safe(cl.threshold.statement())
    listing = cl.listing_threshold
    if listing is None or cl.open_set is None or cl.open_set.basis != "per-search":
        return f"candidates listed from score {cl.threshold.threshold:.4f}: the gallery-size {said}"
    return (
        f"candidates listed from score {listing:.4f}, this probe's per-search threshold (below); "
        f"the gallery-size {said}"
    )


def candidate_list(console: Console, cl: CandidateList, as_json: bool = False) -> None:
    if as_json:
        console.print_json(json.dumps(candidate_list_dict(cl)))
        return
    face = cl.probe_face.box
    console.print(f"[bold]Probe[/bold] {safe(cl.probe_source)} (sha256 {cl.probe_sha256[:16]}...)")
    console.print(f"  face searched: ({face.left},{face.top})-({face.right},{face.bottom})")
    console.print(
        f"  gallery searched: {cl.gallery_subjects} subjects, {cl.gallery_templates} templates "
        f"(exact search), embedding space {cl.space.key}"
    )
    if cl.threshold is not None:
        console.print(f"  mode: open-set; {open_set_mode(cl)}")
    else:
        console.print(f"  mode: {cl.mode}")
    if cl.open_set is not None:
        console.print(f"  {safe(cl.open_set.statement())}", soft_wrap=True)
    if cl.evidence_model:
        em = cl.evidence_model
        console.print(
            f"  statements from evidence model {em['id']} ({em['source']}, domain "
            f"{safe(str(em.get('domain')))}, measured on "
            f"{safe(str(em.get('measured_on')))}, sha256 {str(em['payload_sha256'])[:16]}...)"
        )
    if cl.incident_date:
        console.print(f"  incident date: {cl.incident_date.isoformat()}")
    if cl.candidates:
        title = (
            f"Investigation list ({cl.top_k} people, no threshold)"
            if cl.mode == "investigation"
            else "Candidates at or above the threshold"
        )
        from leadguard.cli.views import table

        table(
            console,
            f"{title}; score = cosine similarity, not a probability",
            CANDIDATE_COLUMNS,
            [
                (
                    c.rank,
                    printable(c.subject),
                    f"{c.score:.4f}",
                    *(c.evidence.cells() if c.evidence else ("-", "-", "-")),
                    c.encounter_date.isoformat() if c.encounter_date else "-",
                    printable(str(c.image_path)),
                )
                for c in cl.candidates
            ],
            drop=CANDIDATE_DROP,
        )
        for c in cl.candidates:
            if c.evidence:
                console.print(f"[bold]#{c.rank} {safe(c.subject)}[/bold]")
                for line in c.evidence.lines():
                    console.print(f"  - {safe(line)}", soft_wrap=True)
            pq = c.photo_quality or {}
            if pq.get("decision") in ("warn", "refuse"):
                console.print(
                    f"  - [yellow]gallery photo flagged for quality ({pq['decision']}): "
                    f"{safe('; '.join(pq.get('findings', [])))}[/yellow]",
                    soft_wrap=True,
                )
    for notice in cl.notices:
        console.print(f"[italic]{safe(notice)}[/italic]", soft_wrap=True)
    if cl.search_id is not None:
        console.print(f"  recorded as search {cl.search_id} ({cl.outcome})")


def gallery_stats(console: Console, stats: GalleryStats, current_space: str) -> None:
    table = Table(title="Gallery", show_header=False)
    table.add_row("subjects", str(stats.subjects))
    table.add_row("encounters", str(stats.encounters))
    table.add_row("images", str(stats.images))
    table.add_row("faces", str(stats.faces))
    for key, n in sorted(stats.templates_by_space.items()):
        mark = " (current settings)" if key == current_space else ""
        table.add_row(f"templates in space {key}{mark}", str(n))
    for code, n in sorted(stats.failures_by_reason.items()):
        table.add_row(f"images that failed: {code}", str(n))
    for decision, n in sorted(stats.quality_by_decision.items()):
        flag = " (flagged)" if decision in ("warn", "refuse") else ""
        table.add_row(f"faces with quality verdict {decision}{flag}", str(n))
    console.print(table)


def index_check(console: Console, check: IndexCheck) -> None:
    state = "[green]consistent[/green]" if check.consistent else "[red]INCONSISTENT[/red]"
    console.print(f"index for space {check.space_key}: {state}")
    console.print(f"  templates in database: {check.database_templates}")
    console.print(f"  templates in index:    {check.index_templates}")
    if not check.consistent:
        console.print(f"  missing from index: {check.missing_from_index}")
        console.print(f"  in index but not in database: {check.not_in_database}")
        if check.vectors_differ:
            ids = ", ".join(map(str, check.differing_ids))
            more = " ..." if check.vectors_differ > len(check.differing_ids) else ""
            console.print(
                f"  vectors differing from the database: {check.vectors_differ} "
                f"(template ids {ids}{more})"
            )
        for p in check.file_problems:
            console.print(f"  {p}", soft_wrap=True)
        if check.problem:
            console.print(f"  problem: {check.problem}")
        console.print("  repair with: leadguard index rebuild")


def lookalike_check(console: Console, check: LookalikeCheck) -> None:
    state = "[green]consistent[/green]" if check.consistent else "[red]INCONSISTENT[/red]"
    console.print(f"look-alike counts for space {check.space_key}: {state}")
    console.print(f"  templates: {check.templates}")
    if not check.consistent:
        ids = ", ".join(map(str, check.differing_ids))
        console.print(f"  templates with no counts: {check.missing}")
        console.print(f"  templates whose counts disagree with a recount: {check.differ}")
        if ids:
            more = " ..." if check.missing + check.differ > len(check.differing_ids) else ""
            console.print(f"  (template ids {ids}{more})")
        console.print("  repair with: leadguard gallery rebuild")


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.3f}%"


def verification_summary(console: Console, metrics: dict[str, Any]) -> None:
    table = Table(title="Verification", show_header=False)
    if "lfw_10fold" in metrics:
        t = metrics["lfw_10fold"]
        table.add_row(
            "LFW 10-fold accuracy",
            f"{100 * t['mean_accuracy']:.2f}% ± {100 * t['std_accuracy']:.2f}",
        )
    table.add_row(
        "mated / non-mated pairs", f"{metrics['mated_pairs']} / {metrics['nonmated_pairs']}"
    )
    table.add_row(
        "pairs with a failure to acquire", str(metrics["pairs_with_a_failure_to_acquire"])
    )
    table.add_row("EER", _pct(metrics["eer"]["eer"]))
    for row in metrics["fnmr_at_fmr"]:
        note = "" if row["supported"] else " (too few non-mated pairs to support this FMR)"
        table.add_row(
            f"FNMR at FMR {row['target_fmr']:g}",
            f"{_pct(row['fnmr'])} (threshold {row['threshold']:.4f}){note}",
        )
    console.print(table)
    if metrics.get("note"):
        console.print(f"[yellow]{safe(metrics['note'])}[/yellow]", soft_wrap=True)
    demo = metrics.get("demographics")
    if demo:
        g = Table(
            title=f"Per group at one threshold ({demo['threshold']:.4f}, overall FMR "
            f"{demo['overall_fmr']:.2g}); * = too small to say anything"
        )
        g.add_column("group (sex/race)", overflow="fold")
        for col in ("mated", "non-mated", "FMR", "× lowest", "FNMR"):
            g.add_column(col, justify="right")
        for name, v in demo["groups"].items():
            ratio = v["fmr_ratio_to_lowest"]
            g.add_row(
                name + (" *" if v["too_small"] else ""),
                str(v["mated_pairs"]),
                str(v["nonmated_pairs_within_group"]),
                "too few" if v.get("fmr_too_small") else _pct(v["fmr"]),
                "-" if ratio is None else f"{ratio:.1f}",
                "too few" if v.get("fnmr_too_small") else _pct(v["fnmr"]),
            )
        console.print(g)
        small = [name for name, v in demo["groups"].items() if v["too_small"]]
        if small:
            console.print(
                f"groups too small to say anything (fewer than {demo['min_pairs_rule']['mated']} "
                f"mated or {demo['min_pairs_rule']['nonmated_within_group']} non-mated pairs): "
                + ", ".join(small),
                soft_wrap=True,
            )


def identification_summary(console: Console, metrics: dict[str, Any]) -> None:
    table = Table(title="Identification (mean ± sd over splits)", show_header=False)
    for key, v in metrics["summary"].items():
        table.add_row(key, f"{100 * v['mean']:.2f}% ± {100 * v['std']:.2f}")
    console.print(table)


def _rows_table(
    console: Console, title: str, cols: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    table = Table(title=title, box=None)
    for col in cols:
        table.add_column(col)
    for r in rows:
        table.add_row(*["-" if x is None else safe(x) for x in r])
    console.print(table)


def records(console: Console, rows: list[tuple[Any, ...]]) -> None:
    _rows_table(
        console,
        "Accuracy records",
        ("id", "created", "protocol", "space", "dataset", "report"),
        rows,
    )


def search_log(console: Console, rows: list[tuple[Any, ...]]) -> None:
    console.print("[bold]Search log (latest first)[/bold]")
    for sid, when, mode, outcome, n, gallery, threshold, probe, refused in rows:
        if mode == "refused":  # nothing was searched: no counts, the reason
            why = safe(str(refused or outcome))
            console.print(f"#{sid} {when} refused ({outcome}): {why}", soft_wrap=True)
            continue
        console.print(
            f"#{sid} {when} {mode}: {outcome}, {n} candidate(s) from {gallery} templates, "
            f"threshold {threshold or 'none'}, probe {safe(str(probe))}",
            soft_wrap=True,
        )


def expungement(console: Console, e: Any) -> None:
    console.print(
        f"expunged subject {safe(e.subject)} under order {safe(e.order)}: "
        f"{len(e.images)} image(s), {e.templates} template(s)",
        soft_wrap=True,
    )
    for what, ok in e.checks:
        console.print(f"  [{'green' if ok else 'red'}]{'ok' if ok else 'FAILED'}[/] {what}")
    if e.images:
        console.print(
            "LeadGuard keeps no copy of gallery photos; the files it read are outside it and "
            "must be removed by their custodian:",
            soft_wrap=True,
        )
        for _, path in e.images:
            console.print(f"  {safe(path)}", soft_wrap=True)


def quality_verdict(console: Console, source: str, verdict: Any, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps({"image": source, **verdict.to_dict()}))
        return
    table = Table(title=f"Quality of {safe(source)}", box=None)
    for col in ("measure", "raw", "unit", "score"):
        table.add_column(col)
    for name, m in sorted(verdict.measures.items()):
        table.add_row(name, f"{m.raw:.4g}", m.unit, str(m.score))
    if verdict.unified is not None:
        table.add_row("unified", "", "0-100", str(verdict.unified))
    console.print(table)
    colour = {"pass": "green", "warn": "yellow", "refuse": "red"}[verdict.decision]
    console.print(f"verdict: [{colour}]{verdict.decision.upper()}[/{colour}] ({verdict.policy})")
    for f in verdict.findings:
        console.print(f"  {f.level}: {safe(f.text())}", soft_wrap=True)


def quality_study(console: Console, metrics: dict[str, Any]) -> None:
    console.print(
        f"held-out mated pairs: {metrics['held_out_mated_pairs']}, FNMR at threshold "
        f"{metrics['threshold']:.4f}: {metrics['fnmr_all_held_out_pairs']:.2%}",
        soft_wrap=True,
    )
    edc = metrics["edc"]["unified"]
    console.print(
        "EDC (unified): " + ", ".join(f"{r['discarded']:.0%}→{r['fnmr']:.2%}" for r in edc),
        soft_wrap=True,
    )
    table = Table(title="Controlled degradations (held-out people)", box=None)
    for col in ("kind", "level", "FNMR", "rank-1", "no template"):
        table.add_column(col)
    for r in metrics["degradations"]:
        table.add_row(
            r["kind"],
            f"{r['level']:g}",
            f"{r['fnmr']:.1%}",
            f"{r['rank1']:.1%}",
            str(r["failures_to_acquire"]),
        )
    console.print(table)
    for name, rule in sorted(metrics["policy_rules"].items()):
        set_ = {k: v for k, v in rule.items() if v is not None}
        if set_:
            console.print(f"  policy {name}: {set_}")


def evidence_summary(console: Console, metrics: dict[str, Any]) -> None:
    lr = metrics["likelihood_ratio"]
    cal, held = metrics["calibration"], metrics["held_out"]
    console.print(
        f"calibration: {cal['identities']} people, {cal['images']} images, "
        f"{cal['nonmated_pairs']:,} non-mated pairs; held out: {held['identities']} people, "
        f"{held['images']} images",
        soft_wrap=True,
    )
    console.print(
        f"likelihood ratios on held-out pairs: Cllr {lr['cllr']:.4f}, Cllr-min "
        f"{lr['cllr_min']:.4f}, calibration loss {lr['cllr_cal']:.4f}",
        soft_wrap=True,
    )
    table = Table(title="Open-set FPIR: predicted vs measured on held-out people", box=None)
    for col in ("source", "gallery", "target", "threshold", "predicted", "measured", "agree"):
        table.add_column(col)
    for r in metrics["fpir"]:
        p, m = r["predicted_fpir_ci"], r["measured_fpir_ci"]
        table.add_row(
            r["source"],
            str(r["gallery_size"]),
            f"{r['target_fpir']:g}",
            f"{r['threshold']:.4f}",
            f"{r['predicted_fpir']:.4f} [{p[0]:.4f},{p[1]:.4f}]",
            f"{r['measured_fpir']:.4f} [{m[0]:.4f},{m[1]:.4f}]",
            "yes" if r["agree"] else "NO",
        )
    console.print(table)


def _cell(r: dict[str, Any]) -> str:
    lo, hi = r["ci95"]
    return f"{r['rate']:.4f} ({lo:.4f}-{hi:.4f})" if r["rate"] is not None else "-"


def search_check_summary(console: Console, metrics: dict[str, Any]) -> None:
    """``eval evidence --searches``: FPIR, FNIR and the p distribution, as tables."""
    console.print(
        f"{metrics['source']}: {metrics['searches']:,} searches, gallery "
        f"{metrics['gallery_subjects']:,} subjects; flagged {metrics['flagged_searches']:,}"
        + (
            f", by the second model {second:,}"
            if (second := metrics.get("flagged_by_second_model")) is not None
            else ""
        ),
        soft_wrap=True,
    )
    checked = bool(metrics["fpir"]) and CHECKED in metrics["fpir"][0]
    table = Table(title="Searches of people not enrolled with a listed candidate", box=None)
    cols = ["subset", "group", "target", "searches", "gallery-size", "per-search", "shipped"]
    for col in cols + (["with gallery check"] if checked else []):
        table.add_column(col)
    for r in metrics["fpir"]:
        table.add_row(
            r["subset"],
            r["group"] + ("" if r["enough_searches"] else " (<300)"),
            f"{r['target_fpir']:g}",
            f"{r['searches']:,}",
            _cell(r["gallery_size"]),
            _cell(r["per_search"]),
            _cell(r["shipped"]),
            *([_cell(r[CHECKED])] if checked else []),
        )
    console.print(table)
    if metrics["fnir"]:
        table = Table(title="Searches of enrolled people whose mate is not listed", box=None)
        for col in ("target", "searches", "gallery-size", "per-search", "shipped"):
            table.add_column(col)
        for r in metrics["fnir"]:
            table.add_row(
                f"{r['target_fpir']:g}",
                f"{r['searches']:,}",
                _cell(r["gallery_size"]),
                _cell(r["per_search"]),
                _cell(r["shipped"]),
            )
        console.print(table)
    d = metrics["p_distribution"]
    table = Table(title="Per-search p of the top stranger (uniform: share = level)", box=None)
    for col in ("level", "share below", "searches"):
        table.add_column(col)
    for r in d["levels"]:
        table.add_row(f"{r['level']:g}", _cell(r), f"{r['searches']:,}")
    console.print(table)
    console.print(f"fit refused in {d['fit_refused']:,} of {d['searches']:,} searches")
