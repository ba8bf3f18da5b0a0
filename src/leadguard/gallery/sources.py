"""Enrollment sources: a folder of ``<subject>/<image>`` files, or a CSV manifest.

A CSV manifest has a header with ``path`` and ``subject_id`` (or ``identity``, as in the
shared dataset manifests), and optionally ``encounter_date`` (YYYY-MM-DD), ``sex``, ``race``
and any other columns (kept as image attributes, e.g. ``age``). Paths are relative to the
manifest's folder. A folder that holds a ``manifest.csv`` is read through it. In a plain
folder, sub-folders whose names start with ``_`` or ``.`` are not subjects and are skipped.

Hostile sources are expected: every entry that cannot be enrolled is a recorded problem with
its reason (special files, dangling links, link loops, links to folders, which are never
followed, folders named like images, names that are not UTF-8, bad subject ids), and a path
that leads outside the source's folder is refused unless it is inside a declared source root
(the ``source_roots`` setting).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from leadguard.core.csvsafe import read_table
from leadguard.core.errors import ManifestError
from leadguard.core.textsafe import is_utf8_name, printable, shown_path, subject_id_problem
from leadguard.evidence.groups import sex_code
from leadguard.pipeline.decode import file_kind
from leadguard.storage.queries import SubjectInfo

MANIFEST_NAME = "manifest.csv"
SUBJECT_COLUMNS = ("subject_id", "identity")
KNOWN_COLUMNS = {"path", "subject_id", "identity", "encounter_date", "sex", "race"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".heic"}
MAX_ATTRIBUTE = 200


@dataclass(frozen=True)
class EnrollItem:
    path: Path
    info: SubjectInfo
    where: str  # "file.csv line 7" or the file path, for messages


@dataclass(frozen=True)
class SourceProblem:
    where: str
    reason: str


@dataclass(frozen=True)
class Source:
    items: list[EnrollItem]
    problems: list[SourceProblem]


def read_source(source: Path, roots: Sequence[Path] = ()) -> Source:
    """``roots``: folders outside the source's own that its paths may lead into."""
    where = shown_path(source)
    try:
        st = source.stat()
    except OSError as exc:
        raise ManifestError(f"{where}: no such folder or file ({exc.strerror})") from exc
    if stat.S_ISDIR(st.st_mode):
        manifest = source / MANIFEST_NAME
        if manifest.is_file():
            return read_manifest(manifest, roots)
        return read_folder(source, roots)
    if stat.S_ISREG(st.st_mode):
        if source.suffix.lower() != ".csv":
            raise ManifestError(f"{where}: an enrollment source must be a folder or a .csv file")
        return read_manifest(source, roots)
    raise ManifestError(f"{where}: {file_kind(st.st_mode)}, not a folder or a .csv file")


def _inside(path: Path, allowed: Sequence[Path]) -> bool:
    try:
        real = path.resolve()
    except (OSError, RuntimeError):  # a link loop: not inside anything
        return False
    return any(real.is_relative_to(a) for a in allowed)


def _allowed(base: Path, roots: Sequence[Path]) -> list[Path]:
    out = []
    for r in (base, *roots):
        try:
            out.append(r.resolve())
        except (OSError, RuntimeError):
            continue
    return out


def _link_problem(path: Path) -> str | None:
    """Why the symbolic link at ``path`` is not followed, or None for a link to a file."""
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if exc.errno == errno.ENOENT:
            return f"dangling symbolic link (to {shown_path(os.readlink(path))})"
        return f"symbolic link cannot be followed ({exc.strerror})"
    if stat.S_ISDIR(st.st_mode):
        return "symbolic link to a folder: not followed (it may loop or leave the source)"
    if not stat.S_ISREG(st.st_mode):
        return f"symbolic link to {file_kind(st.st_mode)}, not an image file"
    return None


def read_folder(folder: Path, roots: Sequence[Path] = ()) -> Source:
    items: list[EnrollItem] = []
    problems: list[SourceProblem] = []
    allowed = _allowed(folder, roots)
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        where = shown_path(entry)
        try:
            st = entry.lstat()
        except OSError as exc:
            problems.append(SourceProblem(where, f"cannot be read ({exc.strerror})"))
            continue
        if stat.S_ISLNK(st.st_mode):
            link = _link_problem(entry) or "file is not inside a subject folder"
            problems.append(SourceProblem(where, f"{link}; not a subject folder"))
        elif stat.S_ISREG(st.st_mode):
            problems.append(SourceProblem(where, "file is not inside a subject folder"))
        elif not stat.S_ISDIR(st.st_mode):
            problems.append(SourceProblem(where, f"{file_kind(st.st_mode)}, not a subject folder"))
        elif not is_utf8_name(entry.name):
            problems.append(
                SourceProblem(where, "subject folder name is not valid UTF-8: rename it")
            )
        elif (why := subject_id_problem(entry.name)) is not None:
            problems.append(SourceProblem(where, why))
        else:
            _walk_subject(entry, SubjectInfo(external_id=entry.name), allowed, items, problems)
    return Source(items, problems)


