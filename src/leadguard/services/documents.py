"""The documents for the web pages (docs/reports.md, docs/server.md): the lead report, the
disclosure packet and the transparency report as bytes to serve. Each call runs the very
service the CLI runs (``reports.lead_report``, ``disclosure.disclose``,
``transparency.transparency_report``): the same authorisation, the same blind-review rules,
the same audit entry with the SHA-256 of every file written. The files are written to a
private temporary folder, read back and removed; the bytes served are the ones audited."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from leadguard.core.errors import InputError
from leadguard.services import disclosure, reports, transparency
from leadguard.services.authz import ALLOWED
from leadguard.services.casework.leads import LeadInfo
from leadguard.services.casework.service import CaseInfo
from leadguard.services.casework.views import list_cases, list_leads
from leadguard.services.context import Actor, Context

FORMATS = {"pdf": "application/pdf", "html": "text/html; charset=utf-8"}


@dataclass(frozen=True)
class DocumentFile:
    name: str
    data: bytes
    media_type: str
    sha256: str
    audit_seq: int  # the audit entry that records it


@dataclass(frozen=True)
class Available:
    """What the user's role may produce, on the cases it may see."""

    leads: tuple[LeadInfo, ...]  # lead reports
    cases: tuple[CaseInfo, ...]  # disclosure packets
    transparency: bool


def _fmt(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(f"format {fmt!r}: give pdf or html")
    return fmt


def _pick(written: reports.Written, name: str) -> DocumentFile:
    for f in written.files:
        if f.path.name == name:
            data = f.path.read_bytes()
            kind = FORMATS.get(f.path.suffix.lstrip("."), "application/zip")
            return DocumentFile(name, data, kind, f.sha256, written.audit_seq)
    raise InputError(f"{name}: not among the files written")  # pragma: no cover


def lead_report_file(ctx: Context, actor: Actor, lead_id: int, fmt: str) -> DocumentFile:
    """The lead report as ``reports.lead_report`` writes and audits it (both forms are
    written and audited; the one asked for is returned)."""
    fmt = _fmt(fmt)
    with tempfile.TemporaryDirectory(prefix="leadguard-doc-") as tmp:
        written = reports.lead_report(ctx, actor, lead_id, Path(tmp))
        return _pick(written, f"lead-{lead_id}.{fmt}")


def disclosure_file(ctx: Context, actor: Actor, number: str) -> DocumentFile:
    """The case's disclosure packet as ``disclosure.disclose`` writes and audits it."""
    with tempfile.TemporaryDirectory(prefix="leadguard-doc-") as tmp:
        name = f"disclosure-{_safe(number)}.zip"
        written = disclosure.disclose(ctx, actor, number, Path(tmp) / name)
        return _pick(written, name)


def transparency_file(ctx: Context, actor: Actor, start: str, end: str, fmt: str) -> DocumentFile:
    """The transparency report for a period (YYYY-MM-DD, days inclusive)."""
    fmt = _fmt(fmt)
    a, b = reports.parse_period(start, end)
    with tempfile.TemporaryDirectory(prefix="leadguard-doc-") as tmp:
        written = transparency.transparency_report(ctx, actor, a, b, Path(tmp))
        return _pick(written, f"transparency-{a}-{b}.{fmt}")


def available(ctx: Context, actor: Actor) -> Available:
    """The leads and cases on which the user may produce documents (reads write nothing);
    a role that may produce none gets an empty answer, not a refusal."""
    allowed = ALLOWED.get(actor.role, frozenset())
    leads = list_leads(ctx, actor) if {"report.lead", "lead.list"} <= allowed else []
    cases = list_cases(ctx, actor) if {"case.disclose", "case.list"} <= allowed else []
    return Available(tuple(leads), tuple(cases), "report.transparency" in allowed)


def _safe(number: str) -> str:
    """A case number as a file name (the number itself is checked by the service)."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)[:100] or "case"
