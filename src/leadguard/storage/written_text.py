"""One rule for what people write into casework records (a case's description and
attributes, a request's purpose, an examiner's notes, an outcome, a lineup's record, ...):
every writer session refuses, at its flush, a changed text or JSON value of those tables
that holds a control, invisible or bidi character other than a line break or a tab, or a
string over ``textsafe.MAX_FREE_TEXT`` characters. Such text would rewrite a terminal
(``case show`` printed ESC sequences), or hide or reorder words in a court document, and
an unbounded note was stored whole (50 MB). CLI, API and web all write through here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from leadguard.core.errors import InputError
from leadguard.core.textsafe import free_text_problem

WRITTEN_BY_PEOPLE = frozenset(
    {
        "cases",
        "search_requests",
        "reviews",
        "leads",
        "corroborations",
        "lineup_showings",
        "external_searches",
        "comparison_annotations",
        "probable_duplicates",
        "model_acceptances",
    }
)


def refuse_unsafe_text(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.new, *session.dirty):
        state = sa_inspect(obj)
        table = state.mapper.local_table
        if getattr(table, "name", None) not in WRITTEN_BY_PEOPLE:
            continue
        for attr in state.mapper.column_attrs:
            column = attr.columns[0]
            if not isinstance(column.type, String | Text | JSON):
                continue
            if obj not in session.new and not state.attrs[attr.key].history.has_changes():
                continue  # an older value left as it was is not re-judged
            problem = free_text_problem(column.name.replace("_", " "), getattr(obj, attr.key))
            if problem:
                raise InputError(f"{table.name.replace('_', ' ')}: {problem}")
