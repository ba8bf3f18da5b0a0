"""The hostile-input corpus (tests/integration/hostile_corpus.py) through every command that
reads files, via the real CLI and the workspace's real model: a clear one-line error naming the file
and the reason, exit 2 for a single bad probe, a recorded failure and a batch that goes on for
enrollment, and never a traceback."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from leadguard.audit.log import verify
from leadguard.cli.main import app
from leadguard.core.textsafe import printable, shown_path
from leadguard.pipeline.decode import sha256_bytes
from leadguard.services.context import Context
from leadguard.storage.tables import TemplateRecord
from leadguard.storage.workspace import Workspace
from tests.integration.hostile_corpus import Kind, johns_chips, manifest_kinds, probe_kinds
from tests.models import model_for

pytestmark = pytest.mark.integration
runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    # an uncaught exception is kept by the runner (not printed): that is a traceback
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args}: {result.exception!r}\n{result.output}"
    )
    assert "Traceback" not in result.output
    assert "\x1b" not in result.output  # no terminal escape reaches the terminal raw
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def shared_model() -> Iterator[None]:
    """Every command uses one loaded real model of its workspace's space (instead of loading
    it per command)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Context, "face_model", lambda self: model_for(self.settings))
        yield


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Kind]]:
    folder = tmp_path_factory.mktemp("corpus") / "person"
    return folder, probe_kinds(folder)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory, shared_model: None) -> Path:
    root = tmp_path_factory.mktemp("hostile_ws")
    src = root / "src"
    for chip in johns_chips()[1:7]:
        (src / chip.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(chip, src / chip.parent.name / chip.name)
    ws = root / "ws"
    assert cli("init", str(ws))[0] == 0
    code, out = cli("enroll", str(src), "-w", str(ws), "--workers", "1")
    assert code == 0, out
    return ws


def error_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("error:")]


def check_refusal(kind: Kind, path: Path, code: int, out: str) -> list[str]:
    """What is wrong with how a bad probe was refused (empty: nothing)."""
    wrong = []
    lines = error_lines(out)
    if code != 2:
        wrong.append(f"exit {code}")
    if len(lines) != 1:
        wrong.append(f"{len(lines)} error lines")
    elif printable(shown_path(path)) not in lines[0]:
        wrong.append("error line does not name the file")
    elif kind.why.lower() not in lines[0].lower():
        wrong.append(f"reason lacks {kind.why!r}")
    return wrong


@pytest.mark.parametrize("command", ["search", "quality"])
def test_every_hostile_probe_is_refused_by_name_or_searched(
    command: str, corpus: tuple[Path, list[Kind]], gallery: Path
) -> None:
    folder, kinds = corpus
    assert len(kinds) >= 50
    extra = ["--source-type", "phone_photo", "--investigation", "--top-k", "3"]
    problems = {}
    for kind in kinds:
        path = folder / kind.name
        args = [command, str(path), "-w", str(gallery), *(extra if command == "search" else [])]
        code, out = cli(*args)
        if kind.ok:
            wrong = [] if code == 0 else [f"exit {code}: {out[-300:]}"]
        else:
            wrong = check_refusal(kind, path, code, out)
        if wrong:
            problems[kind.name] = (wrong, out[-400:])
    assert problems == {}


