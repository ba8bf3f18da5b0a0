"""CSV files from other systems, read defensively: strict UTF-8 (a BOM is fine), one error
naming the line for a bad encoding, NUL bytes or duplicated columns, and a per-row problem
(not a silent fold or drop) for short or long rows, multi-line fields and broken quoting."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from leadguard.core.errors import ManifestError
from leadguard.core.files import read_bounded
from leadguard.core.textsafe import printable, shown_path

MAX_CSV_BYTES = 256 * 1024 * 1024

# A cell a spreadsheet would run as a formula (=, +, -, @; tab and CR start the same tricks;
# U+2212 is the minus sign). Full-width and small forms (＝, ﹦, ＋, ＠) are read through
# NFKC, and spaces before the sign are looked through: some spreadsheets convert or trim them.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\u2212")
_LEADING_SPACE = " \u00a0\u3000"
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


def cell_out(value: object) -> object:
    """A value as written to a CSV file LeadGuard exports: text beginning with a formula
    character gets a leading ``'`` (text beginning with ``'`` gets one more, so ``cell_in``
    restores every value exactly); plain numbers (``-0.25``) and other values pass."""
    if not isinstance(value, str) or _NUMBER.fullmatch(value):
        return value
    head = unicodedata.normalize("NFKC", value.lstrip(_LEADING_SPACE)[:1])
    if head.startswith(_FORMULA_START) or value.startswith("'"):
        return "'" + value
    return value


def cell_in(text: str) -> str:
    """A cell of a CSV file LeadGuard exported, as it was before ``cell_out``."""
    return text[1:] if text.startswith("'") else text


def neutralised(row: dict[str, object]) -> dict[str, object]:
    return {k: cell_out(v) for k, v in row.items()}


@dataclass(frozen=True)
class CsvRow:
    line: int  # where the row starts (1-based, the header is line 1)
    values: dict[str, str]


@dataclass
class CsvTable:
    header: list[str]
    rows: list[CsvRow] = field(default_factory=list)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def _decode(path: Path, data: bytes) -> str:
    where = shown_path(path)
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ManifestError(f"{where}: the file is UTF-16 text; save it as UTF-8")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ManifestError(
            f"{where} line {line}: byte 0x{data[exc.start]:02x} at column {column} is not "
            "UTF-8 text; save the file as UTF-8"
        ) from exc
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise ManifestError(f"{where} line {line}: NUL byte in a text file (not a CSV file?)")
    return text


def read_table(path: Path, max_bytes: int = MAX_CSV_BYTES) -> CsvTable:
    """Header and rows of a CSV file, or ManifestError naming the file (and line)."""
    where = shown_path(path)
    data = read_bounded(path, max_bytes, lambda why: ManifestError(f"{where}: {why}"))
    reader = csv.reader(io.StringIO(_decode(path, data), newline=""), strict=True)
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise ManifestError(f"{where} line 1: the header is not valid CSV ({exc})") from exc
    if not first:
        raise ManifestError(f"{where}: empty file (no header)")
    header = [h.strip() for h in first]
    named = [h for h in header if h]
    dupes = sorted({h for h in named if named.count(h) > 1})
    if dupes:
        raise ManifestError(
            f"{where} line 1: column(s) {', '.join(map(repr, dupes))} appear more than once; "
            "which one holds the value is ambiguous"
        )
    table = CsvTable(header)
    start = reader.line_num + 1
    try:
        for raw in reader:
            line, start = start, reader.line_num + 1
            if not raw or not any(v.strip() for v in raw):
                continue
            if len(raw) != len(header):
                what = "missing" if len(raw) < len(header) else "extra"
                table.problems.append(
                    (line, f"row has {len(raw)} fields but the header has {len(header)} ({what})")
                )
                continue
            if any("\n" in v or "\r" in v for v in raw):
                table.problems.append(
                    (line, "a field spans several lines (an unterminated quote?); row refused")
                )
                continue
            values = dict(zip(header, (v.strip() for v in raw), strict=True))
            if values.pop("", ""):
                table.problems.append((line, "a value in a column with no name"))
                continue
            table.rows.append(CsvRow(line, values))
    except csv.Error as exc:
        # everything from the row that broke the quoting on is untrusted: say where it began
        table.problems.append(
            (start, f"broken CSV quoting from this line on ({printable(str(exc))}); rest unread")
        )
    return table
