"""PDF tables never break a word across lines where the page has room for it (the lead
report printed "Confidenc / e"): column widths follow each column's longest word."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fpdf import FPDF

from leadguard.reports.document import Document, Table
from leadguard.reports.pdf import FONT, _font_dir, fit_widths, render_pdf

HEADER = ["Examiner", "Decision", "Confidence (1-5)", "Features compared", "Reasons", "When"]
ROWS = [
    ["examiner-one", "inconclusive", "3", "eyebrows, nose, ears", "too blurry to decide", "2026"],
    ["second-examiner", "exclusion", "5", "ear shape", "different ear lobes", "2026"],
]


def _pdf() -> FPDF:
    pdf = FPDF(format="A4")
    pdf.add_font(FONT, "", str(_font_dir() / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(_font_dir() / "DejaVuSans-Bold.ttf"))
    pdf.add_page()
    return pdf


def test_every_column_holds_its_longest_word_and_the_page_is_filled() -> None:
    pdf = _pdf()
    table = Table(tuple(HEADER), tuple(tuple(r) for r in ROWS), (1, 1, 0.4, 2, 3, 0.5))
    widths = fit_widths(pdf, table)
    pdf.set_font(FONT, "B", 7.5)
    assert widths[2] > pdf.get_string_width("Confidence") + 2 * pdf.c_margin
    assert sum(widths) == pytest.approx(pdf.epw)
    # the column that asked for most room keeps more than the narrow ones
    assert widths[4] > widths[2]


def test_words_overfilling_the_page_share_it_in_proportion() -> None:
    pdf = _pdf()
    long = "x" * 60
    table = Table((long, long, long), ((long, long, long),))
    widths = fit_widths(pdf, table)
    assert sum(widths) == pytest.approx(pdf.epw)
    assert widths[0] == pytest.approx(widths[1])


def test_the_rendered_report_reads_whole_words(tmp_path: Path) -> None:
    exe = shutil.which("pdftotext")
    if exe is None:  # installed by `make setup`
        pytest.fail("pdftotext (poppler-utils) is missing: run `make setup`")
    doc = Document("Widths", "TEST")
    doc.table(HEADER, [list(r) for r in ROWS], (1, 1, 0.4, 2, 3, 0.5))
    out = tmp_path / "t.pdf"
    out.write_bytes(render_pdf(doc))
    words = subprocess.run([exe, str(out), "-"], check=True, capture_output=True, text=True)
    read = words.stdout.split()
    for w in ("Confidence", "inconclusive", "second-examiner", "Features", "compared"):
        assert w in read, (w, read)
