"""The examiners' comparison of a lead's candidate, for the lead report: the probe and the
candidate aligned on the eyes (``services.comparison``), side by side, with every mark the
examiners and the adjudicating supervisor made drawn and numbered on it, and the marks as
rows (who, which image, feature, kind, note, measurement as a fraction of the inter-eye
distance). Drawn only where there is a mark; the same records give the same bytes."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw
from sqlalchemy.orm import Session

from leadguard.core.alignment import CANVAS, EYES, INTER_EYE
from leadguard.core.config import Settings
from leadguard.services.annotations import marks_of
from leadguard.services.comparison import align_side, candidate_source, probe_source
from leadguard.storage.tables import SearchLog, SearchRequest

GAP = 12
COLOURS = ((230, 40, 40), (20, 110, 230), (0, 150, 60), (200, 120, 0), (150, 40, 200))


def _draw(base: Image.Image, marks: list[dict[str, Any]], offsets: dict[str, int]) -> None:
    d = ImageDraw.Draw(base)
    examiners = sorted({m["examiner"] for m in marks})
    for n, m in enumerate(marks, 1):
        colour = COLOURS[examiners.index(m["examiner"]) % len(COLOURS)]
        dx = offsets[m["image"]]
        pts = [(x + dx, y) for x, y in m["points"]]
        if m["kind"] == "region":
            (x0, y0), (x1, y1) = pts
            d.rectangle(
                (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), outline=colour, width=2
            )
        elif m["kind"] == "measure":
            d.line(pts, fill=colour, width=2)
        for x, y in pts:
            d.ellipse((x - 4, y - 4, x + 4, y + 4), outline=colour, width=2)
        x, y = pts[0]
        d.rectangle((x + 5, y - 16, x + 5 + 8 * len(str(n)) + 4, y - 2), fill=(255, 255, 255))
        d.text((x + 7, y - 16), str(n), fill=colour)


def for_lead(s: Session, req: SearchRequest, subject: str) -> dict[str, Any]:
    """``{"marks": [...], "png": bytes | None, "problem": str}`` for the lead's candidate."""
    marks = marks_of(s, req.id, subject)
    out: dict[str, Any] = {"marks": marks, "png": None, "problem": "", "inter_eye": INTER_EYE}
    if not marks or req.search_id is None:
        return out
    row = s.get(SearchLog, req.search_id)
    assert row is not None
    cand = next((c for c in row.result.get("candidates", []) if c["subject"] == subject), None)
    if cand is None:
        out["problem"] = "the lead's subject is not on the search's list"
        return out
    budget = int(Settings.model_fields["max_image_pixels"].default)  # the default budget
    probe = align_side(*probe_source(s, row.result), "probe", budget)
    other = align_side(*candidate_source(s, cand), "candidate", budget)
    if probe.png is None or other.png is None:
        out["problem"] = probe.problem or other.problem
        return out
    w, h = CANVAS
    sheet = Image.new("RGB", (2 * w + GAP, h), (255, 255, 255))
    for png, x in ((probe.png, 0), (other.png, w + GAP)):
        with Image.open(io.BytesIO(png)) as img:
            sheet.paste(img.convert("RGB"), (x, 0))
    d = ImageDraw.Draw(sheet)
    for x in (0, w + GAP):  # the canvas's eye positions, as thin ticks at the edges
        for ex, ey in EYES:
            d.line((x + ex - 6, ey, x + ex + 6, ey), fill=(255, 255, 0), width=1)
    _draw(sheet, marks, {"probe": 0, "candidate": w + GAP})
    buf = io.BytesIO()
    sheet.save(buf, format="PNG", optimize=False)
    out["png"] = buf.getvalue()
    return out
