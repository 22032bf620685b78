"""Does the demo's selection-aware estimate predict its own test accuracy? Runs ``trainprint demo``
(the shipped ``fast`` preset unless ``--preset``) for each seed and prints, per seed, the inferred
groups, the recommended method, the selection-aware accuracy with its interval, the verdict, the
recommended run's accuracy against the demo's answer key, the gap, and the transfer check; the
rows are also written to ``OUT/estimate_check.csv``.

    python benchmarks/demo_estimate_check.py --seeds 0,1,2 --out /tmp/dchk
    python benchmarks/demo_estimate_check.py --seeds 0,1,2 --patients 8 --steps 2000 --coverage 20 \
        --candidates 4 --out /tmp/dchk8     # a variant of the fast preset's data

The variant flags change the ``fast`` demo data's patients per role and generator settings for this
process only (``make-demo`` records the whole config in ``data/demo.json``); the extractors keep the
``fast`` preset.
Each seed takes about 5 minutes on a 2-core CPU (docs/evaluation.md, "The demo's estimate against
its test set").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _demo_variant import add_variant_flags, variant  # noqa: E402

from trainprint.core import files  # noqa: E402
from trainprint.core.errors import TrainprintError  # noqa: E402
from trainprint.demo import make  # noqa: E402
from trainprint.demo.pipeline import run_demo  # noqa: E402


def check(seed: int, out: Path, preset: str) -> dict[str, object]:
    """One demo run; what the estimate said and what the test set said."""
    run_demo(out, seed=seed, device="cpu", preset=preset)
    rec = files.read_json(out / "run.json")
    sub = files.read_json(out / "submit" / "recommended.json")
    est, test_acc = rec["selection_aware"], rec["recommended_test_accuracy"]
    return {"seed": seed, "groups": rec["results"]["evaluate: inferred sibling groups vs the demo's patients"],
            "recommended": rec["recommended"]["method"], "estimate": round(est["accuracy"], 3),
            "ci95_low": round(est["accuracy_ci95"][0], 3), "ci95_high": round(est["accuracy_ci95"][1], 3),
            "verdict": rec["verdict"], "p_value": sub["null_test"].get("p_value"),
            "test_accuracy": round(test_acc, 3), "gap": round(abs(est["accuracy"] - test_acc), 3),
            "caution": sub["transfer"]["caution"] or "", "seconds": round(sum(rec["timings_s"].values()), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="fast")
    add_variant_flags(ap)
    args = ap.parse_args()
    make.PRESETS[args.preset] = variant(make.PRESETS[args.preset], args)  # this process only; demo.json records it
    root = Path(args.out)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows.append(check(seed, root / f"seed{seed}", args.preset))
        print(" | ".join(f"{k} {v}" for k, v in rows[-1].items()), flush=True)
        files.write_csv(root / "estimate_check.csv", rows, list(rows[0]))
    within = sum(float(r["gap"]) <= 0.10 for r in rows)  # type: ignore[arg-type]
    print(f"estimate within 0.10 of the test accuracy on {within} of {len(rows)} seeds")


if __name__ == "__main__":
    try:
        main()
    except TrainprintError as e:  # bad flags: one line, exit 2
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
