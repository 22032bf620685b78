"""The Typer application and the options every command shares.

Command modules (``cli_*.py``) register their commands on ``app``; each command only parses its
arguments and calls one library function. ``cli.main`` turns ``TrainprintError`` into one line on
stderr and exit code 2.

An option with a fixed set of values is a ``Literal`` type, so ``--help`` lists the values
(``--device <auto|cpu|cuda>``), shell completion offers them and a bad value is a usage error
(one ``error:`` line, exit 2). The values are written out here, not imported, so that the CLI
starts without torch; ``tests/test_cli_json.py`` checks them against the library's tuples
(``DEVICE_CHOICES``, ``PRESET_NAMES``, ``PROTOCOLS``, ``SUBMIT_ENGINES``, ``SEARCHES``, ``AXES``,
make-demo's ``FORMATS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from trainprint.core.version import __version__
from trainprint.data.intensity import PRESETS, parse_window
from trainprint.data.reading import AXES, Reading, current_reading, set_reading

app = typer.Typer(
    name="trainprint",
    help="Which real images did this generative model train on? Fingerprints, membership "
    "scores and ImageCLEFmedical GANs run files for synthetic medical images.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trainprint {__version__}")
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
#: the values of the options with a fixed set of them (see the module docstring)
Device = Literal["auto", "cpu", "cuda"]
Preset = Literal["paper", "fast", "smoke"]
Protocol = Literal["strict", "paper"]
Engine = Literal["auto", "memory", "local", "ray"]
Search = Literal["auto", "exhaustive", "two-stage"]
Axis = Literal["sagittal", "coronal", "axial"]
DemoFormat = Literal["png", "nifti"]

MemoryOpt = Annotated[str, typer.Option(
    "--memory", metavar="SIZE", help="The peak memory the run may reach, e.g. 2GB, 1.5GiB or 800MB (GB = 10^9 bytes): "
    "the generated images are read and compared in blocks of 1/32 of it (audit: and it says before it starts when "
    "the images cannot fit).")]
DeviceOpt = Annotated[
    Device, typer.Option("--device", help="auto (GPU when there is one), cpu or cuda.")
]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars (on stderr, and "
                                           "only when it is a terminal).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as one JSON object on stdout and "
                                       "everything else on stderr (docs/api.md, \"--json\").")]
#: --groups takes auto, none or a CSV file, so it is a string shown as auto|none|FILE
GroupsOpt = Annotated[str, typer.Option(
    "--groups", metavar="auto|none|FILE",
    help="Which real images are one patient (sibling group): auto (the default: the patients DICOM / NIfTI files "
    "name, else siblings inferred from the images, no labels), none (every image alone), or a CSV FILE with "
    "columns id and group (or patient).")]
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


AxisOpt = Annotated[Axis, typer.Option(
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


def say(line: str, err: bool = False) -> None:
    """One line for the reader: on stdout, or on stderr when ``err`` (``--json`` keeps stdout for the JSON)."""
    typer.echo(line, err=err)
