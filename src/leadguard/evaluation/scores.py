"""Score files: the interface between computing scores and analysing them.

Verification: one row per comparison. Identification: one row per candidate of each
search (top-L), plus one row per search with rank 0 when a probe had no template.
A failure to acquire a template is a row with an empty score and the reason.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from leadguard.core.csvsafe import cell_in, neutralised

VERIFY_COLUMNS = [
    "probe",
    "reference",
    "probe_identity",
    "reference_identity",
    "mated",
    "fold",
    "kind",
    "score",
    "failure",
    "space_key",
    "probe_sex",
    "probe_race",
    "probe_age",
    "reference_sex",
    "reference_race",
    "reference_age",
]
IDENTIFY_COLUMNS = [
    "split",
    "probe",
    "probe_identity",
    "mated_search",
    "rank",
    "candidate_identity",
    "candidate",
    "score",
    "failure",
    "space_key",
]


def _open(path: Path, mode: str) -> IO[str]:
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", newline="")  # type: ignore[return-value]
    return path.open(mode, newline="")


def write_rows(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> int:
    n = 0
    with _open(path, "w") as fh:
        w = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for row in rows:
            out = dict(row)
            s = out.get("score")
            if isinstance(s, float):
                out["score"] = "" if not math.isfinite(s) else f"{s:.7f}"
            w.writerow(neutralised(out))  # no cell a spreadsheet runs as a formula
            n += 1
    return n


def read_rows(path: Path) -> Iterator[dict[str, str]]:
    with _open(path, "r") as fh:
        for row in csv.DictReader(fh):
            yield {k: cell_in(v) if isinstance(v, str) else v for k, v in row.items()}


def score_value(text: str) -> float:
    """A score cell as a float; an empty cell (failure to acquire) is -inf."""
    return float(text) if text else float("-inf")
