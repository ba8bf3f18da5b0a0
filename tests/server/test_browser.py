"""The web UI in a real browser: Playwright drives Debian's chromium (installed by `make
setup`; Playwright downloads no browser) through a whole case, one role after another,
asserting what each page shows, saving a screenshot of each page under tmp/artifacts/browser
(not committed) and running axe-core (vendored in the axe-playwright-python package) on each
page: no serious or critical accessibility violation."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from leadguard.services.casework import lineup
from leadguard.services.casework.policy import PolicyRefused
from tests.conftest import ROOT
from tests.server.conftest import PW, Served, letter_of

pytestmark = [pytest.mark.integration, pytest.mark.browser]
ARTIFACTS = ROOT / "tmp" / "artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# LEADGUARD_DOCS_SHOTS=docs/img: the pages docs/server.md shows are also saved there, with
# every photo painted over as a flat grey box (no pixel of a dataset face reaches the docs)
DOCS_SHOTS = os.environ.get("LEADGUARD_DOCS_SHOTS")
DOC_PAGES = {
    "supervisor-home",
    "supervisor-case",
    "examiner-request-preview",
    "ex2-blind-review",
    "supervisor-adjudicate",
    "examiner-lead-corroborated",
    "examiner-array-suspect-stands-out",
    "auditor-audit-log",
}
# through the CSSOM, which the pages' style-src 'self' allows (an inline style tag it refuses)
HIDE_PHOTOS = """on => document.querySelectorAll('img, canvas, video, image')
  .forEach(e => e.style.setProperty('filter', on ? 'contrast(0)' : '', on ? 'important' : ''))"""
CROP_SIDES = ("left", "top", "right", "bottom")
# the innermost elements that reach past the window's right edge (to name them in a failure)
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
  .filter(e => ![...e.children].some(c => c.getBoundingClientRect().right >
                                          window.innerWidth + 0.5))
  .slice(0, 5)
  .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '') + ' ' +
       Math.round(e.getBoundingClientRect().right) + 'px')
  .join(', ')"""


def chromium() -> str:
    path = shutil.which(CHROMIUM) or shutil.which("chromium")
    assert path, f"{CHROMIUM}: Debian's chromium is not installed; `make setup` installs it"
    return path


@pytest.fixture(scope="module")
def base_url(served: Served) -> Iterator[str]:
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(served.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1200):  # up to a minute: a busy machine starts the server slowly
        if server.started:
            break
        time.sleep(0.05)
    assert server.started
    # a page that runs a search can take more than expect's default 5 s on a busy machine
    # (CI runs the suite on two workers beside other work): wait up to a minute
    expect.set_options(timeout=60_000)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


class Walk:
    """One browser context per user (its own cookie), screenshots and axe on every page."""

    def __init__(self, browser: Any, base: str) -> None:
        from axe_playwright_python.sync_playwright import Axe

        self.browser, self.base, self.axe = browser, base, Axe()
        self.pages: dict[str, Any] = {}
        self.shots = 0
        self.a11y: list[str] = []
        self.wide: list[str] = []  # pages wider than the window, at some window size

    def as_user(self, name: str) -> Any:
        if name not in self.pages:
            page = self.browser.new_context(viewport=DESKTOP).new_page()
            page.goto(f"{self.base}/login")
            page.get_by_label("User name").fill(name)
            page.get_by_label("Password").fill(PW)
            page.get_by_role("button", name="Log in").click()
            # waits for the page after the login (is_visible() does not wait: a busy machine
            # had not rendered it yet)
            expect(page.get_by_role("heading", name=f"Welcome, {name}")).to_be_visible()
            self.pages[name] = page
        return self.pages[name]

    def check(self, page: Any, label: str) -> None:
        """At each window size: no horizontal overflow, a screenshot, axe-core."""
        self.shots += 1
        for size in (PHONE, DESKTOP):  # back at the desktop size afterwards
            page.set_viewport_size(size)
            width = size["width"]
            scroll = page.evaluate("() => document.documentElement.scrollWidth")
            inner = page.evaluate("() => window.innerWidth")
            assert inner == width
            if scroll > inner:
                culprits = page.evaluate(WIDEST)
                self.wide.append(f"{label} at {width} px: {scroll} px wide ({culprits})")
            name = f"{self.shots:02d}-{label}-{width}.png"
            page.screenshot(path=str(ARTIFACTS / name), full_page=True)
            if DOCS_SHOTS and label in DOC_PAGES:
                self.docs_shot(page, label, width)
            result = self.axe.run(page)
            assert result.response["testEngine"]["name"] == "axe-core"  # it ran on this page
            for v in result.response["violations"]:
                if v["impact"] in ("serious", "critical"):
                    what = f"{v['id']} ({v['impact']}): {v['help']}"
                    self.a11y.append(f"{label} at {width} px: {what}")

    def docs_shot(self, page: Any, label: str, width: int) -> None:
        page.evaluate(HIDE_PHOTOS, True)
        path = Path(str(DOCS_SHOTS)) / f"ui-{label}-{width}.png"
        page.screenshot(path=str(path), full_page=False)
        page.evaluate(HIDE_PHOTOS, False)