def test_enrolling_the_corpus_records_every_failure_and_goes_on(
    tmp_path: Path, corpus: tuple[Path, list[Kind]], shared_model: None
) -> None:
    folder, kinds = corpus
    src = tmp_path / "src"
    shutil.copytree(folder, src / "person", symlinks=True, ignore=lambda d, n: ["fifo.jpg"])
    os.mkfifo(src / "person" / "fifo.jpg")
    good = src / "person" / "plain.jpg"
    # hostile entries at the top: a link to '.', a FIFO, a stray file, bad subject names
    os.symlink(".", src / "self")
    os.mkfifo(src / "pipe")
    shutil.copy(good, src / "stray.jpg")
    for name in ("bad\nname", os.fsdecode(b"caf\xe9"), "x" * 200):
        (src / name).mkdir()
        shutil.copy(good, src / name / "a.jpg")
    markup = src / "[link=https:∕∕evil.example]Click [bold]"
    markup.mkdir()
    shutil.copy(johns_chips()[20], markup / "b.jpg")
    ws = tmp_path / "ws"
    cli("init", str(ws))
    code, out = cli("enroll", str(src), "-w", str(ws), "--workers", "2")
    assert code == 0, out
    flat = " ".join(out.split())  # the failure list soft-wraps nothing, but be safe
    missing = [
        k.name
        for k in kinds
        # a non-UTF-8 file name is enrolled under its shown name (a probe's is refused)
        if not k.ok
        and k.why != "UTF-8"
        and printable(shown_path(src / "person" / k.name)) not in flat
    ]
    missing += [
        n
        for n in ("self", "pipe", "stray.jpg", "bad\nname", os.fsdecode(b"caf\xe9"), "x" * 200)
        if printable(shown_path(src / n)) not in flat
    ]
    assert missing == []
    expected = {sha256_bytes((src / "person" / k.name).read_bytes()) for k in kinds if k.ok}
    w = Workspace.open(ws)
    with w.session() as s:
        templates = s.scalar(select(func.count()).select_from(TemplateRecord))
        assert verify(s).intact
    assert templates == len(expected) + 1  # + the markup-named subject's photo
    # a re-run enrolls nothing more and still names every problem without a traceback
    code, out = cli("enroll", str(src), "-w", str(ws), "--workers", "1")
    assert code == 0, out
    with w.session() as s:
        assert s.scalar(select(func.count()).select_from(TemplateRecord)) == templates


def test_manifests_are_refused_by_line_or_file(
    tmp_path: Path, shared_model: None, gallery: Path
) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    shutil.copy(johns_chips()[30], folder / "face.jpg")
    kinds = manifest_kinds(folder, "face.jpg")
    ws = tmp_path / "ws"
    cli("init", str(ws))
    problems = {}
    for k in kinds:
        path = folder / k.name
        code, out = cli("enroll", str(path), "-w", str(ws), "--workers", "1")
        flat = " ".join(out.split())
        if k.whole_file_refused:
            lines = error_lines(out)
            ok = code == 2 and len(lines) == 1 and str(path) in lines[0]
        else:
            ok = code == 0 and f"{path} line" in flat
        if not ok or k.why.lower() not in flat.lower():
            problems[k.name] = out[-500:]
    assert problems == {}
    # the same manifests (identity column) through `eval manifest`: refused or measured
    kinds = manifest_kinds(folder, "face.jpg", identity_column="identity")
    for k in kinds:
        code, out = cli(
            "eval", "manifest", str(folder / k.name), "-w", str(gallery),
            "--out", str(tmp_path / "r" / k.name), "--nonmated", "10", "--within-group", "5",
        )  # fmt: skip
        if code != 0 and not error_lines(out):
            problems[f"eval {k.name}"] = out[-500:]
    assert problems == {}


