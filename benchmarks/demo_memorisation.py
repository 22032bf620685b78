"""How evenly does the demo's generator memorise its training patients? Trains the demo DCGAN as
``make-demo`` does (same seed streams) for a preset, optionally with another number of steps, and
prints the nearest-generated distance AUC on dev and test (``demo.json``'s sanity figure) and, per
patient of each role, the mean over its slices of the best SSIM to a generated image of its side
(dev images against dev generated images, test against test).

    python benchmarks/demo_memorisation.py --seed 1 [--preset fast] [--steps 3000] [--patients 8]
        [--coverage 20 --candidates 4]

``--patients`` sets the number of patients of each of the four roles, ``--coverage`` the generator's
coverage term (``GanConfig.coverage_weight``; 0 is a plain DCGAN).

Writes nothing. About as long as the demo's ``data`` stage (1-3 min on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _demo_variant import add_variant_flags, variant  # noqa: E402

import trainprint.demo.make as make  # noqa: E402
from trainprint.core.errors import TrainprintError  # noqa: E402
from trainprint.demo.generator import sample, train_gan  # noqa: E402
from trainprint.membership.scores import membership_scores  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", default="fast", choices=sorted(make.PRESETS))
    add_variant_flags(ap)
    args = ap.parse_args()
    cfg = variant(make.PRESETS[args.preset], args)
    # the seed streams of make_demo: anatomy, ids, GAN, dev samples, test samples
    s_anat, _s_ids, *s_torch = np.random.SeedSequence(args.seed).spawn(5)
    seed_gan, seed_dev, seed_test = (int(s.generate_state(1)[0]) for s in s_torch)
    roles = make._render_roles(cfg, np.random.default_rng(s_anat))
    train = np.concatenate([roles["dev_used"].pixels, roles["test_used"].pixels])
    cpu = torch.device("cpu")
    trained = train_gan(train, cfg.gan, seed=seed_gan, device=cpu)
    gen = {"dev": sample(trained.generator, cfg.dev_generated, seed=seed_dev, device=cpu),
           "test": sample(trained.generator, cfg.test_generated, seed=seed_test, device=cpu)}
    sig = make._membership_signal(roles, train, gen["dev"], gen["test"])
    print(f"preset {args.preset}, seed {args.seed}, {cfg.dev_used_patients} patients a role, {cfg.gan.steps} steps, "
          f"coverage {cfg.gan.coverage_weight:g}, {trained.seconds:.0f} s of training; "
          f"nearest-generated distance AUC dev {sig['dcr_auc_dev']:.3f}, test {sig['dcr_auc_test']:.3f}")
    for role, real in roles.items():
        g = gen[role.split("_")[0]]
        best = membership_scores("ssim", real.pixels.astype(np.float32) / 255, g.astype(np.float32) / 255).max
        per_patient = sorted(float(best[real.patient == p].mean()) for p in np.unique(real.patient))
        print(f"{role:>13}: best SSIM to a generated image, mean per patient: "
              + " ".join(f"{v:.3f}" for v in per_patient))


if __name__ == "__main__":
    try:
        main()
    except TrainprintError as e:  # bad flags: one line, exit 2
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
