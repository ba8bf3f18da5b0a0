"""The casework part of `make demo`: accounts, a case, an approved request, the search from
it, two blind reviews, a lineup refused before corroboration, the audit chain verified, and the
lead report, disclosure packet and transparency report written under reports/. All
through the services, as the CLI would call them."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from rich.console import Console

from leadguard.core.errors import LeadGuardError
from leadguard.services import accounts
from leadguard.services import audit as audit_svc
from leadguard.services.casework import leads, lineup, review, service
from leadguard.services.casework.blind import letters_of
from leadguard.services.context import Actor, Context


def walk(ctx: Context, console: Console, probe: Path, person: str, face: int | None = None) -> None:
    say = console.print
    console.rule("Casework: from request to lead, one door")
    password = secrets.token_urlsafe(16)  # demo accounts; nobody needs to log in again
    accounts.add_user(ctx, None, "admin", password, "admin")
    admin = accounts.login(ctx, "admin", password).actor
    for name, role in (
        ("sup", "supervisor"),
        ("ex1", "examiner"),
        ("ex2", "examiner"),
        ("rev", "reviewer"),
    ):
        accounts.add_user(ctx, admin, name, password, role, "north")
    u = {n: accounts.login(ctx, n, password).actor for n in ("sup", "ex1", "ex2", "rev")}
    say("accounts: admin (accounts only), sup, ex1, ex2 (examiners), rev")
    service.open_case(
        ctx,
        u["sup"],
        "DEMO-1",
        "robbery",
        date(2026, 3, 1),
        "street robbery",
        {"sex": "?"},
        "Det. Demo",
        "warrant DEMO",
    )
    for n in ("ex1", "ex2", "rev"):
        service.assign(ctx, u["sup"], "DEMO-1", n)
    say("case DEMO-1 (robbery) opened by sup; ex1, ex2, rev assigned")
    req = service.request_search(
        ctx, u["ex1"], "DEMO-1", probe, "surveillance_still", "identify the robber", face
    )
    service.approve(ctx, u["sup"], req.id)
    say(
        f"request {req.id} by ex1, approved by sup: probe {(req.probe_sha256 or '')[:12]}... stored"
    )
    try:
        run = service.run_search(ctx, u["ex1"], req.id)
    except LeadGuardError as exc:
        say(f"search refused: {exc}", soft_wrap=True)
        return
    say(
        f"search {run.search_id} from the request: {run.candidates} candidate(s), "
        "hidden until the blind reviews are in"
    )
    if not run.candidates:
        say("no candidate above the threshold: nothing to review")
        return
    for n in ("ex2", "rev"):
        packet = review.blind_packet(ctx, u[n], req.id)
        seen_as = letters_of(ctx, req.id, u[n].id).get(person)  # the scripted examiner's eye
        decisions = {
            c.letter: {
                "decision": "possible_lead" if c.letter == seen_as else "exclusion",
                "confidence": 3,
                "features": {"eyebrows": "same arch", "nose": "same bridge"},
                "exculpatory": [
                    {"attribute": a, "consistent": True, "note": ""} for a in packet.required_checks
                ],
            }
            for c in packet.candidates
        }
        review.submit_review(ctx, u[n], req.id, decisions)
    say("two blind reviews (ex2, rev): no scores or ranks shown to either")
    try:
        lead = leads.release(ctx, u["sup"], req.id, person)
    except LeadGuardError as exc:
        say(f"no lead released: {exc}", soft_wrap=True)
        lead = None
    if lead is not None:
        say(f"lead {lead.id} released by sup: {person} (an investigative lead only)")
        try:
            lineup.build_array(ctx, u["ex2"], lead.id, {"sex": "M"}, ctx.root / "array")
        except LeadGuardError as exc:
            rule = getattr(exc, "rule", "refused")
            say(f"lineup refused ({rule}): no corroboration yet")
        counterfeit(ctx, console, u["ex2"], lead.id)
    check = audit_svc.verify(ctx, u["sup"]).check
    say(f"audit chain: {check.entries} entries, {check.reason}; every refusal above is one of them")
    if check.keyed_note:  # the demo's workspace is keyed, as `leadguard init` keys one
        say(check.keyed_note)
    if lead is not None:
        documents(ctx, console, u["sup"], lead.id)


def counterfeit(ctx: Context, console: Console, ex: Actor, lead_id: int) -> None:
    """Two kinds of counterfeit corroboration refused, and presence-only evidence recorded
    without counting."""
    from leadguard.services.casework.corroboration import Evidence, corroborate

    base = Evidence(
        kind="other",
        description="",
        how_obtained="reported by the investigating officer",
        obtained_by="Det. Demo",
        obtained_on=datetime.now(UTC).date(),
        face_comparison_involved=False,
        witness_shown_candidate=False,
        links_to="offence",
    )
    tries = (
        replace(base, description="another agency's system returned him too",
                face_comparison_involved=True),
        replace(base, description="the sergeant compared the photos: same person"),
        replace(base, kind="documents_or_records", description="his phone near the scene",
                links_to="presence_only"),
    )  # fmt: skip
    for d in tries:
        try:
            item = corroborate(ctx, ex, lead_id, d)
        except LeadGuardError as exc:
            console.print(
                f"corroboration refused ({getattr(exc, 'rule', 'refused')}): {d.description!r}",
                soft_wrap=True,
            )
            continue
        console.print(
            f"recorded, counts as independent: {'yes' if item['counts'] else 'no'} "
            f"({d.description!r}, {d.links_to})",
            soft_wrap=True,
        )


def documents(ctx: Context, console: Console, sup: Actor, lead_id: int) -> None:
    """The three documents of docs/reports.md, written under the workspace's reports/."""
    from leadguard.services.disclosure import disclose
    from leadguard.services.reports import lead_report
    from leadguard.services.transparency import transparency_report

    out = ctx.root / "reports"
    today = datetime.now(UTC).date()
    try:
        written = [
            *lead_report(ctx, sup, lead_id, out).files,
            *disclose(ctx, sup, "DEMO-1", out / "DEMO-1-disclosure.zip").files,
            *transparency_report(ctx, sup, date(today.year, 1, 1), today, out).files,
        ]
    except LeadGuardError as exc:
        console.print(f"documents not written: {exc}", soft_wrap=True)
        return
    for f in written:
        console.print(f"document: {f.path}  sha256 {f.sha256[:16]}...", soft_wrap=True)