def test_markup_and_control_characters_cannot_forge_output(
    tmp_path: Path, shared_model: None
) -> None:
    chips = johns_chips()
    src = tmp_path / "src"
    src.mkdir()
    names = ["[/]", "[link=https://evil.example]Click[/link]", "plain"]
    rows = ["path,subject_id"]
    for i, (name, chip) in enumerate(zip(names, chips[40:43], strict=True)):
        shutil.copy(chip, src / f"{i}.jpg")
        rows.append(f'{i}.jpg,"{name}"')
    (src / "manifest.csv").write_text("\n".join(rows) + "\n")
    ws = tmp_path / "ws"
    cli("init", str(ws))
    assert cli("enroll", str(src), "-w", str(ws), "--workers", "1")[0] == 0
    probe = tmp_path / "probe\n#99 2020-01-01 forged: line.jpg"
    shutil.copy(chips[40], probe)
    code, out = cli(
        "search", str(probe), "-w", str(ws), "--source-type", "other", "--investigation"
    )
    assert code == 0, out
    flat = "".join(out.split())
    assert "[/]" in flat and "[link=https://evil.example]Click[/link]" in flat
    code, out = cli("searches", "-w", str(ws))
    assert code == 0
    assert not any(line.startswith("#99") for line in out.splitlines())
    assert "probe\\x0a#99" in out


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["--edit", "crop:nan,0,10,10"], "finite"),
        (["--edit", "crop:0,0,inf,100"], "finite"),
        (["--edit", "rotate:nan"], "finite"),
        (["--edit", "rotate:inf"], "finite"),
        (["--edit", "deblur:2,inf"], "finite"),
        (["--edit", "deblur:2,1e30"], "outside"),
        (["--edit", "resize:8", "--edit", "resize:8", "--edit", "resize:8"], "over the limit"),
        (["--face", "99"], "no face 99"),
        (["--incident-date", "0001-01-01"], "between"),
        (["--incident-date", "9999-12-31"], "between"),
    ],
)
def test_bad_search_options_are_refused(
    args: list[str], why: str, gallery: Path, corpus: tuple[Path, list[Kind]]
) -> None:
    folder, _ = corpus
    code, out = cli(
        "search", str(folder / "plain.jpg"), "-w", str(gallery), "--source-type", "other",
        "--investigation", *args,
    )  # fmt: skip
    assert code == 2, out
    assert len(error_lines(out)) == 1 and why in error_lines(out)[0], out


def test_eval_manifest_with_twin_files_and_no_mated_pairs(
    tmp_path: Path, shared_model: None, gallery: Path
) -> None:
    """Identical bytes twice: no IntegrityError. No mated pair: FNMR is said to be
    unmeasurable, FMR is measured."""
    folder = tmp_path / "d"
    folder.mkdir()
    rows = ["path,identity"]
    by_person: dict[str, Path] = {}
    for chip in johns_chips():
        by_person.setdefault(chip.parent.name, chip)
    for i, (person, chip) in enumerate(sorted(by_person.items())):
        shutil.copy(chip, folder / f"{i}.jpg")
        rows.append(f"{i}.jpg,{person}")
    shutil.copy(folder / "0.jpg", folder / "0_copy.jpg")  # identical bytes, another person
    rows.append("0_copy.jpg,Someone_Else")
    (folder / "m.csv").write_text("\n".join(rows) + "\n")
    code, out = cli(
        "eval", "manifest", str(folder / "m.csv"), "-w", str(gallery),
        "--out", str(tmp_path / "r"), "--nonmated", "20", "--within-group", "5",
    )  # fmt: skip
    assert code == 0, out
    assert "FNMR and EER cannot be measured" in " ".join(out.split())


def test_every_eval_command_refuses_unusable_data_by_name(
    tmp_path: Path, shared_model: None, gallery: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    header_only = tmp_path / "h.csv"
    header_only.write_text("path,identity\n")
    few = tmp_path / "few"
    few.mkdir()
    rows = ["path,identity"]
    for i, chip in enumerate(johns_chips()[:3]):
        shutil.copy(chip, few / f"{i}.jpg")
        rows.append(f"{i}.jpg,{chip.parent.name}")
    (few / "m.csv").write_text("\n".join(rows) + "\n")
    cases = [
        (["eval", "verify", "--data", str(empty)], empty),
        (["eval", "identify", "--data", str(empty)], empty),
        (["eval", "quality", "--data", str(empty)], empty),
        (["eval", "manifest", str(header_only)], header_only),
        (["eval", "evidence", str(header_only)], header_only),
        (["eval", "evidence", str(few / "m.csv")], few / "m.csv"),
        (["eval", "evidence", str(empty)], empty),
    ]
    for args, named in cases:
        code, out = cli(*args, "-w", str(gallery), "--out", str(tmp_path / "r"))
        lines = error_lines(out)
        assert code == 2 and len(lines) == 1 and str(named) in lines[0], (args, out)
