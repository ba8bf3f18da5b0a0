"""Web pages for the documents (docs/reports.md): the lead report (PDF, or HTML to read in
the browser), the defence disclosure packet and the transparency report, for the roles that
may produce them. Each route parses, calls one service (``services.documents``, which runs
the CLI's own report services: same authorisation, blind-review rules and audit entry) and
serves the bytes that were audited."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from leadguard.server.auth import State, WebLogin
from leadguard.server.web import page
from leadguard.services import documents
from leadguard.services.documents import DocumentFile

router = APIRouter(include_in_schema=False)
# a report's HTML is LeadGuard's own self-contained file: shown in a sandbox, no script
SANDBOX = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _serve(f: DocumentFile, download: bool) -> Response:
    inline = f.media_type.startswith("text/html") and not download
    headers = {
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{f.name}"',
        "X-LeadGuard-SHA256": f.sha256,
        "X-LeadGuard-Audit-Seq": str(f.audit_seq),
    }
    if inline:
        headers["Content-Security-Policy"] = SANDBOX
    return Response(f.data, media_type=f.media_type, headers=headers)


@router.get("/documents", response_class=HTMLResponse)
def documents_page(request: Request, st: State, who: WebLogin) -> HTMLResponse:
    request.state.login = who
    found = st.call(documents.available, st.ctx, who.actor)
    today = date.today()
    return page(
        request,
        "documents.html",
        who,
        found=found,
        start=(today - timedelta(days=30)).isoformat(),
        end=today.isoformat(),
    )


@router.get("/leads/{lead_id}/report.pdf")
def lead_report_pdf(lead_id: int, request: Request, st: State, who: WebLogin) -> Response:
    request.state.login = who
    return _serve(st.call(documents.lead_report_file, st.ctx, who.actor, lead_id, "pdf"), True)


@router.get("/leads/{lead_id}/report.html")
def lead_report_html(
    lead_id: int, request: Request, st: State, who: WebLogin, download: bool = False
) -> Response:
    request.state.login = who
    f = st.call(documents.lead_report_file, st.ctx, who.actor, lead_id, "html")
    return _serve(f, download)


@router.get("/cases/{number}/disclosure.zip")
def disclosure_zip(number: str, request: Request, st: State, who: WebLogin) -> Response:
    request.state.login = who
    return _serve(st.call(documents.disclosure_file, st.ctx, who.actor, number), True)


@router.get("/documents/transparency")
def transparency(
    request: Request,
    st: State,
    who: WebLogin,
    start: str = Query(..., alias="from", max_length=10),
    end: str = Query(..., alias="to", max_length=10),
    format: str = Query("pdf", max_length=4),
    download: bool = False,
) -> Response:
    request.state.login = who
    f = st.call(documents.transparency_file, st.ctx, who.actor, start, end, format)
    return _serve(f, download)
