"""Longer fuzzing: the Hypothesis targets of tests/unit/test_fuzz.py under the "long"
profile (20,000 examples each, random seed), or --examples N.

Usage: python benchmarks/fuzz.py [--examples 20000] [-k decode]
A failure prints the smallest failing input; add it to the test as an @example.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import save

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--examples", type=int, default=20000)
    ap.add_argument("-k", default="", help="Only targets whose name contains this.")
    args = ap.parse_args()
    env = {**os.environ, "HYPOTHESIS_PROFILE": "long", "FUZZ_EXAMPLES": str(args.examples)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           str(ROOT / "tests/unit/test_fuzz.py"), "--hypothesis-show-statistics"]  # fmt: skip
    if args.k:
        cmd += ["-k", args.k]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    print(proc.stdout[-6000:], proc.stderr[-2000:])
    save(
        "fuzz",
        {
            "examples_per_target": args.examples,
            "filter": args.k,
            "passed": proc.returncode == 0,
            "seconds": round(time.perf_counter() - started, 1),
            "summary": proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "",
        },
    )
    raise SystemExit(proc.returncode)


if __name__ == "__main__":
    main()
