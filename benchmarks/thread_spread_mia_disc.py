"""The spread of ``tests/test_mia_synthetic.py``'s discriminator AUCs over seeds at the current
thread count (issue 24: DISC_COPIES_FLOOR there is set from it). Prints one JSON line. Run from the
checkout at each thread count:

    for t in 1 2; do OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t PYTHONPATH=src python benchmarks/thread_spread_mia_disc.py; done
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_mia_synthetic import SEEDS, auc_of, task  # noqa: E402

if __name__ == "__main__":
    t0 = time.time()
    copies = {s: auc_of("mia-disc/cnn", *task("copies", s), s) for s in range(6)}
    indep = [auc_of("mia-disc/cnn", *task("independent", 100 + s), s) for s in SEEDS]
    print(json.dumps({"threads": torch.get_num_threads(), "copies": copies, "indep": indep,
                      "indep_mean": float(np.mean(indep)), "s": round(time.time() - t0, 1)}))