def _walk_subject(
    folder: Path,
    info: SubjectInfo,
    allowed: list[Path],
    items: list[EnrollItem],
    problems: list[SourceProblem],
) -> None:
    """Every file under a subject's folder, without following links to folders."""
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            entries = sorted(current.iterdir())
        except OSError as exc:
            problems.append(SourceProblem(shown_path(current), f"cannot list ({exc.strerror})"))
            continue
        subdirs = []
        for path in entries:
            if path.name.startswith("."):
                continue
            where = shown_path(path)
            try:
                st = path.lstat()
            except OSError as exc:
                problems.append(SourceProblem(where, f"cannot be read ({exc.strerror})"))
                continue
            if stat.S_ISDIR(st.st_mode):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    problems.append(SourceProblem(where, "a folder named like an image file"))
                subdirs.append(path)
                continue
            if stat.S_ISLNK(st.st_mode):
                why: str | None = _link_problem(path)
                if why is None and not _inside(path, allowed):
                    why = "symbolic link leads outside the source folder (see source_roots)"
                if why is not None:
                    problems.append(SourceProblem(where, why))
                    continue
            elif not stat.S_ISREG(st.st_mode):
                problems.append(SourceProblem(where, f"{file_kind(st.st_mode)}, not an image file"))
                continue
            items.append(EnrollItem(path, info, where))
        stack.extend(reversed(subdirs))


def _parse_date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    when = date.fromisoformat(text)
    if not date(1900, 1, 1) <= when <= date.today():
        raise ValueError(f"{when} is not between 1900-01-01 and today")
    return when


def read_manifest(manifest: Path, roots: Sequence[Path] = ()) -> Source:
    items: list[EnrollItem] = []
    problems: list[SourceProblem] = []
    base = manifest.parent
    allowed = _allowed(base, roots)
    shown = shown_path(manifest)
    table = read_table(manifest)
    subject_col = next((c for c in SUBJECT_COLUMNS if c in table.header), None)
    if "path" not in table.header or subject_col is None:
        raise ManifestError(
            f"{shown}: header must have 'path' and 'subject_id' (or 'identity'); "
            f"found {[printable(h) for h in table.header]}"
        )
    if all(c in table.header for c in SUBJECT_COLUMNS):
        raise ManifestError(
            f"{shown}: header has both 'subject_id' and 'identity'; keep one of them"
        )
    problems += [SourceProblem(f"{shown} line {n}", why) for n, why in table.problems]
    for row in table.rows:
        where = f"{shown} line {row.line}"
        path, subject = row.values.get("path", ""), row.values.get(subject_col, "")
        if not path or not subject:
            problems.append(SourceProblem(where, f"row needs both path and {subject_col}"))
            continue
        if (why := subject_id_problem(subject)) is not None:
            problems.append(SourceProblem(where, why))
            continue
        if printable(path) != path:
            problems.append(SourceProblem(where, f"path {printable(path)!r} holds control codes"))
            continue
        try:
            when = _parse_date(row.values.get("encounter_date", ""))
        except ValueError:
            problems.append(
                SourceProblem(
                    where,
                    f"encounter_date {printable(row.values['encounter_date'])!r} is not a date "
                    "(YYYY-MM-DD, 1900-01-01 to today)",
                )
            )
            continue
        p = Path(path)
        full = p if p.is_absolute() else base / p
        if not _inside(full, allowed):
            problems.append(
                SourceProblem(
                    where,
                    f"path {path!r} leads outside the manifest's folder; refused (declare the "
                    "folder in the source_roots setting to allow it)",
                )
            )
            continue
        extra = {
            k: printable(v)[:MAX_ATTRIBUTE]
            for k, v in row.values.items()
            if k not in KNOWN_COLUMNS and v
        }
        info = SubjectInfo(
            external_id=subject,
            encounter_date=when,
            sex=sex_code(printable(row.values.get("sex", ""))[:MAX_ATTRIBUTE]) or None,
            race=printable(row.values.get("race", ""))[:MAX_ATTRIBUTE] or None,
            attributes=extra,
        )
        items.append(EnrollItem(full, info, where))
    return Source(items, problems)
