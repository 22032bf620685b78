"""Commands ``make-demo`` (the built-in demo data) and ``demo`` (the main job on it, end to end)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from trainprint.cli.app import DemoFormat, DeviceOpt, Preset, ProgressOpt, SeedOpt, app

PresetOpt = Annotated[
    Preset, typer.Option("--preset", help="fast (sized for a 2-core CPU: training its generator took 4.5-10 min "
                         "there; demo --seed 0 starts from shipped data instead), paper (the 2023 task's counts) or "
                         "smoke (seconds).")
]


@app.command("make-demo")
def make_demo_cmd(
    folder: Annotated[Path, typer.Argument(help="Folder to create (must be new or empty).")],
    seed: SeedOpt = 0,
    size: Annotated[Optional[int], typer.Option("--size", help="Image side: 64 (default), 128 or 256.")] = None,
    device: DeviceOpt = "cpu",
    preset: PresetOpt = "fast",
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier demo folder at FOLDER.")] = False,
    fmt: Annotated[DemoFormat, typer.Option("--format", help="png (the task's layout) or nifti (each real patient one "
                                            "NIfTI volume; generated images stay PNGs).")] = "png",
    progress: ProgressOpt = True,
) -> None:
    """Make demo task data: procedural chest-CT slices, a small GAN trained on the used ones.

    Writes FOLDER/dev, FOLDER/test (task layout), FOLDER/test_key.csv, patients.csv, demo.json,
    generator.pt (the trained weights), samples.png.
    """
    from trainprint.demo.make import make_demo

    out = make_demo(folder, seed=seed, size=size, device=device, preset=preset, force=force, progress=progress, fmt=fmt)
    typer.echo(f"demo data written to {out} (answer key: {out / 'test_key.csv'})")


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo data and results.")] = Path(
        "trainprint-demo"
    ),
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    preset: PresetOpt = "fast",
    regenerate: Annotated[bool, typer.Option("--regenerate", help="Make the demo data anew (trains the generator, "
                                             "minutes) instead of copying the data shipped for seed 0, fast.")] = False,
    progress: ProgressOpt = True,
) -> None:
    """Run trainprint end to end on built-in demo data, then print the results and file locations.

    Seed 0 with the fast preset starts from the demo data shipped in the package (made by make-demo
    --seed 0); --regenerate, another seed or preset train the demo's generator first. --out must be new,
    empty or an earlier demo run (resumed).
    """
    from rich.console import Console
    from rich.table import Table

    from trainprint.demo.pipeline import run_demo

    result = run_demo(out, seed, device, preset=preset, progress=progress, regenerate=regenerate)
    console = Console()
    console.print("\n".join(result.inspect_lines), markup=False, highlight=False)
    table = Table(title="trainprint demo results")
    for name in ("stage", "measure", "value"):
        table.add_column(name)
    for row in result.rows:
        table.add_row(*row)
    console.print(table)
    for line in result.verdict_lines:
        console.print(line, markup=False, highlight=False)
    for what, path in result.files.items():
        console.print(f"{what}: {path}", markup=False, highlight=False)
    typer.echo(f"open the audit of the test folder: {result.files['audit page']}")
