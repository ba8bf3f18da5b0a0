"""What people write into casework records: control, invisible and bidi characters (other
than line breaks and tabs) and fields over 10,000 characters are refused at the flush of
any writer session, whichever shell wrote them; what is stored or shown is never obeyed by
a terminal or a document."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from leadguard.cli.common import read_json
from leadguard.core.errors import InputError
from leadguard.core.textsafe import MAX_FREE_TEXT, free_text_problem, printable_lines
from leadguard.reports.document import Document
from leadguard.services import accounts
from leadguard.services.casework import service as cw
from leadguard.services.context import Context
from tests.unit.accounts_kit import PW, north_desk

ESC = "\x1b[31mred\x1b[2J"


@pytest.fixture()
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Context:
    return north_desk(tmp_path / "ws", monkeypatch)


def open_case(ctx: Context, number: str, description: str, **kw: object) -> object:
    sup = accounts.login(ctx, "sup", PW).actor
    args = {"attributes": {}, "officer": "Det. R", "authority": "warrant", **kw}
    return cw.open_case(
        ctx, sup, number, "Robbery", date(2026, 3, 1), description,
        args["attributes"], args["officer"], args["authority"],  # type: ignore[arg-type]
    )  # fmt: skip


def test_the_rule() -> None:
    assert free_text_problem("note", "two\nlines\tand a tab\r\nok") is None
    assert "control" in (free_text_problem("note", ESC) or "")
    assert "control" in (free_text_problem("note", "a\u202eb") or "")  # bidi override
    assert "control" in (free_text_problem("attrs", {"sex": ["M", "x\x00"]}) or "")
    assert "over the limit" in (free_text_problem("note", "x" * (MAX_FREE_TEXT + 1)) or "")
    assert free_text_problem("n", 12) is None
    # real names and languages are written text: no-break and thin spaces, the joiners of
    # Persian and emoji, an Arabic name's right-to-left mark, the ideographic space
    for ok in (
        "Jean\u00a0Dupont",
        "\u00ab\u202foui\u202f\u00bb",
        "\u0645\u06cc\u200c\u062e",
        "\U0001f469\u200d\U0001f692",
        "\u0639\u0644\u064a\u200f",
        "\u5c71\u3000\u7530",
    ):
        assert free_text_problem("name", ok) is None, ok
        assert printable_lines(ok) == ok
    # a key is text too, and a mapping is bounded
    assert "key holds control" in (free_text_problem("attrs", {"\x1b]0;X\x07": "v"}) or "")
    assert "over the limit of 1,000" in (
        free_text_problem("a", {str(i): "" for i in range(1001)}) or ""
    )
    assert "control" in (free_text_problem("n", "zero\u200bwidth") or "")
    assert printable_lines("a\nb\x1b") == "a\nb\\x1b"


@pytest.mark.parametrize(
    "field",
    ["description", "officer", "authority", "attributes"],
)
def test_every_written_field_of_a_case_is_refused_at_the_flush(ctx: Context, field: str) -> None:
    kw: dict[str, object] = {}
    description = "d"
    if field == "description":
        description = f"robbery {ESC}"
    elif field == "attributes":
        kw["attributes"] = {"sex": "M", "clothing": f"hat{ESC}"}
    else:
        kw[field] = f"x{ESC}"
    with pytest.raises(InputError, match="control, invisible or bidi"):
        open_case(ctx, "C-1", description, **kw)
    with ctx.read_session() as s, pytest.raises(InputError, match="does not exist"):
        cw.case_by_number(s, "C-1")  # nothing of the refused case was kept


def test_a_long_or_multi_line_description(ctx: Context) -> None:
    open_case(ctx, "C-2", "first line\nsecond line\twith a tab")  # kept as written
    with pytest.raises(InputError, match="over the limit of 10,000"):
        open_case(ctx, "C-3", "x" * 50_000)


def test_documents_and_terminal_show_control_characters_as_text() -> None:
    doc = Document("t", "b")
    doc.p(f"before {ESC}\nafter")
    doc.fields([("k", ESC)])
    para, fields = doc.blocks
    assert "\x1b" not in para.text and "\\x1b" in para.text and "\n" in para.text  # type: ignore[attr-defined]
    assert fields.rows[0][1] == "\\x1b[31mred\\x1b[2J"  # type: ignore[attr-defined]
    from leadguard.cli.render import safe

    console = Console(record=True, width=80)
    console.print(f"  {safe(ESC)}")
    assert "\x1b" not in console.export_text()


def test_a_decisions_file_is_a_small_regular_json_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a regular file"):
        read_json(Path("/dev/zero"), "decisions")
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"note": "x" * (2 << 20)}))
    with pytest.raises(InputError, match="over the limit"):
        read_json(big, "decisions")
    ok = tmp_path / "ok.json"
    ok.write_text('{"A": "exclusion"}')
    assert read_json(ok, "decisions") == {"A": "exclusion"}


def test_an_urgent_reason_and_an_order_reference_are_written_text(
    ctx: Context, tmp_path: Path
) -> None:
    from leadguard.services.gallery import expunge_subject
    from leadguard.services.search import Override, SearchRequest, search

    sup = accounts.login(ctx, "sup", PW).actor
    with pytest.raises(InputError, match="override's reason holds control"):
        search(ctx, sup, SearchRequest(tmp_path / "x.jpg"), Override("C-1", f"urgent{ESC}"))
    admin = accounts.login(ctx, "admin", PW).actor
    with pytest.raises(InputError, match="order's reference"):
        expunge_subject(ctx, admin, "someone", "CO-1\u202e")
