"""The comparison view in a real browser (Debian's chromium through Playwright, as in
test_browser.py): an examiner under blind review sees the pair fitted and aligned on the
eyes, switches to overlay, flicker and wipe, adjusts an image, shows the landmarks, marks a
feature and takes a measurement; after the reviews the supervisor sees the marks on the
reveal page and in the lead report. At 1280 x 900 and 390 x 844: no horizontal overflow,
axe-core with no serious or critical violation (screenshots under tmp/artifacts/browser)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.server.conftest import Served, decisions, letter_of
from tests.server.test_browser import ARTIFACTS, Walk, base_url, chromium  # noqa: F401
from tests.server.test_comparison import CASE, searched  # noqa: F401  (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.browser]
READY = (
    "b => b.getAttribute('data-ready') === 'yes' && [...b.querySelectorAll('img')]"
    ".every(i => i.complete && i.naturalWidth === 360)"
)


def test_an_examiner_compares_and_marks_and_the_mark_reaches_the_lead_report(
    served: Served,
    base_url: str,  # noqa: F811
    searched: dict[str, Any],  # noqa: F811
) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    s, rid, subject = served, searched["request"], searched["subject"]
    seen = letter_of(s, "ex2", rid, subject)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            w = Walk(browser, base_url)
            page = w.as_user("ex2")
            page.goto(f"{base_url}/requests/{rid}/review")
            sec = page.locator(
                "section.candidate",
                has=page.get_by_role("heading", name=f"Candidate {seen}", exact=True),
            )
            box = sec.locator("[data-compare]")
            box.scroll_into_view_if_needed()
            page.wait_for_function(READY, arg=box.element_handle())
            assert subject not in page.content()
            probe_port = box.locator(".cmp-view[data-side=probe] .viewport")
            cand_port = box.locator(".cmp-view[data-side=candidate] .viewport")
            cand_img = cand_port.locator("img")
            # fitted: the aligned image fills its panel's width, side by side
            pb, cb, ib = (
                probe_port.bounding_box(),
                cand_port.bounding_box(),
                cand_img.bounding_box(),
            )
            assert abs(ib["width"] - cb["width"]) <= 2 and cb["x"] > pb["x"] + pb["width"] - 1

            sec.get_by_label("overlay", exact=True).check()
            expect(box).to_have_attribute("data-mode", "overlay")
            assert cand_port.evaluate("e => e.style.opacity") == "0.5"
            sec.get_by_label(f"Opacity of Candidate {seen} over the probe").fill("30")
            assert cand_port.evaluate("e => e.style.opacity") == "0.3"
            pb, cb = probe_port.bounding_box(), cand_port.bounding_box()
            assert abs(pb["x"] - cb["x"]) < 1 and abs(pb["y"] - cb["y"]) < 1  # stacked

            sec.get_by_label("flicker", exact=True).check()
            sec.get_by_label("Flicker: each image shown for (ms)").fill("200")
            for showing in ("probe", "candidate"):
                page.wait_for_function(
                    f"b => b.getAttribute('data-showing') === '{showing}'",
                    arg=box.element_handle(),
                )

            sec.get_by_label("wipe", exact=True).check()
            sec.get_by_label(f"Wipe: Candidate {seen} shown left of").fill("25")
            assert "75%" in cand_port.evaluate("e => e.style.clipPath")
            assert box.get_attribute("data-showing") is None  # the flicker stopped

            sec.get_by_role("group", name=f"Candidate {seen}").get_by_label("Brightness").fill(
                "150"
            )
            assert "brightness(1.5)" in cand_img.evaluate("e => e.style.filter")
            sec.get_by_label("show the 68 landmarks").check()
            expect(box.locator("circle.landmark")).to_have_count(2 * 68)

            # a point on the candidate and a measurement on the probe, side by side
            sec.get_by_label("side by side").check()
            sec.get_by_label("FISWG feature").select_option("nose")
            box.get_by_label("Note on the mark").fill("broad nasal tip")
            cand_port.scroll_into_view_if_needed()
            ib = cand_img.bounding_box()
            page.mouse.click(ib["x"] + ib["width"] * 0.5, ib["y"] + ib["height"] * 0.6)
            expect(sec.locator(".cmp-pending")).to_contain_text("1 of 1 point(s)")
            sec.get_by_role("button", name="Save the mark").click()
            expect(sec.locator(".cmp-marks li")).to_have_count(1)
            expect(sec.locator(".cmp-marks li").first).to_contain_text("broad nasal tip")
            sec.get_by_label("Mark", exact=True).select_option("measure")
            sec.get_by_label("FISWG feature").select_option("eyes")
            probe_port.scroll_into_view_if_needed()
            ib = probe_port.locator("img").bounding_box()
            for fx in (0.35, 0.65):  # the canvas's eye positions: 1.00 inter-eye distance
                page.mouse.click(ib["x"] + ib["width"] * fx, ib["y"] + ib["height"] * 180 / 440)
            expect(sec.locator(".cmp-pending")).to_contain_text("of the inter-eye distance")
            sec.get_by_role("button", name="Save the mark").click()
            expect(sec.locator(".cmp-marks li")).to_have_count(2)
            expect(sec.locator(".cmp-marks li").nth(1)).to_contain_text(
                "1.00 of the inter-eye distance"
            )
            expect(box.locator(".cmp-view[data-side=probe] line")).to_have_count(1)
            w.check(page, "comparison-blind-review")
            assert subject not in page.content()

            # the reviews go in (through the API), the supervisor sees the marks, releases
            for name in ("ex2", "rev"):
                packet = s.get(name, f"/api/requests/{rid}/packet").json()
                body = {"decisions": decisions(s, name, packet, subject)}
                assert s.post(name, f"/api/requests/{rid}/reviews", json=body).status_code == 201
            sup = w.as_user("sup")
            sup.goto(f"{base_url}/requests/{rid}/reveal")
            sec = sup.locator("section.candidate", has=sup.get_by_role("heading", name=subject))
            box = sec.locator("[data-compare]")
            box.scroll_into_view_if_needed()
            sup.wait_for_function(READY, arg=box.element_handle())
            expect(sec.locator(".cmp-marks li").first).to_contain_text("by ex2")
            w.check(sup, "comparison-reveal")
            r = s.post("sup", f"/api/requests/{rid}/release", json={"subject": subject})
            assert r.status_code == 201, r.text
            sup.goto(f"{base_url}/leads/{r.json()['id']}/report.html")
            expect(sup.get_by_text("marks on the eye-aligned pair")).to_be_visible()
            expect(sup.get_by_role("cell", name="broad nasal tip")).to_be_visible()
            expect(sup.get_by_text("1.000 of the inter-eye distance")).to_be_visible()
            shot = sup.locator("figure", has_text="The probe (left) and the lead")
            assert shot.locator("img").evaluate("i => i.naturalWidth") == 2 * 360 + 12
            sup.screenshot(path=str(ARTIFACTS / "comparison-lead-report.png"), full_page=True)
            assert not w.wide, w.wide
            assert not w.a11y, w.a11y
        finally:
            browser.close()
