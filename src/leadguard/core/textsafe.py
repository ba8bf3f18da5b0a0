"""Text that came from outside (file names, subject ids, notes) made safe to show and store.

Pure functions, no terminal library: the CLI adds Rich-markup escaping on top (render.safe).
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from leadguard.core.errors import InputError

MAX_SUBJECT_ID = 128
# Unicode format characters that reorder or hide text on a terminal (bidi overrides, isolates)
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F)}


def shown_path(path: Path | str) -> str:
    """A path as valid UTF-8 text: bytes that are not UTF-8 (kept by Python as surrogate
    escapes) are shown as ``\\xNN``, so the name can be printed and stored."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def clipped(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was: what is stored or shown
    of an input that was refused, so that no request can write an entry of any size."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters in all)"


def is_utf8_name(path: Path | str) -> bool:
    return shown_path(path) == str(path)


def printable(text: str) -> str:
    """``text`` with every control, format (zero-width, bidi), line-separator or surrogate
    character escaped as ``\\xNN``/``\\uNNNN``, so one value prints on one line and cannot
    forge others."""
    out = []
    for ch in text:
        # not printable: controls, format characters (zero-width, BOM, bidi), separators
        # other than the space, surrogates, unassigned and private-use code points
        out.append(_escaped(ch) if (not ch.isprintable() and ch != " ") or ch in _BIDI else ch)
    return "".join(out)


def _escaped(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


# characters a written field may hold although ``printable`` escapes them for a terminal:
# spaces of other widths (no-break, thin, ideographic), the joiners Persian, Indic scripts
# and emoji need, the directional marks (not overrides) of Arabic and Hebrew names, and
# the soft hyphen
_WRITTEN_OK = frozenset("\u00a0\u00ad\u061c\u200c\u200d\u200e\u200f")


def _harmful(ch: str) -> bool:
    """A character a document or stored note must not obey: a control, a line or paragraph
    separator, a bidi override/embedding/isolate, an invisible format character (zero-width
    space, word joiner, BOM, tag), a surrogate or an unassigned code point."""
    if ch in "\n\t" or ch in _WRITTEN_OK:
        return False
    if ch in _BIDI:
        return True
    cat = unicodedata.category(ch)
    return cat in ("Cc", "Cf", "Cs", "Cn", "Zl", "Zp")


def printable_lines(text: str) -> str:
    """``text`` as a document shows it: line breaks, tabs and the characters of real names
    and languages kept, every harmful character (``_harmful``) escaped as ``\\xNN``/``\\uNNNN``."""
    return "".join(_escaped(ch) if _harmful(ch) else ch for ch in text.replace("\r\n", "\n"))


MAX_FREE_TEXT = 10_000  # characters of one written field (a description, a note, a reason)
MAX_ITEMS = 1_000  # entries of one written mapping or list (a case's described attributes)


def free_text_problem(what: str, value: object, limit: int = MAX_FREE_TEXT) -> str | None:
    """Why a written field (``what``: its name) cannot be stored, or None: more than
    ``limit`` characters, or a control, invisible or bidi character other than a line break
    or a tab (text that would rewrite a terminal, or hide or reorder words in a court
    document). The keys and strings inside mappings and lists are checked too."""
    if isinstance(value, dict | list | tuple) and len(value) > MAX_ITEMS:
        return f"{what} has {len(value):,} entries, over the limit of {MAX_ITEMS:,}"
    if isinstance(value, dict):
        for k, v in value.items():
            problem = free_text_problem(f"{what} key", k, limit) or free_text_problem(
                f"{what} {printable(str(k))[:40]}", v, limit
            )
            if problem:
                return problem
        return None
    if isinstance(value, list | tuple):
        return next((p for v in value if (p := free_text_problem(what, v, limit))), None)
    if not isinstance(value, str):
        return None
    if len(value) > limit:
        return f"{what} is {len(value):,} characters long, over the limit of {limit:,}"
    if any(_harmful(ch) for ch in value.replace("\r\n", "\n")):
        return f"{what} holds control, invisible or bidi characters: {printable(value)[:80]!r}"
    return None


def subject_id_problem(subject: str) -> str | None:
    """Why ``subject`` cannot be a subject id, or None. Ids are shown in candidate lists and
    court documents: they must be short, one line, and hold no control characters."""
    if not subject.strip():
        return "subject id is empty"
    if len(subject) > MAX_SUBJECT_ID:
        return f"subject id is {len(subject)} characters long, over the limit of {MAX_SUBJECT_ID}"
    if printable(subject) != subject:
        return (
            f"subject id {printable(subject)!r} holds control, invisible or line-break characters"
        )
    if subject != subject.strip():
        return f"subject id {subject!r} starts or ends with white space"
    return None


# The one rule for case numbers (CLI, API and web forms all reach it through the case
# service): a letter or digit, then letters, digits and ``. _ -``. Never a ``/``: a case number
# is one part of every URL (``/cases/NUMBER/export``) and of every audit object
# (``case:NUMBER/request:3``), and a number with a slash would be a case no route could reach.
CASE_NUMBER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
MAX_CASE_NUMBER = 100
_CASE_NUMBER = re.compile(CASE_NUMBER_PATTERN)


def case_number_problem(number: str) -> str | None:
    """Why ``number`` cannot be a case number, or None."""
    if len(number) > MAX_CASE_NUMBER:
        return f"case number is {len(number)} characters long, over the limit of {MAX_CASE_NUMBER}"
    if not _CASE_NUMBER.fullmatch(number):
        slash = " (write 2024/17 as 2024-17)" if "/" in number else ""
        return (
            f"case number {printable(number)!r} must start with an ASCII letter or digit and "
            f"hold only ASCII letters, digits and . _ -{slash}"
        )
    return None


def case_of(obj: str) -> str | None:
    """The case number an audit object belongs to (``case:N``, ``case:N/request:3``,
    ``case:N/lead:2/...``), or None. Exact: ``case:M-A1/X`` belongs to case ``M-A1/X``, not
    to ``M-A1``, because every part after a number names its kind (``request:``)."""
    if not obj.startswith("case:"):
        return None
    parts = obj[len("case:") :].split("/")
    number: list[str] = []
    for part in parts:
        if ":" in part:
            break
        number.append(part)
    return "/".join(number) or None


def utf8_name(path: Path) -> Path:
    """``path`` if its name is valid UTF-8; otherwise a clear refusal that shows the name
    (a probe's name is stored, logged and printed, so it has to be text)."""
    if not is_utf8_name(path):
        raise InputError(
            f"{shown_path(path)}: the file name is not valid UTF-8; copy the file to a UTF-8 "
            "name (the bytes are what is searched, the name is recorded)"
        )
    return path
