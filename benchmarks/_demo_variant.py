"""A variant of a demo preset's data, for the demo benchmarks: flags that change the patients per
role and the generator's settings, and the ``DemoConfig`` they give.

    from _demo_variant import add_variant_flags, variant   # with benchmarks/ on sys.path
    add_variant_flags(parser)                 # --patients, --steps, --coverage, --candidates
    cfg = variant(make.PRESETS[args.preset], args)
"""

from __future__ import annotations

import argparse
import dataclasses

from trainprint.demo.make import DemoConfig

ROLES = ("dev_used", "dev_not_used", "test_used", "test_not_used")


def add_variant_flags(ap: argparse.ArgumentParser) -> None:
    """The flags ``variant`` reads; each defaults to the preset's value."""
    ap.add_argument("--patients", type=int, default=None, help="patients per role (default: the preset's)")
    ap.add_argument("--steps", type=int, default=None, help="generator steps (default: the preset's)")
    ap.add_argument("--coverage", type=float, default=None, help="GanConfig.coverage_weight (default: the preset's)")
    ap.add_argument("--candidates", type=int, default=None,
                    help="GanConfig.coverage_candidates (default: the preset's)")


def variant(cfg: DemoConfig, args: argparse.Namespace) -> DemoConfig:
    """``cfg`` with the flags' changes."""
    gan = {k: v for k, v in (("steps", args.steps), ("coverage_weight", args.coverage),
                             ("coverage_candidates", args.candidates)) if v is not None}
    cfg = dataclasses.replace(cfg, gan=dataclasses.replace(cfg.gan, **gan))
    if args.patients is not None:
        cfg = dataclasses.replace(cfg, **{f"{r}_patients": args.patients for r in ROLES})
    return cfg
