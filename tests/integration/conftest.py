"""Integration fixtures: the real dlib model on real faces from ../shared/datasets."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from leadguard.core.config import Settings
from leadguard.face_models.dlib_backend import DlibFaceModel
from leadguard.gallery.enroll import EnrollReport, enroll
from leadguard.storage.workspace import Workspace
from tests.conftest import FIXTURES, LFW

pytestmark = pytest.mark.integration


def manifest_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "manifest.csv").open() as fh:
        return list(csv.DictReader(fh))


def write_manifest(path: Path, rows: list[tuple[Path, str]]) -> Path:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "subject_id"])
        w.writerows([str(p), s] for p, s in rows)
    return path


def jpeg_bytes(img: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


@dataclass
class Gallery:
    ws: Workspace
    report: EnrollReport
    enrolled: list[tuple[Path, str]]
    mated_probes: list[tuple[Path, str]]


@pytest.fixture(scope="session")
def johns_split(datasets: Path) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """dlib's five Johns: ten photos each enrolled, the eleventh held back as a probe."""
    folder = FIXTURES / "dlib_johns"
    by_subject: dict[str, list[Path]] = {}
    for r in manifest_rows(folder):
        by_subject.setdefault(r["identity"], []).append(folder / r["path"])
    enrolled, probes = [], []
    for subject, paths in sorted(by_subject.items()):
        paths.sort()
        enrolled += [(p, subject) for p in paths[:-1]]
        probes.append((paths[-1], subject))
    return enrolled, probes


@pytest.fixture(scope="session")
def johns(tmp_path_factory: pytest.TempPathFactory, johns_split) -> Iterator[Gallery]:
    """A workspace with the Johns enrolled by two worker processes (the default path)."""
    enrolled, probes = johns_split
    root = tmp_path_factory.mktemp("johns")
    manifest = write_manifest(root / "gallery.csv", enrolled)
    ws = Workspace.init(root / "ws", workers=2)
    report = enroll(ws, manifest)
    yield Gallery(ws, report, enrolled, probes)
    ws.close()


@pytest.fixture(scope="session")
def model() -> DlibFaceModel:
    s = Settings()
    m = DlibFaceModel(s.detector_upsample, s.landmarks, s.chip_size, s.chip_padding, s.mirror)
    m.load()
    return m


@pytest.fixture(scope="session")
def non_enrolled_probes(datasets: Path) -> list[tuple[Path, str]]:
    """People who are not in the Johns gallery: one photo each of eight LFW identities."""
    names = [
        "Aaron_Peirsol",
        "Abdullah_Gul",
        "Adrien_Brody",
        "Alejandro_Toledo",
        "Ali_Naimi",
        "Amelie_Mauresmo",
        "Andre_Agassi",
        "Angela_Bassett",
    ]
    return [(LFW / "images" / n / f"{n}_0001.jpg", n) for n in names]
