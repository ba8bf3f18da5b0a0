from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from leadguard.core.errors import ManifestError
from leadguard.gallery.sources import read_source


def test_folder_source(tmp_path: Path) -> None:
    for subject in ("alice", "bob", "_unlabelled", ".hidden"):
        (tmp_path / subject).mkdir()
        (tmp_path / subject / "1.jpg").write_bytes(b"x")
    (tmp_path / "stray.jpg").write_bytes(b"x")
    src = read_source(tmp_path)
    assert sorted(i.info.external_id for i in src.items) == ["alice", "bob"]
    assert [p.reason for p in src.problems] == ["file is not inside a subject folder"]


def test_manifest_rows_good_and_bad(tmp_path: Path) -> None:
    m = tmp_path / "m.csv"
    m.write_text(
        "path,subject_id,encounter_date,sex,race,age,tattoo\n"
        "a/1.jpg,alice,2020-01-31,F,,34,left arm\n"
        ",bob,,,,,\n"
        "b/1.jpg,bob,31/01/2020,,,,\n"
        "/abs/c.jpg,carol,,,,,\n"
    )
    refused = read_source(m)  # /abs is outside the manifest's folder: refused by default
    assert [i.info.external_id for i in refused.items] == ["alice"]
    assert "outside the manifest's folder" in refused.problems[-1].reason
    src = read_source(m, roots=[Path("/abs")])
    assert [i.info.external_id for i in src.items] == ["alice", "carol"]
    alice = src.items[0]
    assert alice.path == tmp_path / "a/1.jpg"
    assert alice.info.encounter_date == date(2020, 1, 31)
    assert alice.info.sex == "F"
    assert alice.info.attributes == {"age": "34", "tattoo": "left arm"}
    assert src.items[1].path == Path("/abs/c.jpg")
    reasons = [(p.where.split()[-1], p.reason) for p in src.problems]
    assert reasons[0] == ("3", "row needs both path and subject_id")
    assert reasons[1][0] == "4" and "not a date" in reasons[1][1]


def test_identity_column_and_folder_manifest(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text(
        "path,identity,sex,race,age\nx.jpg,X,M,,\ny.jpg,Y,female,,\nz.jpg,Z,male,,\n"
    )
    src = read_source(tmp_path)
    assert [i.info.external_id for i in src.items] == ["X", "Y", "Z"]
    assert [i.info.sex for i in src.items] == ["M", "F", "M"]  # recorded as one code each


def test_bad_sources_are_named(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such folder or file"):
        read_source(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ManifestError, match=r"must be a folder or a \.csv"):
        read_source(tmp_path / "x.txt")
    bad = tmp_path / "bad.csv"
    bad.write_text("file,name\na,b\n")
    with pytest.raises(ManifestError, match="header must have 'path'"):
        read_source(bad)