def test_a_whole_case_in_the_browser(served: Served, base_url: str) -> None:
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    probe, person = served.probes[2]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        w = Walk(browser, base_url)

        # supervisor: opens the case and assigns the team
        sup = w.as_user("sup")
        w.check(sup, "supervisor-home")
        sup.goto(f"{base_url}/cases")
        sup.get_by_label("Case number").fill("WEB-1")
        sup.get_by_label("Offence").fill("robbery")
        sup.get_by_label("Incident date").fill("2026-03-01")
        sup.get_by_label("What happened, and the person sought").fill("armed robbery of a shop")
        sup.get_by_label("Sex").select_option("M")  # the person sought, as fields
        sup.get_by_label("Requesting officer").fill("Det. Rivera")
        sup.get_by_label("Legal authority").fill("warrant 26-200")
        sup.get_by_role("button", name="Open the case").click()
        expect(sup.get_by_role("heading", name="Case WEB-1")).to_be_visible()
        for name in ("ex1", "ex2", "rev"):
            sup.get_by_label("Assign user").select_option(name)
            sup.get_by_role("button", name="Assign").click()
            expect(sup.locator(".flash")).to_contain_text(f"{name} assigned")
        w.check(sup, "supervisor-case")

        # examiner: files the request with a preview of the edits and faces
        ex1 = w.as_user("ex1")
        ex1.goto(f"{base_url}/cases/WEB-1")
        ex1.get_by_role("link", name="New search request").click()
        ex1.get_by_label("Probe image").set_input_files(str(probe))
        ex1.get_by_label("Why this search is needed").fill("identify the robber")
        ex1.get_by_label("Other edits").fill("brightness:1.1")
        ex1.get_by_role("button", name="Preview the edits, faces and quality").click()
        expect(ex1.get_by_role("heading", name="Preview")).to_be_visible()
        expect(ex1.locator(".verdict")).to_contain_text("Quality:")
        expect(ex1.locator("section li").last).to_contain_text("face 0")
        preview = ex1.get_by_role("img", name="The probe with the edits applied")
        assert preview.evaluate("i => i.complete && i.naturalWidth > 0")  # allowed by the CSP
        w.check(ex1, "examiner-request-preview")
        # a box dragged on the preview fills the crop fields (the image's own pixels)
        preview.scroll_into_view_if_needed()
        box = preview.bounding_box()
        scale = preview.evaluate("i => i.naturalWidth / i.getBoundingClientRect().width")
        ex1.mouse.move(box["x"] + 10, box["y"] + 12)
        ex1.mouse.down()
        ex1.mouse.move(box["x"] + 90, box["y"] + 100, steps=5)
        ex1.mouse.up()
        crop = [int(ex1.locator(f"#crop_{k}").input_value()) for k in CROP_SIDES]
        assert crop == [round(v * scale) for v in (10, 12, 90, 100)], crop
        for k in CROP_SIDES:  # filed uncropped: the rest of the walk searches the whole probe
            ex1.locator(f"#crop_{k}").fill("")
        ex1.get_by_role("button", name="File the request").click()  # the held probe: no re-upload
        expect(ex1.locator(".flash")).to_contain_text("waits for approval")
        assert ex1.get_by_role("button", name="Approve request").count() == 0  # not hers

        # supervisor: approval queue, approve
        sup.goto(f"{base_url}/approvals")
        expect(sup.get_by_role("img", name="Probe of request")).to_be_visible()
        w.check(sup, "supervisor-approvals")
        sup.get_by_role("button", name="Approve request").click()
        expect(sup.locator(".flash")).to_contain_text("approved")

        # examiner: runs the search; the list goes to blind review
        ex1.goto(f"{base_url}/cases/WEB-1")
        ex1.get_by_role("button", name="Run search").click()
        expect(ex1.locator(".flash")).to_contain_text("blind review")
        # only possible actions are offered: the searcher reviews nothing, and nobody is
        # offered the reveal before the reviews are in (the page says what it waits for)
        assert ex1.get_by_role("link", name="Blind review").count() == 0
        assert ex1.get_by_role("link", name="Reveal").count() == 0
        w.check(ex1, "examiner-case-searched")
        sup.goto(f"{base_url}/cases/WEB-1")
        assert sup.get_by_role("link", name="Reveal").count() == 0
        expect(sup.locator(".actions")).to_contain_text("after every blind review is in (0 of 2)")
        assert sup.get_by_role("link", name="Blind review").count() == 0

        # two blind reviews that disagree
        for name, lead in (("ex2", person), ("rev", None)):
            page = w.as_user(name)
            page.goto(f"{base_url}/reviews")
            page.get_by_role("link", name="Request").first.click()
            expect(page.get_by_role("heading", name="Blind review")).to_be_visible()
            body = page.locator("main form").inner_text().lower()
            assert "score" not in body and "rank" not in body
            assert not re.search(r"\d\.\d{3}", body)  # no similarity figure anywhere
            group = page.locator("[data-sync-zoom]").first
            imgs = group.locator("img")
            expect(imgs).to_have_count(2)
            page.wait_for_function(
                "() => [...document.querySelectorAll('[data-sync-zoom] img')]"
                ".every(i => i.complete && i.naturalWidth > 0)"
            )
            group.get_by_role("button", name="Zoom in").click()
            group.get_by_role("button", name="Zoom in").click()
            t = [imgs.nth(i).evaluate("e => e.style.transform") for i in range(2)]
            assert t[0] == t[1] and "scale(1.5625)" in t[0]  # both images, the same zoom
            group.locator(".viewport").first.focus()
            page.keyboard.press("ArrowLeft")
            t = [imgs.nth(i).evaluate("e => e.style.transform") for i in range(2)]
            assert t[0] == t[1] and "translate(20px" in t[0]  # panned together, by keyboard
            w.check(page, f"{name}-blind-review")
            assert person not in page.content()  # candidates by letter only
            rid = int(page.url.split("/requests/", 1)[1].split("/", 1)[0])
            seen = letter_of(served, name, rid, lead)
            sections = page.locator("section.candidate")
            for i in range(sections.count()):
                sec = sections.nth(i)
                shown = sec.locator("h2").inner_text().removeprefix("Candidate ")
                choice = "possible lead" if shown == seen else "exclusion"
                sec.get_by_label(choice, exact=True).check()
                conf = sec.get_by_label("Confidence (1 to 5)")
                assert conf.input_value() == ""  # no confidence is chosen for the examiner
                conf.select_option("4")
                sec.locator("summary").click()
                sec.get_by_label("eyebrows").fill("same arch")
                for box in sec.get_by_label("consistent", exact=True).all():
                    box.check()  # every described attribute and the gallery photo's age
            page.get_by_role("button", name="Submit my review").click()
            expect(page.locator(".flash")).to_contain_text("submitted")

        # supervisor: reveal, the evidence in plain words, adjudication of the disagreement
        sup.goto(f"{base_url}/cases/WEB-1")
        sup.get_by_role("link", name="Reveal").click()
        expect(sup.get_by_role("heading", name="scores and decisions")).to_be_visible()
        expect(sup.locator(".evidence li").first).to_contain_text("alse match rate")
        w.check(sup, "supervisor-reveal")
        sec = sup.locator("section.candidate", has=sup.get_by_role("heading", name=person))
        sec.get_by_role("link", name=f"Adjudicate {person}").click()
        expect(sup.get_by_role("heading", name=f"Adjudicate {person}")).to_be_visible()
        expect(sup.locator("section.review")).to_have_count(2)  # both examiners' notes
        expect(sup.locator("main")).to_contain_text("same arch")
        w.check(sup, "supervisor-adjudicate")
        sup.get_by_label("Reasons").fill("matching scar above the left eyebrow")
        sup.get_by_label("Ruling").select_option("yes")
        sup.get_by_role("button", name=f"Adjudicate {person}").click()
        expect(sup.locator(".flash")).to_contain_text("released")

        # the lineup is refused before corroboration, and the refusal is shown as such
        ex1.goto(f"{base_url}/cases/WEB-1")
        ex1.get_by_role("button", name="Build a photo array").click()
        expect(ex1.get_by_role("heading", name="Refused by policy")).to_be_visible()
        expect(ex1.locator(".rule")).to_have_text("corroboration_before_lineup")
        expect(ex1.locator(".help")).to_contain_text("Record independent corroboration")
        w.check(ex1, "examiner-lineup-refused")
        ex1.get_by_role("link", name="Back to where you were").click()
        expect(ex1.get_by_role("heading", name="Case WEB-1")).to_be_visible()
        for select in ex1.locator("main select").all():  # enumerated values in words
            labels = select.locator("option").all_inner_texts()
            assert labels and not any("_" in x for x in labels), labels
        ex1.get_by_label("Kind of evidence").select_option("physical_evidence")
        ex1.get_by_label("What it is").fill("his fingerprint on the till drawer")
        ex1.get_by_label("How it was obtained").fill("latent print lifted at the scene")
        ex1.get_by_label("Obtained by").fill("Det. Rivera")
        ex1.get_by_label("Obtained on").fill(date.today().isoformat())
        for question in ("face recognition", "shown the candidate"):
            group = ex1.get_by_role("group", name=re.compile(question))
            group.get_by_label("no", exact=True).check()
        ex1.get_by_label("links to the offence").check()
        ex1.get_by_role("button", name="Record corroboration").click()
        expect(ex1.locator(".flash")).to_contain_text("corroboration recorded")
        expect(ex1.locator("main")).to_contain_text("counts as independent: yes")
        ex1.get_by_label("Witness's description: sex").select_option("M")
        ex1.get_by_role("button", name="Build a photo array").click()
        # built, or refused by a lineup rule (too few described fillers, or the suspect
        # stands out): the page says which
        expect(ex1.locator(".flash, .rule").first).to_contain_text(
            re.compile("photo array of|fillers_by_description|suspect_stands_out")
        )
        w.check(ex1, "examiner-lead-corroborated")
        # the suspect standing out among the fillers drawn: the refusal explains it and
        # offers another draw with the same description
        real = lineup.build_kept_array

        def stands_out(*args: Any, **kw: Any) -> Any:
            raise PolicyRefused("suspect_stands_out", "the suspect is the face most like it")

        lineup.build_kept_array = stands_out  # type: ignore[assignment]
        try:
            ex1.goto(f"{base_url}/cases/WEB-1")
            ex1.get_by_label("Witness's description: sex").select_option("M")
            ex1.get_by_role("button", name="Build a photo array").click()
            expect(ex1.locator(".rule")).to_have_text("suspect_stands_out")
            expect(ex1.locator(".help")).to_contain_text("draw other fillers")
            w.check(ex1, "examiner-array-suspect-stands-out")
        finally:
            lineup.build_kept_array = real  # type: ignore[assignment]
        ex1.get_by_role("button", name="Draw other fillers").click()  # the same description
        expect(ex1.locator(".flash, .rule").first).to_contain_text(
            re.compile("photo array of|fillers_by_description|suspect_stands_out")
        )

        # auditor: the log with a filter, verify with the head hash, the case export
        aud = w.as_user("aud")
        aud.goto(f"{base_url}/audit")
        aud.get_by_label("Case").fill("WEB-1")
        aud.get_by_label("Action").fill("refused")
        aud.get_by_role("button", name="Filter").click()
        rows = aud.locator("table.audit tbody tr")
        expect(rows.filter(has_text="corroboration_before_lineup")).to_have_count(1)
        seqs = [int(t) for t in rows.locator("td:first-child").all_inner_texts()]
        assert seqs == sorted(seqs, reverse=True) and len(seqs) >= 2  # newest first
        when = rows.first.locator("time").inner_text()
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", when)  # no microseconds
        assert rows.first.locator("dl.details dt").count() >= 2  # labelled fields, not JSON
        w.check(aud, "auditor-audit-log")
        aud.get_by_role("link", name="Verify the chain").click()
        expect(aud.locator(".ok")).to_contain_text("intact")
        assert len(aud.locator(".hash").inner_text()) == 64
        w.check(aud, "auditor-verify")
        aud.goto(f"{base_url}/cases/WEB-1")
        with aud.expect_download() as dl:
            aud.get_by_role("link", name="Download the case export").click()
        saved = ARTIFACTS / "case-WEB-1-export.json"
        dl.value.save_as(str(saved))
        assert '"lead.lineup"' in saved.read_text()
        aud.goto(f"{base_url}/gallery")
        expect(aud.locator(".facts")).to_contain_text("Subjects")
        w.check(aud, "auditor-gallery")
        # every role's own pages (the links of its menu), at both sizes
        for name in ("sup", "ex1", "ex2", "rev", "aud", "admin"):
            page = w.as_user(name)
            page.goto(base_url)
            links = page.locator("nav[aria-label=Main] a").evaluate_all(
                "els => els.map(e => e.getAttribute('href'))"
            )
            assert links, name
            for href in links:
                page.goto(base_url + href)
                w.check(page, f"{name}-menu{href.replace('/', '-')}")
        browser.close()
    assert w.shots >= 12 and all(p.stat().st_size > 1000 for p in ARTIFACTS.glob("*.png"))
    assert not w.wide, "\n".join(w.wide)
    assert not w.a11y, "\n".join(w.a11y)


def test_artifacts_are_not_committed() -> None:
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "tmp/" in ignored and Path(ARTIFACTS).is_relative_to(ROOT / "tmp")
