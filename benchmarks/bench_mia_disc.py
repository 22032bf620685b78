"""Which training settings let ``mia-disc/cnn`` find the synthetic copies (docs/membership.md,
"Discriminator"): AUC on tests/test_mia_synthetic.py's tasks, with the test's own functions, for
copies (seeds 0..n-1) and independent samples (seeds 100..100+n-1), one row per setting.

    OMP_NUM_THREADS=1 python benchmarks/bench_mia_disc.py                 # every setting, 5 seeds (~15 min)
    OMP_NUM_THREADS=1 python benchmarks/bench_mia_disc.py --settings fast,old --seeds 2

Settings are ``DiscriminatorMethod`` keywords on top of the ``fast`` preset, and its architecture.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import test_mia_synthetic as T  # noqa: E402

from trainprint.membership.mia import discriminator as D  # noqa: E402
from trainprint.nets.discriminator import DiscriminatorArch  # noqa: E402

FAST_ARCH = D.PRESETS["fast"].arch
NO_FRONT = dataclasses.replace(FAST_ARCH, blur=0.0, max_side=0)
#: name -> (DiscriminatorMethod keywords, architecture)
SETTINGS: dict[str, tuple[dict[str, Any], DiscriminatorArch]] = {
    "fast": ({}, FAST_ARCH),
    "old (15 epochs, no low-pass, no noise)": ({"epochs": 15, "noise": 0.0}, NO_FRONT),
    "300 steps, no low-pass, no noise": ({"noise": 0.0}, NO_FRONT),
    "noise 0.1": ({"noise": 0.1}, FAST_ARCH),
    "200 steps": ({"steps": 200}, FAST_ARCH),
    "150 steps, lr 2e-3": ({"steps": 150, "lr": 2e-3}, FAST_ARCH),
    "100 steps, lr 3e-3": ({"steps": 100, "lr": 3e-3}, FAST_ARCH),
    "width 8": ({}, dataclasses.replace(FAST_ARCH, width=8)),
    "batch 16": ({"batch_size": 16}, FAST_ARCH),
}


def auc(setting: str, case: str, seed: int) -> float:
    kw, arch = SETTINGS[setting]
    R, y, G = T.task(case, seed)
    D.PRESETS["fast"] = dataclasses.replace(D.PRESETS["fast"], arch=arch)
    try:
        m = D.DiscriminatorMethod("fast", random_state=seed % 100, **kw).fit(R, None, G, R)
    finally:
        D.PRESETS["fast"] = dataclasses.replace(D.PRESETS["fast"], arch=FAST_ARCH)
    return float(roc_auc_score(y, m.decision_function(R)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names or prefixes")
    ap.add_argument("--seeds", type=int, default=5)
    a = ap.parse_args()
    names = [n for want in a.settings.split(",") for n in SETTINGS if n.startswith(want.strip())]
    torch.set_num_threads(1)
    print("| setting | copies AUC per seed | mean (min) | independent AUC, mean (min-max) | s per fit |")
    print("|---|---|---|---|---|")
    for name in dict.fromkeys(names):
        t0 = time.time()
        cop = [auc(name, "copies", s) for s in range(a.seeds)]
        ind = [auc(name, "independent", 100 + s) for s in range(a.seeds)]
        per_fit = (time.time() - t0) / (2 * a.seeds)
        print(f"| {name} | {', '.join(f'{c:.3f}' for c in cop)} | {np.mean(cop):.3f} ({min(cop):.3f}) | "
              f"{np.mean(ind):.3f} ({min(ind):.2f}-{max(ind):.2f}) | {per_fit:.1f} |", flush=True)


if __name__ == "__main__":
    main()
