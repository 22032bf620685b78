"""Command ``fit``: train a fingerprint extractor on a dev folder and write its fingerprints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from trainprint.cli.app import (AxisOpt, CacheDirOpt, DeviceOpt, NoCacheOpt, OutOpt, Preset, ProgressOpt, SeedOpt,
                               SizeOpt, SkipBadOpt, SliceStepOpt, WindowOpt, app, cache_choice)


@app.command("fit")
def fit_cmd(
    name: Annotated[str, typer.Argument(help="Extractor: vectornet-1|12|123, dae-gu|gnu|gunu.")],
    dev_dir: Annotated[Path, typer.Argument(help="Dev folder: generated/, real_used/, real_not_used/.")],
    out: OutOpt,
    test: Annotated[
        Optional[Path], typer.Option("--test", help="Test folder (generated/, real_unknown/) to embed too.")
    ] = None,
    preset: Annotated[Preset, typer.Option("--preset", help="paper, fast (this CPU) or smoke (tests).")] = "fast",
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Override the preset's epochs.")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    size: SizeOpt = None,
    skip_bad: SkipBadOpt = False,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    progress: ProgressOpt = True,
    quiet: Annotated[bool, typer.Option("--quiet", hidden=True, help="Deprecated: --no-progress.")] = False,
    axis: AxisOpt = "axial", slice_step: SliceStepOpt = 1, window: WindowOpt = None,
) -> None:
    """Train NAME on DEV_DIR; write checkpoint, training curve, run.json and fingerprints.npz to --out.

    Run the same command again to resume an interrupted training.
    """
    from trainprint.extractors.fitrun import fit_run

    path = fit_run(name, dev_dir, out, test_dir=test, preset=preset, epochs=epochs, seed=seed,
                   device=device, size=size, skip_bad=skip_bad, cache_dir=cache_choice(cache_dir, no_cache),
                   progress=progress and not quiet)
    typer.echo(f"wrote {path}")
