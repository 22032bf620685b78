"""Does the demo's selection-aware estimate predict its test accuracy? The demo with a larger test
set (``--test-patients`` used + the same number not used, 5 slices each), everything else the
``fast`` preset; prints the estimate with its interval beside the recommended run's test accuracy.

    python benchmarks/demo_estimate_check.py --seed 0 --out /tmp/dchk-s0 [--test-patients 20]

The shipped ``fast`` preset has 4 + 4 test patients (40 slices): too few for its test accuracy to
check an estimate (docs/evaluation.md, "The demo's estimate against its test set").
"""

from __future__ import annotations

import argparse
import dataclasses

import trainprint.demo.make as make
from trainprint.demo.pipeline import run_demo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--test-patients", type=int, default=20)
    args = ap.parse_args()
    # a benchmark-only preset: the demo's own presets stay as documented
    make.PRESETS["fast"] = dataclasses.replace(make.PRESETS["fast"], test_used_patients=args.test_patients,
                                               test_not_used_patients=args.test_patients)
    result = run_demo(args.out, seed=args.seed, device="cpu")
    for line in result.verdict_lines:
        print(line)
    for stage, measure, value in result.rows:
        if stage.startswith("test set") and ("recommended" in measure or "selection-aware" in measure):
            print(f"{measure}: {value}")


if __name__ == "__main__":
    main()
