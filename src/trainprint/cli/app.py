"""The Typer application and the options every command shares.

Command modules (``cli_*.py``) register their commands on ``app``; each command only parses its
arguments and calls one library function. ``cli.main`` turns ``TrainprintError`` into one line on
stderr and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

import trainprint

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
