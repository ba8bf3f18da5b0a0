"""PDF rendering with fpdf2, byte-for-byte reproducible: a fixed creation date (so the file
ID, derived from the content and that date, is fixed too) and fonts shipped with
matplotlib (DejaVu, for any Unicode text)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import FontFace

from leadguard.reports.document import Document, Fields, Heading, Para, Picture, Table

FIXED_DATE = datetime(2000, 1, 1, tzinfo=UTC)  # no clock in a reproducible document
FONT = "DejaVu"


def _font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


class _Pdf(FPDF):
    def __init__(self, doc: Document) -> None:
        super().__init__(format="A4")
        self.doc = doc

    def header(self) -> None:
        self.set_font(FONT, "B", 10)
        self.set_text_color(160, 0, 0)
        self.cell(0, 6, self.doc.banner, align="C", new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)
        self.ln(1)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.cell(0, 6, f"{self.doc.title} — page {self.page_no()}/{{nb}}", align="C")


def render_pdf(doc: Document) -> bytes:
    pdf = _Pdf(doc)
    fonts = _font_dir()
    pdf.add_font(FONT, "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font(FONT, "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(doc.title)
    pdf.set_creator("LeadGuard")
    pdf.set_producer("LeadGuard (fpdf2)")
    pdf.set_auto_page_break(True, margin=15)
    pdf.add_page()
    pdf.set_font(FONT, "B", 15)
    pdf.multi_cell(0, 8, doc.title, new_x="LMARGIN", new_y="NEXT", align="L")
    pdf.ln(2)
    for block in doc.blocks:
        _block(pdf, block)
    return bytes(pdf.output())


def _block(pdf: FPDF, b: object) -> None:
    width = pdf.epw
    if isinstance(b, Heading):
        pdf.ln(3 if b.level == 1 else 1)
        pdf.set_font(FONT, "B", 12 if b.level == 1 else 10)
        pdf.multi_cell(width, 6, b.text, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(1)
    elif isinstance(b, Para):
        pdf.set_font(FONT, "B" if b.warning else "", 9)
        if b.warning:
            pdf.set_fill_color(255, 235, 230)
        pdf.multi_cell(
            width,
            4.6,
            b.text,
            border=1 if b.warning else 0,
            fill=b.warning,
            new_x="LMARGIN",
            new_y="NEXT",
            align="L",
        )
        pdf.ln(1.5)
    elif isinstance(b, Fields):
        pdf.set_font(FONT, "", 8.5)
        with pdf.table(
            col_widths=(1, 2.6),
            first_row_as_headings=False,
            line_height=4.4,
            borders_layout="HORIZONTAL_LINES",
            text_align="LEFT",
        ) as t:
            for k, v in b.rows:
                row = t.row()
                row.cell(k, style=FontFace(emphasis="BOLD"))
                row.cell(v)
        pdf.ln(2)
    elif isinstance(b, Table):
        pdf.set_font(FONT, "", 7.5)
        with pdf.table(
            col_widths=fit_widths(pdf, b),
            line_height=3.8,
            text_align="LEFT",
            headings_style=FontFace(emphasis="BOLD", fill_color=(230, 230, 230)),
        ) as t:
            t.row(list(b.header))
            for r in b.rows:
                t.row(list(r))
        pdf.ln(2)
    elif isinstance(b, Picture):
        pdf.set_font(FONT, "", 8)
        pdf.image(io.BytesIO(b.data), w=b.width_mm)
        pdf.multi_cell(width, 4, b.caption, new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.ln(2)


def _longest_word(pdf: FPDF, texts: list[str], style: str) -> float:
    pdf.set_font(FONT, style, 7.5)
    words = [w for t in texts for w in t.split()]
    return max((pdf.get_string_width(w) for w in words), default=0.0)


def fit_widths(pdf: FPDF, table: Table) -> tuple[float, ...]:
    """Column widths (mm, summing to the page's width) that never break a word: each column
    is at least as wide as its longest word (headings in bold), and the rest of the page is
    shared as ``table.widths`` asks (equally if empty), taken from the columns with room to
    spare. Only where the longest words alone overfill the page are words broken (by fpdf2,
    within a column sized in proportion to its longest word)."""
    n = len(table.header)
    pad = 2 * pdf.c_margin + 0.5
    need = [
        pad
        + max(
            _longest_word(pdf, [table.header[j]], "B"),
            _longest_word(pdf, [r[j] for r in table.rows if j < len(r)], ""),
        )
        for j in range(n)
    ]
    pdf.set_font(FONT, "", 7.5)
    total = pdf.epw
    if sum(need) >= total:
        return tuple(total * w / sum(need) for w in need)
    asked = list(table.widths) if len(table.widths) == n else [1.0] * n
    fixed: set[int] = set()
    while True:  # raise each too-narrow column to its need; the others share what is left
        free = total - sum(need[j] for j in fixed)
        share = sum(asked[j] for j in range(n) if j not in fixed)
        widths = [need[j] if j in fixed else free * asked[j] / share for j in range(n)]
        short = {j for j in range(n) if j not in fixed and widths[j] < need[j]}
        if not short:
            return tuple(widths)
        fixed |= short
