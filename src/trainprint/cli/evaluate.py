"""Commands ``evaluate``, ``submit``, ``validate``, ``score``: parse, call one library function."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from trainprint.cli.app import (CacheDirOpt, DeviceOpt, NoCacheOpt, OutOpt, SeedOpt, SizeOpt, SkipBadOpt, app,
                               cache_choice)

PresetOpt = Annotated[str, typer.Option("--preset", help="Extractor preset: fast (CPU), paper or smoke.")]
MethodsOpt = Annotated[
    Optional[str],
    typer.Option("--methods", help="Comma-separated method ids or globs (vectornet-12/*/*); "
                 "default: the paper's Table 1 grid (36 methods)."),
]
EpochsOpt = Annotated[Optional[int], typer.Option("--epochs", help="Override the preset's training epochs.")]
FoldsOpt = Annotated[int, typer.Option("--folds", help="K of the stratified K-fold CV.")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")]


@app.command()
def evaluate(
    dev_dir: Annotated[Path, typer.Argument(help="Dev folder: generated/, real_used/, real_not_used/.")],
    out: OutOpt,
    preset: PresetOpt = "fast",
    protocol: Annotated[str, typer.Option("--protocol", help="strict (leak-free, default) or paper "
                                          "(extractors fitted on the whole dev set: optimistic).")] = "strict",
    methods: MethodsOpt = None,
    epochs: EpochsOpt = None,
    folds: FoldsOpt = 10,
    groups: Annotated[Optional[Path], typer.Option(
        "--groups", help="CSV with columns id and group (or patient): the images of one group (e.g. the "
                         "slices of one patient) are kept in one fold.")] = None,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    size: SizeOpt = None,
    keep_checkpoints: Annotated[bool, typer.Option(
        "--keep-checkpoints/--no-keep-checkpoints",
        help="Keep each fold's extractor checkpoint.pt (Vector-Net: ~135 MB per fit; off by default).")] = False,
    skip_bad: SkipBadOpt = False,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    progress: ProgressOpt = True,
) -> None:
    """Cross-validate membership methods on a dev set (the paper's Table 1 and more)."""
    from trainprint.evaluation.evaluate import EvalConfig, evaluate as run
    from trainprint.methods import BASELINES, expand_methods

    ids = expand_methods(methods)
    ids += [b for b in BASELINES if b not in ids]
    cfg = EvalConfig(dev_dir=str(dev_dir), protocol=protocol, preset=preset, methods=tuple(ids), folds=folds,
                     seed=seed, epochs=epochs, device=device, size=size, keep_checkpoints=keep_checkpoints,
                     groups=str(groups) if groups else None, skip_bad=skip_bad)
    rows = run(cfg, out, progress=progress, cache_dir=cache_choice(cache_dir, no_cache))
    _print_summary(rows, f"{protocol} protocol, {folds}-fold CV" + (" (OPTIMISTIC)" if protocol == "paper" else ""))
    typer.echo(f"wrote {out}/results.csv, folds.csv, scores.csv, table1.md")


@app.command()
def submit(
    dev_dir: Annotated[Path, typer.Argument(help="Dev folder the methods are fitted on.")],
    test_dir: Annotated[Path, typer.Argument(help="Test folder: generated/, real_unknown/.")],
    out: OutOpt,
    methods: MethodsOpt = None,
    from_run: Annotated[Optional[Path], typer.Option(
        "--from", help="Evaluate run folder (strict) whose CV MCC picks recommended.csv; "
        "without it a strict CV is run into OUT/evaluate/.")] = None,
    preset: PresetOpt = "fast",
    epochs: EpochsOpt = None,
    folds: FoldsOpt = 10,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    size: SizeOpt = None,
    skip_bad: SkipBadOpt = False,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    progress: ProgressOpt = True,
) -> None:
    """Write official run files for a test folder, their majority vote and a recommended one."""
    from trainprint.methods import expand_methods
    from trainprint.submit.pipeline import SubmitConfig, submit as run

    cfg = SubmitConfig(dev_dir=str(dev_dir), test_dir=str(test_dir), methods=tuple(expand_methods(methods)),
                       from_run=str(from_run) if from_run else None, preset=preset, epochs=epochs, folds=folds,
                       seed=seed, device=device, size=size, skip_bad=skip_bad)
    summary = run(cfg, out, progress=progress, cache_dir=cache_choice(cache_dir, no_cache))
    rec = summary["recommended"]
    typer.echo(f"wrote {len(summary['runs'])} run files to {out}/runs/, {out}/vote.csv, {out}/recommended.csv")
    typer.echo(f"recommended: {rec['method']} (strict-CV MCC {rec['mcc_mean']:.4f} +- {rec['mcc_std']:.4f}, "
               f"from {rec['source']})")


@app.command()
def validate(
    run_file: Annotated[Path, typer.Argument(help="Run file: <id>,<0|1> per line.")],
    test_dir: Annotated[Path, typer.Argument(help="Test folder whose real_unknown/ ids the file must cover.")],
) -> None:
    """Check a run file as the official validator does; one line per problem, exit 2 if any."""
    from trainprint.submit.runfiles import real_unknown_ids, validate_file

    problems = validate_file(run_file, real_unknown_ids(test_dir))
    for p in problems:
        typer.echo(f"{run_file}: {p}")
    if problems:
        raise typer.Exit(2)
    typer.echo("valid")


@app.command()
def score(
    run_file: Annotated[Path, typer.Argument(help="Run file to score.")],
    key_file: Annotated[Path, typer.Argument(help="Answer key in the run-file format.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Score a run file against a key: accuracy, precision, recall, specificity, F1, MCC, kappa."""
    from trainprint.submit.runfiles import score_run

    metrics = score_run(run_file, key_file)
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    for name, value in metrics.items():
        typer.echo(f"{name:<12} {value:.4f}" if isinstance(value, float) else f"{name:<12} {value}")


def _print_summary(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"trainprint evaluate: {title}")
    table.add_column("method", no_wrap=True)
    for col in ("acc", "F1", "MCC", "AUC", "TPR@5%FPR"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("notes", no_wrap=True, overflow="ellipsis", max_width=40)
    for r in rows:
        table.add_row(r["method"], _pm(r, "accuracy"), _pm(r, "f1"), _pm(r, "mcc"), _pm(r, "auc"),
                      _num(r["tpr_at_fpr05"]), str(r["notes"]))
    console = Console()
    if not console.is_terminal:  # a file or a pipe: do not cut method ids at 80 columns
        console = Console(width=160)
    console.print(table)


def _pm(r: dict[str, Any], m: str) -> str:
    mean, std = float(r[f"{m}_mean"]), float(r[f"{m}_std"])
    return "n/a" if math.isnan(mean) else f"{mean:.3f}±{std:.3f}"


def _num(v: Any) -> str:
    return "n/a" if math.isnan(float(v)) else f"{float(v):.3f}"
