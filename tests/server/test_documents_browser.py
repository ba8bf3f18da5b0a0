"""The Documents page in a real browser (Debian's chromium through Playwright, as in
test_browser.py): the supervisor follows the menu to Documents, downloads the lead report
PDF by its link and reads the HTML form in the page's sandbox; axe-core finds no serious or
critical violation on the Documents page."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.server.conftest import PW, Served
from tests.server.test_browser import base_url, chromium  # noqa: F401  (fixture)
from tests.server.test_documents import image_list, released  # noqa: F401  (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.browser]
ARTIFACTS = ROOT / "tmp" / "artifacts" / "browser"


def test_the_supervisor_downloads_the_lead_report_in_the_browser(
    served: Served,
    base_url: str,  # noqa: F811
    released: dict[str, Any],  # noqa: F811
    tmp_path: Path,
) -> None:
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    lead, cands = released["lead"], released["cands"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            ctx = browser.new_context(
                viewport={"width": 1366, "height": 768}, accept_downloads=True
            )
            page = ctx.new_page()
            page.goto(f"{base_url}/login")
            page.get_by_label("User name").fill("sup")
            page.get_by_label("Password").fill(PW)
            page.get_by_role("button", name="Log in").click()
            page.get_by_role("navigation", name="Main").get_by_role(
                "link", name="Documents"
            ).click()
            expect(page.get_by_role("heading", name="Documents", exact=True)).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "documents-supervisor.png"), full_page=True)
            result = Axe().run(page)
            assert result.response["testEngine"]["name"] == "axe-core"
            bad = [
                f"{v['id']} ({v['impact']}): {v['help']}"
                for v in result.response["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert not bad, bad

            row = page.get_by_role("row").filter(has_text=str(released["cands"][0]["subject"]))
            with page.expect_download() as got:
                row.get_by_role("link", name="PDF (download)").first.click()
            download = got.value
            assert download.suggested_filename == f"lead-{lead}.pdf"
            pdf = tmp_path / download.suggested_filename
            download.save_as(pdf)
            data = pdf.read_bytes()
            assert data.startswith(b"%PDF")
            assert len(image_list(pdf)) == 1 + 1 + 2 * len(cands)
            with served.ctx.session() as s:
                from sqlalchemy import select

                from leadguard.storage.tables import AuditEntry

                last = s.scalars(
                    select(AuditEntry)
                    .where(AuditEntry.action == "report.lead")
                    .order_by(AuditEntry.seq.desc())
                ).first()
                assert last is not None and last.actor == "sup"
                assert last.details["files"][pdf.name] == hashlib.sha256(data).hexdigest()

            page.get_by_role("link", name="HTML (read)").first.click()
            expect(
                page.get_by_text("Investigative lead only — not probable cause").first
            ).to_be_visible()
            shown = page.locator("img").count()
            assert shown == 1 + 1 + 2 * len(cands)
            page.screenshot(path=str(ARTIFACTS / "documents-lead-report.png"), full_page=True)
        finally:
            browser.close()
