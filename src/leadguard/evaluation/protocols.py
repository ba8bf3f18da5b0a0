"""Evaluation protocols read from their published files (no images are copied)."""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from leadguard.core.errors import ManifestError

DEMOGRAPHIC_FIELDS = ("sex", "race", "age")


@dataclass(frozen=True)
class Pair:
    probe: Path
    reference: Path
    probe_identity: str
    reference_identity: str
    fold: int = 0
    kind: str = ""  # "mated", "nonmated", "nonmated_within_group"

    @property
    def mated(self) -> bool:
        return self.probe_identity == self.reference_identity


def lfw_image(data: Path, name: str, number: int) -> Path:
    return data / "images" / name / f"{name}_{number:04d}.jpg"


def lfw_pairs(data: Path) -> list[Pair]:
    """LFW View 2 (``protocols/pairs.txt``): 10 folds of 300 mated then 300 non-mated pairs."""
    path = data / "protocols" / "pairs.txt"
    try:
        lines = path.read_text().split("\n")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the LFW pairs file ({exc.strerror})") from exc
    try:
        n_folds, per = (int(x) for x in lines[0].split())
    except ValueError as exc:
        raise ManifestError(f"{path} line 1: expected '<folds> <pairs per class>'") from exc
    pairs: list[Pair] = []
    rows = [ln.split() for ln in lines[1:] if ln.strip()]
    if len(rows) != n_folds * per * 2:
        raise ManifestError(f"{path}: expected {n_folds * per * 2} pairs, found {len(rows)}")
    for i, row in enumerate(rows):
        fold = i // (2 * per)
        try:
            if len(row) == 3:
                a = lfw_image(data, row[0], int(row[1]))
                b = lfw_image(data, row[0], int(row[2]))
                pairs.append(Pair(a, b, row[0], row[0], fold, "mated"))
            elif len(row) == 4:
                a = lfw_image(data, row[0], int(row[1]))
                b = lfw_image(data, row[2], int(row[3]))
                pairs.append(Pair(a, b, row[0], row[2], fold, "nonmated"))
            else:
                raise ValueError
        except ValueError as exc:
            raise ManifestError(f"{path} line {i + 2}: cannot parse {' '.join(row)!r}") from exc
    return pairs


@dataclass(frozen=True)
class BlufrSplit:
    number: int
    gallery: list[tuple[Path, str]]
    probes: list[tuple[Path, str]]


def _read_path_identity(path: Path, base: Path) -> list[tuple[Path, str]]:
    try:
        with path.open(newline="") as fh:
            return [(base / r["path"], r["identity"]) for r in csv.DictReader(fh)]
    except (OSError, KeyError) as exc:
        raise ManifestError(f"{path}: cannot read a path,identity list ({exc})") from exc


def blufr_splits(data: Path, splits: list[int] | None = None) -> list[BlufrSplit]:
    folder = data / "protocols" / "blufr"
    numbers = splits or list(range(1, 11))
    return [
        BlufrSplit(
            n,
            _read_path_identity(folder / f"split{n}_gallery.csv", data),
            _read_path_identity(folder / f"split{n}_probe.csv", data),
        )
        for n in numbers
    ]


@dataclass(frozen=True)
class LabelledImage:
    path: Path
    identity: str
    demographics: dict[str, str] = field(default_factory=dict)


def read_labelled_manifest(manifest: Path, roots: Sequence[Path] = ()) -> list[LabelledImage]:
    """The shared manifest format: ``path,identity[,sex,race,age]`` (paths relative to it).
    Read defensively (csvsafe): a bad encoding, duplicated column or broken quoting is a
    ManifestError naming the file and line, not a traceback. Paths must stay inside the
    manifest's folder or one of ``roots``."""
    from leadguard.core.csvsafe import read_table

    allowed = [r.resolve() for r in (manifest.parent, *roots)]

    table = read_table(manifest)
    if "path" not in table.header or "identity" not in table.header:
        raise ManifestError(f"{manifest}: header must have 'path' and 'identity'")
    if table.problems:
        line, why = table.problems[0]
        raise ManifestError(f"{manifest} line {line}: {why}")
    out = []
    for row in table.rows:
        r = row.values
        if not r.get("path") or not r.get("identity"):
            continue
        demo = {k: r.get(k, "") for k in DEMOGRAPHIC_FIELDS if k in table.header}
        path = manifest.parent / r["path"]
        if not any(path.resolve().is_relative_to(a) for a in allowed):
            raise ManifestError(
                f"{manifest} line {row.line}: path {r['path']!r} leads outside the manifest's "
                "folder; refused (declare the folder in the source_roots setting to allow it)"
            )
        out.append(LabelledImage(path, r["identity"], demo))
    return out


def manifest_pairs(
    images: list[LabelledImage],
    nonmated: int,
    within_group: int,
    group_fields: tuple[str, ...] = ("sex", "race"),
    seed: int = 0,
) -> list[Pair]:
    """All mated pairs; ``nonmated`` random non-mated pairs; and, for each demographic group
    (same values of ``group_fields``), up to ``within_group`` non-mated pairs drawn inside it."""
    rng = random.Random(seed)
    by_id: dict[str, list[LabelledImage]] = defaultdict(list)
    for im in images:
        by_id[im.identity].append(im)
    pairs: list[Pair] = []
    for ident in sorted(by_id):
        imgs = by_id[ident]
        for i in range(len(imgs)):
            for j in range(i + 1, len(imgs)):
                pairs.append(Pair(imgs[i].path, imgs[j].path, ident, ident, 0, "mated"))

    def draw(pool: list[LabelledImage], n: int, kind: str) -> None:
        ids = {im.identity for im in pool}
        if len(ids) < 2:
            return
        seen: set[tuple[Path, Path]] = set()
        attempts = 0
        while len(seen) < n and attempts < n * 20:
            attempts += 1
            a, b = rng.sample(pool, 2)
            if a.identity == b.identity:
                continue
            key = (a.path, b.path) if str(a.path) < str(b.path) else (b.path, a.path)
            if key in seen:
                continue
            seen.add(key)
            pairs.append(Pair(a.path, b.path, a.identity, b.identity, 0, kind))

    draw(images, nonmated, "nonmated")
    fields = tuple(f for f in group_fields if any(im.demographics.get(f) for im in images))
    if fields and within_group > 0:
        groups: dict[tuple[str, ...], list[LabelledImage]] = defaultdict(list)
        for im in images:
            key = tuple(im.demographics.get(f, "") for f in fields)
            if all(key):
                groups[key].append(im)
        for key in sorted(groups):
            draw(groups[key], within_group, "nonmated_within_group")
    return pairs
