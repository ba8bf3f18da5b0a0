"""The package as installed, not as checked out: a wheel built from the tree carries every
file the code reads at run time, and a clean virtual environment that has only that wheel
(the dependencies come from the test environment's site-packages, never from ``src/``) can
load the casework policy, the quality policy, the evidence model, compile the C scan kernel
and run ``leadguard demo`` (a workspace through its migrations, an enrolled LFW gallery, the
searches with the shipped evidence model)."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "leadguard"
LFW = ROOT.parent / "shared" / "datasets" / "lfw"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    # built from a copy of the tree, so no build/ or egg-info is left in the checkout
    subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(build / "src.tar"), "HEAD"],
        check=True,
    )
    tree = build / "tree"
    tree.mkdir()
    subprocess.run(["tar", "-xf", str(build / "src.tar"), "-C", str(tree)], check=True)
    # the working tree's package and its build settings, so uncommitted edits count too
    subprocess.run(["cp", "-r", str(PKG), str(tree / "src")], check=True)
    subprocess.run(["cp", str(ROOT / "pyproject.toml"), str(tree)], check=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(tree),
        ],
        check=True,
    )
    (whl,) = out.glob("leadguard-*.whl")
    return whl


def _package_files() -> set[str]:
    found = set()
    for p in PKG.rglob("*"):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
            found.add("leadguard/" + p.relative_to(PKG).as_posix())
    return found


def test_the_wheel_holds_every_file_of_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_package_files() - names)
    assert not missing, f"files of src/leadguard not in the wheel: {missing}"


def test_a_clean_environment_with_the_wheel_runs_leadguard(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    with zipfile.ZipFile(wheel) as z:  # what pip does for a pure wheel: unpack into purelib
        z.extractall(site)
    # the dependencies, without the checkout: a path line adds the test environment's
    # site-packages but does not run its .pth files (the editable install of src/)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    script = f"""
import leadguard, pathlib
assert pathlib.Path(leadguard.__file__).is_relative_to({str(site)!r}), leadguard.__file__
from leadguard.services.casework.policy import load_casework_policy
from leadguard.quality.gate import load_policy
from leadguard.index import _qkernel
from leadguard.cli.main import app
load_casework_policy()
load_policy()
from leadguard.evidence.model import shipped_payload
shipped = sorted((pathlib.Path(leadguard.__file__).parent / "evidence" / "data").glob("*.npz"))
assert shipped and all(shipped_payload(p.stem) for p in shipped), shipped
assert _qkernel.native() is not None, "the C kernel did not compile from the wheel"
app(["demo", "-w", {str(tmp_path / "ws")!r}, "--source", {str(LFW)!r}, "--subjects", "6"],
    standalone_mode=False)
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["LEADGUARD_KERNEL_CACHE"] = str(tmp_path / "kernels")
    r = subprocess.run(
        [str(py), "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, check=False
    )
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr
    assert "Probe 1" in r.stdout and "Enrollment summary" in r.stdout, r.stdout
