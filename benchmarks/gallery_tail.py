"""The gallery's own score tail (evidence shift check): time to build it from scratch.

The gallery is SYNTHETIC unit vectors (labelled as such; the cost of sampling and scoring
pairs does not depend on what the vectors hold), two templates a subject, with a recorded
sex for two thirds of them and a race for four fifths (so most templates also sample within
their groups, as a booking gallery's do). ``update_tail`` is timed once per size and run;
the sampled pair counts are reported so that runs can be compared.

Usage: python benchmarks/gallery_tail.py [--sizes 20000 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from _common import median, save
from leadguard.evidence.shift import GalleryTail, update_tail
from leadguard.storage.queries import LabelledTemplates


def synthetic(n: int, seed: int = 0) -> LabelledTemplates:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 128)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    sex = [None if i % 3 == 0 else ("M" if i % 2 else "F") for i in range(n)]
    race = [None if i % 5 == 0 else f"group{i % 4}" for i in range(n)]
    subjects = [f"S{i // 2}" for i in range(n)]
    return LabelledTemplates(np.arange(1, n + 1), x, subjects, sex, race, list(range(n)))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rows = []
    for n in args.sizes:
        data = synthetic(n)
        times, pairs = [], {}
        for _ in range(args.runs):
            t = time.perf_counter()
            tail = update_tail(GalleryTail(), data)
            times.append(time.perf_counter() - t)
            pairs = {g: h.comparisons for g, h in sorted(tail.hists.items())}
        rows.append(
            {
                "templates": n,
                "vectors": "synthetic unit vectors (labelled: not faces)",
                "runs_s": times,
                "median_s": median(times),
                "sampled_pairs": pairs,
            }
        )
        print(
            f"{n:>8} synthetic templates: tail built in {median(times):.1f} s (median of "
            f"{args.runs}); {pairs['all']:,} pairs overall, {len(pairs) - 1} groups"
        )
    print(f"saved {save('gallery_tail', {'runs': args.runs, 'results': rows})}")


if __name__ == "__main__":
    main()
