"""Command ``inspect``: read a task folder through the data layer and say what it holds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from trainprint.cli.app import (AxisOpt, CacheDirOpt, NoCacheOpt, ProgressOpt, SizeOpt, SkipBadOpt, SliceStepOpt,
                               WindowOpt, app, cache_choice)
from trainprint.data.inspection import inspect_folder


@app.command("inspect")
def inspect_cmd(
    folder: Annotated[Path, typer.Argument(help="A dev folder, a test folder, a folder holding dev/ and test/, or a "
                                           "folder of DICOM series or NIfTI volumes.")],
    size: SizeOpt = None,
    skip_bad: SkipBadOpt = False,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    progress: ProgressOpt = True,
    axis: AxisOpt = "axial", slice_step: SliceStepOpt = 1, window: WindowOpt = None,
) -> None:
    """Check a task folder before a long run: images per split, size, formats, intensities, patients, problems.

    Exit 0 when the folder is usable, 2 with a one-line error otherwise.
    """
    report = inspect_folder(
        folder, size=size, skip_bad=skip_bad, cache_dir=cache_choice(cache_dir, no_cache), progress=progress
    )
    typer.echo("\n".join(report.lines()))
