"""The Typer application and the options every command shares.

Command modules (``cli_*.py``) register their commands on ``app``; each command only parses its
arguments and calls one library function. ``cli.main`` turns ``TrainprintError`` into one line on
stderr and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

import trainprint
from trainprint.data.intensity import PRESETS, parse_window
from trainprint.data.reading import AXES, Reading, current_reading, set_reading

app = typer.Typer(
    name="trainprint",
    help="Which real images did this generative model train on? Fingerprints, membership "
    "scores and ImageCLEFmedical GANs run files for synthetic medical images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trainprint {trainprint.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """trainprint command line."""
    set_reading(Reading())  # each command starts from the default reading; its options change it


# Options shared by every command (use these so names, defaults and help stay the same).
SeedOpt = Annotated[int, typer.Option("--seed", min=0, max=2**32 - 1,
                                      help="One seed for every random choice of the run (0 to 2^32 - 1).")]
DeviceOpt = Annotated[
    str, typer.Option("--device", help="auto (GPU when there is one), cpu or cuda.")
]
SizeOpt = Annotated[
    Optional[int],
    typer.Option("--size", help="Resize every image to N x N pixels (needed when sizes differ)."),
]
SkipBadOpt = Annotated[
    bool, typer.Option("--skip-bad", help="Skip unreadable image files and list them, instead of stopping.")
]
OutOpt = Annotated[Path, typer.Option("--out", help="Run folder to write (created if missing).")]
CacheDirOpt = Annotated[
    Optional[Path],
    typer.Option("--cache-dir", help="Folder for decoded images (default $TRAINPRINT_CACHE or ~/.cache/trainprint)."),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Neither read nor write the decode cache.")]


def cache_choice(cache_dir: Optional[Path], no_cache: bool) -> Path | None | bool:
    """What the data layer's ``cache_dir`` gets: ``False`` (off), a folder, or ``None`` (default)."""
    return False if no_cache else cache_dir


# How volumes are read (DICOM series, NIfTI): each option sets its part of the current reading
# (``data_reading``) while the command's options are parsed, so every loader the command calls
# uses it. A command that reads images adds the three on one line:
#     axis: AxisOpt = "axial", slice_step: SliceStepOpt = 1, window: WindowOpt = None,
def _set_axis(value: str) -> str:
    if value not in AXES:
        raise typer.BadParameter(f"{value!r}: expected one of {', '.join(AXES)}")
    set_reading(Reading(value, current_reading().slice_step, current_reading().window))
    return value


def _set_slice_step(value: int) -> int:
    set_reading(Reading(current_reading().axis, value, current_reading().window))
    return value


def _set_window(value: Optional[str]) -> Optional[str]:
    window = parse_window(value) if value is not None else None
    set_reading(Reading(current_reading().axis, current_reading().slice_step, window))
    return value


AxisOpt = Annotated[str, typer.Option(
    "--axis", callback=_set_axis, help="Volumes (NIfTI): slice along axial (default), coronal or sagittal.")]
SliceStepOpt = Annotated[int, typer.Option(
    "--slice-step", min=1, callback=_set_slice_step, help="Volumes: keep every k-th slice (slice 0, k, 2k, ...).")]
WindowOpt = Annotated[Optional[str], typer.Option(
    "--window", callback=_set_window,
    help=f"Volumes and 16-bit files: CENTER,WIDTH (e.g. 40,80, in HU for CT) or a preset ({', '.join(PRESETS)}) "
    "mapped to 0..255; default: the folder's range (8-bit data as is).")]
SiblingsOpt = Annotated[Literal["leave-out", "named", "keep"], typer.Option(
    "--siblings",
    help="Whether a score leaves out each image's own group (its siblings) when it compares the image with other "
    "real images: leave-out (the groups named by DICOM / NIfTI files or a --groups CSV, or inferred), named (only "
    "named groups; inferred ones keep the siblings) or keep (never). docs/membership.md, 'Patients and siblings'.")]
