"""Calibration on the agency's own gallery and shift detection, on part of LFW enrolled as a
gallery (real dlib model, real SQLite). The shifted copy (greyscale, down-scaled, JPEG) is
generated into tmp by the test and never stored in the repository."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from PIL import Image

from leadguard.evidence import model as em
from leadguard.evidence.run import evaluate_gallery, workspace_id
from leadguard.evidence.shift import check_shift, gallery_tail
from leadguard.face_models import model_space
from leadguard.gallery.enroll import enroll
from leadguard.storage.workspace import Workspace
from tests.conftest import LFW

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PEOPLE = 70  # race-labelled LFW people with at least three photos


def chosen() -> list[dict[str, str]]:
    with (LFW / "manifest.csv").open() as fh:
        rows = [r for r in csv.DictReader(fh) if r["race"]]
    by: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by.setdefault(r["identity"], []).append(r)
    people = sorted(k for k, v in by.items() if len(v) >= 3)[:PEOPLE]
    return [r for p in people for r in sorted(by[p], key=lambda r: r["path"])[:3]]


def degrade(src: Path, dst: Path) -> None:
    """A different camera: greyscale, a third of the resolution, heavy JPEG."""
    img = Image.open(src).convert("L").convert("RGB")
    small = img.resize((img.width // 3, img.height // 3), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    small.resize(img.size, Image.Resampling.BILINEAR).save(buf, format="JPEG", quality=15)
    dst.write_bytes(buf.getvalue())


def gallery(root: Path, rows: list[dict[str, str]], shifted: bool) -> Workspace:
    ws = Workspace.init(root / "ws", workers=2)
    out = []
    for r in rows:
        src = LFW / r["path"]
        path = src
        if shifted:
            path = root / "img" / Path(r["path"]).name
            path.parent.mkdir(parents=True, exist_ok=True)
            degrade(src, path)
        out.append([str(path), r["identity"], r["sex"], r["race"]])
    manifest = root / "gallery.csv"
    with manifest.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "subject_id", "sex", "race"])
        w.writerows(out)
    enroll(ws, manifest)
    return ws


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return gallery(tmp_path_factory.mktemp("clean"), chosen(), shifted=False)


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return gallery(tmp_path_factory.mktemp("shifted"), chosen(), shifted=True)


def test_the_model_is_fitted_on_the_gallery_and_names_its_domain(clean: Workspace) -> None:
    result = evaluate_gallery(clean, bootstraps=3, repeats=2)
    stored = em.latest(clean, model_space(clean.settings).key)
    assert stored is not None and stored.source == "measured"
    domain = f"gallery:{workspace_id(clean)}"
    assert stored.model.domain == domain == result.metrics["domain"]
    assert stored.describe()["domain"] == domain
    cal = stored.model.meta["calibration"]
    held = result.metrics["held_out"]
    assert cal["identities"] + held["identities"] == PEOPLE  # people split, not images
    assert stored.model.lr.mated_pairs > 0  # subjects with several photos gave mated pairs
    assert any(g.startswith("M/") for g in stored.model.groups)  # within recorded groups


def test_an_unshifted_gallery_is_not_flagged(clean: Workspace) -> None:
    shipped = em.latest(clean, model_space(clean.settings).key)
    assert shipped is not None
    model = em.EvidenceModel.from_bytes(em.shipped_payload(shipped.model.space_key) or b"")
    t = model.gallery_threshold(0.01, 210).threshold
    check = check_shift(clean, model, t)
    assert check is not None and check.pairs_checked > 0
    assert not check.shifted, check.statement()


def test_a_shifted_gallery_is_flagged_and_the_threshold_rises(shifted: Workspace) -> None:
    space = model_space(shifted.settings).key
    model = em.EvidenceModel.from_bytes(em.shipped_payload(space) or b"")
    t = model.gallery_threshold(0.01, 210).threshold
    check = check_shift(shifted, model, t)
    assert check is not None and check.shifted
    assert check.threshold >= t
    assert "not validated for this gallery" in check.statement()
    tail = gallery_tail(shifted, space)  # kept, and not recomputed when nothing changed
    assert tail.template_count > 0 and tail.hists["all"].comparisons >= 2_000
