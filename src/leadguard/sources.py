"""Enrollment sources: a folder of ``<subject>/<image>`` files, or a CSV manifest.

A CSV manifest has a header with ``path`` and ``subject_id`` (or ``identity``, as in the
shared dataset manifests), and optionally ``encounter_date`` (YYYY-MM-DD), ``sex``, ``race``
and any other columns (kept as image attributes, e.g. ``age``). Paths are relative to the
manifest's folder. A folder that holds a ``manifest.csv`` is read through it. In a plain
folder, sub-folders whose names start with ``_`` or ``.`` are not subjects and are skipped.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from leadguard.errors import ManifestError
from leadguard.storage.repository import SubjectInfo

MANIFEST_NAME = "manifest.csv"
SUBJECT_COLUMNS = ("subject_id", "identity")
KNOWN_COLUMNS = {"path", "subject_id", "identity", "encounter_date", "sex", "race"}


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


def read_source(source: Path) -> Source:
    if source.is_dir():
        manifest = source / MANIFEST_NAME
        return read_manifest(manifest) if manifest.is_file() else read_folder(source)
    if source.is_file():
        if source.suffix.lower() != ".csv":
            raise ManifestError(f"{source}: an enrollment source must be a folder or a .csv file")
        return read_manifest(source)
    raise ManifestError(f"{source}: no such folder or file")


def read_folder(folder: Path) -> Source:
    items: list[EnrollItem] = []
    problems: list[SourceProblem] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_file():
            problems.append(SourceProblem(str(entry), "file is not inside a subject folder"))
            continue
        for image in sorted(p for p in entry.rglob("*") if p.is_file()):
            if image.name.startswith("."):
                continue
            info = SubjectInfo(external_id=entry.name)
            items.append(EnrollItem(image, info, str(image)))
    return Source(items, problems)


def _parse_date(text: str) -> date | None:
    text = text.strip()
    return date.fromisoformat(text) if text else None


def read_manifest(manifest: Path) -> Source:
    items: list[EnrollItem] = []
    problems: list[SourceProblem] = []
    base = manifest.parent
    try:
        fh = manifest.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise ManifestError(f"{manifest}: cannot open ({exc.strerror})") from exc
    with fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        subject_col = next((c for c in SUBJECT_COLUMNS if c in header), None)
        if "path" not in header or subject_col is None:
            raise ManifestError(
                f"{manifest}: header must have 'path' and 'subject_id' (or 'identity'); "
                f"found {header}"
            )
        try:
            for row in reader:
                where = f"{manifest} line {reader.line_num}"
                row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
                path, subject = row.get("path", ""), row.get(subject_col, "")
                if not path or not subject:
                    problems.append(SourceProblem(where, f"row needs both path and {subject_col}"))
                    continue
                try:
                    when = _parse_date(row.get("encounter_date", ""))
                except ValueError:
                    problems.append(
                        SourceProblem(
                            where,
                            f"encounter_date {row['encounter_date']!r} is not a date (YYYY-MM-DD)",
                        )
                    )
                    continue
                extra = {k: v for k, v in row.items() if k not in KNOWN_COLUMNS and v}
                info = SubjectInfo(
                    external_id=subject,
                    encounter_date=when,
                    sex=row.get("sex") or None,
                    race=row.get("race") or None,
                    attributes=extra,
                )
                p = Path(path)
                items.append(EnrollItem(p if p.is_absolute() else base / p, info, where))
        except (csv.Error, UnicodeDecodeError) as exc:
            # keep the rows read so far; the rest of the file cannot be trusted
            problems.append(SourceProblem(str(manifest), f"CSV unreadable from here on ({exc})"))
    return Source(items, problems)
