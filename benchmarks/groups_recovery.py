"""How well ``--groups auto`` recovers sibling groups: the demo's phantom patients over seeds, and
the group counts on the benchmarks' dev sets (docs/evaluation.md, "Trustworthy estimates").

    python benchmarks/groups_recovery.py [--seeds 10] [--benchmarks ../shared/benchmarks]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

from trainprint.data import load_dev
from trainprint.demo.make import PRESETS, _render_roles
from trainprint.evaluation.groups import group_summary, infer_groups


def demo_patients(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The demo's dev real slices (fast preset) and their patient numbers, rendered as make-demo does."""
    roles = _render_roles(PRESETS["fast"], np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[0]))
    dev = [roles["dev_used"], roles["dev_not_used"]]
    return np.concatenate([r.pixels for r in dev]), np.concatenate([r.patient for r in dev])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--benchmarks", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "benchmarks")
    args = ap.parse_args()
    for seed in range(args.seeds):
        pixels, patient = demo_patients(seed)
        g = infer_groups(pixels)
        split = sum(len(set(g[patient == p])) > 1 for p in np.unique(patient))
        mixed = sum(len(set(patient[g == k])) > 1 for k in np.unique(g))
        print(f"demo seed {seed}: {len(set(g))} groups for {len(set(patient))} patients, "
              f"ARI {adjusted_rand_score(patient, g):.3f}, patients split {split}, groups mixing patients {mixed}")
    for name in ("ctmem64", "cxrmem64", "cxrmem64-small"):
        folder = args.benchmarks / name / "dev"
        if not folder.is_dir():
            print(f"{name}: {folder} absent, skipped")
            continue
        real = load_dev(folder).where("real_used", "real_not_used")
        s = group_summary(infer_groups(real.pixels))
        print(f"{name} dev: {s['n_groups']} groups among {s['n_images']} real images, {s['singletons']} singletons, "
              f"largest {s['largest']}")


if __name__ == "__main__":
    main()
