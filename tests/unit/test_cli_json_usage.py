"""``--json`` answers a wrong command line in JSON on stdout too (a script reading stdout
got nothing and a usage box on stderr)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadguard.cli.main import app


def _call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        app(args=list(args), prog_name="leadguard")
    got = capsys.readouterr()
    return int(done.value.code or 0), got.out, got.err


def test_a_wrong_command_line_is_a_json_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _call(capsys, "search", "x.jpg", "--json", "--top-k", "0", "-w", str(tmp_path))
    body = json.loads(out)
    assert code == 2 and body["kind"] == "error" and body["error"] == "UsageError"
    assert "--top-k" in body["message"] and "greater than or equal to 1" in body["message"]
    code, out, _ = _call(capsys, "search", "--json")
    assert code == 2 and json.loads(out)["message"] == "Missing argument 'probe'."


def test_without_json_the_usage_box_stays_and_json_runs_still_exit_with_their_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _call(capsys, "search", "x.jpg", "--top-k", "0")
    assert code == 2 and out == "" and "Invalid value for '--top-k'" in err
    code, out, _ = _call(capsys, "version", "--json")  # no such option: still JSON
    assert code == 2 and "--json" in json.loads(out)["message"]
    code, out, _ = _call(capsys, "search", "x.jpg", "--json", "-w", str(tmp_path / "none"))
    assert code == 2 and json.loads(out)["error"] == "InputError"  # the command's own refusal
