from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from leadguard.core.errors import ManifestError
from leadguard.evaluation.protocols import LabelledImage, blufr_splits, lfw_pairs, manifest_pairs
from leadguard.evaluation.scores import VERIFY_COLUMNS, read_rows, score_value, write_rows
from tests.conftest import LFW


def test_lfw_view2_protocol(datasets: Path) -> None:
    pairs = lfw_pairs(LFW)
    assert len(pairs) == 6000
    assert Counter(p.fold for p in pairs) == {k: 600 for k in range(10)}
    assert sum(p.mated for p in pairs) == 3000
    first = pairs[0]
    assert first.probe.name == "Abel_Pacheco_0001.jpg" and first.reference.name.endswith(
        "_0004.jpg"
    )
    assert all(p.probe.exists() for p in pairs[:50])


def test_bad_pairs_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "protocols").mkdir()
    (tmp_path / "protocols" / "pairs.txt").write_text("1\t1\nA\t1\n")
    with pytest.raises(ManifestError, match=r"pairs\.txt"):
        lfw_pairs(tmp_path)


def test_blufr_split(datasets: Path) -> None:
    (split,) = blufr_splits(LFW, [1])
    assert len(split.gallery) == 1000
    enrolled = {i for _, i in split.gallery}
    assert len(enrolled) == 1000
    assert any(i not in enrolled for _, i in split.probes)  # open set
    assert any(i in enrolled for _, i in split.probes)


def test_manifest_pairs() -> None:
    imgs = [
        LabelledImage(Path(f"{i}_{k}.jpg"), f"id{i}", {"sex": "F" if i % 2 else "M", "race": "x"})
        for i in range(10)
        for k in range(i % 3 + 1)
    ]
    pairs = manifest_pairs(imgs, nonmated=30, within_group=12, seed=1)
    by_id = Counter(im.identity for im in imgs)
    expected_mated = sum(math.comb(n, 2) for n in by_id.values())
    assert sum(p.kind == "mated" for p in pairs) == expected_mated
    assert all(p.mated for p in pairs if p.kind == "mated")
    non = [p for p in pairs if p.kind == "nonmated"]
    assert len(non) == 30 and not any(p.mated for p in non)
    sex = {im.path: im.demographics["sex"] for im in imgs}
    within = [p for p in pairs if p.kind == "nonmated_within_group"]
    assert within and all(sex[p.probe] == sex[p.reference] for p in within)
    assert pairs == manifest_pairs(imgs, nonmated=30, within_group=12, seed=1)  # seeded


def test_score_file_roundtrip_keeps_failures(tmp_path: Path) -> None:
    rows = [
        {"probe": "a", "reference": "b", "mated": 1, "score": 0.5, "failure": ""},
        {
            "probe": "a",
            "reference": "c",
            "mated": 0,
            "score": float("-inf"),
            "failure": "no_face: no face",
        },
    ]
    for name in ("s.csv", "s.csv.gz"):
        write_rows(tmp_path / name, VERIFY_COLUMNS, rows)
        back = list(read_rows(tmp_path / name))
        assert [score_value(r["score"]) for r in back] == [0.5, float("-inf")]
        assert back[1]["failure"] == "no_face: no face"
