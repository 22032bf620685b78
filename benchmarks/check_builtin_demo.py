"""By hand: retrain the demo's generator and compare everything with the demo data shipped in the
package (``src/trainprint/demo/builtin``, made by ``trainprint make-demo --seed 0 --preset fast``).

The test suite checks the shipped folder against the code without training (the real slices made
anew, the generated images sampled from the shipped ``generator.pt``: tests/test_demo.py); training
takes 5-10 minutes on a 2-core CPU, so this script does the rest: ``make_demo`` with the shipped
seed and preset, then every PNG compared pixel for pixel, ``test_key.csv`` and ``patients.csv`` byte
for byte, and the generator's weights tensor for tensor. Exit 0 when all are equal, 1 otherwise.

    python benchmarks/check_builtin_demo.py --out /tmp/rebuilt
    OMP_NUM_THREADS=1 python benchmarks/check_builtin_demo.py --out /tmp/rebuilt1   # another thread default

``make_demo`` pins torch's thread count while the generator trains (``DEMO_THREADS``), so the
process's ``OMP_NUM_THREADS`` must not change the result. Other CPUs may still give other bits
(the vector kernels torch picks differ between processor generations).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from trainprint.core.files import read_json
from trainprint.demo.make import PRESETS, load_generator, make_demo
from trainprint.demo.pipeline import BUILTIN, BUILTIN_PRESET, BUILTIN_SEED


def differences(a: Path, b: Path) -> list[str]:
    """What differs between demo folders ``a`` and ``b`` (nothing: an empty list)."""
    out = []
    pngs = sorted(str(p.relative_to(a)) for p in a.rglob("*.png") if p.name != "samples.png")
    other = sorted(str(p.relative_to(b)) for p in b.rglob("*.png") if p.name != "samples.png")
    if pngs != other:
        out.append(f"the PNG files differ: {len(pngs)} against {len(other)}")
    for name in sorted(set(pngs) & set(other)):
        with Image.open(a / name) as x, Image.open(b / name) as y:
            if not np.array_equal(np.asarray(x), np.asarray(y)):
                out.append(f"{name}: other pixels")
    for name in ("test_key.csv", "patients.csv"):
        if (a / name).read_bytes() != (b / name).read_bytes():
            out.append(f"{name}: other bytes")
    cfg = PRESETS[BUILTIN_PRESET]
    ga, gb = (load_generator(p / "generator.pt", cfg).state_dict() for p in (a, b))
    out += [f"generator.pt: {k} differs" for k in ga if not torch.equal(ga[k], gb[k])]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="new folder for the retrained demo data")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    make_demo(args.out, seed=BUILTIN_SEED, preset=BUILTIN_PRESET, progress=True)
    took = time.perf_counter() - t0
    diff = differences(BUILTIN, args.out)
    info = read_json(args.out / "demo.json")
    print(f"make_demo seed {BUILTIN_SEED}, preset {BUILTIN_PRESET}: {took:.0f} s (generator "
          f"{info['generator']['train_seconds']:.0f} s at {info['generator']['torch_threads']} torch threads)")
    if diff:
        print(f"DIFFERENT from {BUILTIN} ({len(diff)} differences):")
        for line in diff[:20]:
            print("  " + line)
        return 1
    print(f"equal to {BUILTIN}: every PNG (samples.png aside), test_key.csv, patients.csv, generator weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
