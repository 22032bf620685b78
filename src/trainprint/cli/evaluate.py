"""Commands ``evaluate``, ``submit``, ``validate``, ``score``: parse, call one library function."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from trainprint.cli.app import (AxisOpt, CacheDirOpt, DeviceOpt, Engine, GroupsOpt, JsonOpt, MemoryOpt, NoCacheOpt,
                               OutOpt, Preset, ProgressOpt, Protocol, Search, SeedOpt, SiblingsOpt, SizeOpt, SkipBadOpt,
                               SliceStepOpt, WindowOpt, app, cache_choice, say)

PresetOpt = Annotated[Preset, typer.Option("--preset", help="Extractor preset: fast (CPU), paper or smoke.")]
MethodsOpt = Annotated[
    Optional[str],
    typer.Option("--methods", help="Comma-separated method ids, globs (vectornet-12/*/*) or lists: paper (the "
                 "36 rows of Table 1), table2 (its 9 runs), similarity (the 30 sim-* rules in pixel spaces), mia (the 13 "
                 "label-free mia-* scores), contrastive, mia-nu, default (paper + similarity + mia, used when "
                 "--methods is not given)."),
]
GroupSpaceOpt = Annotated[str, typer.Option("--group-space", help="Similarity of --groups auto: pixel, ncc or ssim.")]
GroupZOpt = Annotated[Optional[float], typer.Option(
    "--group-z", help="Robust z two images need to be linked (--groups auto; default: what the best of n unrelated "
    "images reaches by chance 0.5 times per image).")]
GroupKOpt = Annotated[int, typer.Option("--group-k", help="A link joins an image to one of its k most similar (--groups auto).")]
PermutationsOpt = Annotated[int, typer.Option(
    "--permutations", help="Label permutations of the null test behind the verdict (0: no test).")]
NullRefitsOpt = Annotated[int, typer.Option(
    "--null-refits", help="Permutations of the null test that retrain extractors which read labels (slow: a whole "
    "CV each); 0 (default): methods with such extractors are reported but not recommended.")]
FractionOpt = Annotated[bool, typer.Option(
    "--recommend-fraction", help="Let the recommendation pick a fraction rule (it assumes the share of used images).")]
FractionQOpt = Annotated[float, typer.Option("--fraction-q", help="Share of images the fraction rules call used.")]
EpochsOpt = Annotated[Optional[int], typer.Option("--epochs", help="Override the preset's training epochs.")]
FoldsOpt = Annotated[int, typer.Option("--folds", help="K of the stratified K-fold CV.")]


@app.command()
def evaluate(
    dev_dir: Annotated[Path, typer.Argument(help="Dev folder: generated/, real_used/, real_not_used/.")],
    out: OutOpt,
    preset: PresetOpt = "fast",
    protocol: Annotated[Protocol, typer.Option("--protocol", help="strict (leak-free, default) or paper "
                                          "(extractors fitted on the whole dev set: optimistic).")] = "strict",
    methods: MethodsOpt = None,
    epochs: EpochsOpt = None,
    folds: FoldsOpt = 10,
    groups: GroupsOpt = "auto",
    siblings: SiblingsOpt = "leave-out",
    group_space: GroupSpaceOpt = "pixel",
    group_z: GroupZOpt = None,
    group_k: GroupKOpt = 2,
    permutations: PermutationsOpt = 200,
    null_refits: NullRefitsOpt = 0,
    recommend_fraction: FractionOpt = False,
    fraction_q: FractionQOpt = 0.5,
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
    as_json: JsonOpt = False,
    axis: AxisOpt = "axial", slice_step: SliceStepOpt = 1, window: WindowOpt = None,
) -> None:
    """Cross-validate membership methods on a dev set (the paper's Table 1 and more)."""
    from trainprint.api import evaluate_config
    from trainprint.evaluation.evaluate import evaluate as run
    from trainprint.evaluation.summary import EvaluationSummary

    cfg = evaluate_config(str(dev_dir), protocol=protocol, preset=preset, methods=methods, folds=folds, seed=seed,
                          epochs=epochs, device=device, size=size, keep_checkpoints=keep_checkpoints, groups=groups, siblings=siblings,
                          group_space=group_space, group_z=group_z, group_k=group_k, skip_bad=skip_bad,
                          permutations=permutations, null_refits=null_refits, recommend_fraction=recommend_fraction,
                          fraction_q=fraction_q)
    rows = run(cfg, out, progress=progress, cache_dir=cache_choice(cache_dir, no_cache))
    summary = EvaluationSummary.of_run(out)
    _print_summary(rows, f"{protocol} protocol, {folds}-fold CV" + (" (OPTIMISTIC)" if protocol == "paper" else ""),
                   err=as_json)
    for line in summary.lines():
        say(line, as_json)
    say(f"wrote {out}/results.csv, folds.csv, scores.csv, groups.csv, selection.json, table1.md", as_json)
    if as_json:
        typer.echo(summary.to_json(), nl=False)


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
    groups: GroupsOpt = "auto",
    siblings: SiblingsOpt = "leave-out",
    group_space: GroupSpaceOpt = "pixel",
    group_z: GroupZOpt = None,
    group_k: GroupKOpt = 2,
    permutations: PermutationsOpt = 200,
    null_refits: NullRefitsOpt = 0,
    recommend_fraction: FractionOpt = False,
    fraction_q: FractionQOpt = 0.5,
    skip_bad: SkipBadOpt = False,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    progress: ProgressOpt = True,
    as_json: JsonOpt = False,
    engine: Annotated[Engine, typer.Option(
        "--engine", help="auto (stream the generated test images from 20,000 of them), memory (load them all), "
        "local (stream: decode and embed a chunk at a time into shards on disk) or ray (stream, embedding on "
        "Ray: pip install 'trainprint[distributed]'). docs/scale.md.")] = "auto",
    search: Annotated[Search, typer.Option(
        "--search", help="SSIM / NCC search: auto (two-stage when streaming), exhaustive, or two-stage (cheap "
        "candidates, then the exact similarity on them only).")] = "auto",
    candidates: Annotated[int, typer.Option(
        "--candidates", help="Two-stage search: generated candidates per real image.")] = 64,
    real_candidates: Annotated[int, typer.Option(
        "--real-candidates", help="Two-stage search: real candidates per generated image.")] = 4,
    chunk: Annotated[int, typer.Option(
        "--chunk", help="Streaming: generated images decoded and embedded at once.")] = 4096,
    workers: Annotated[int, typer.Option("--workers", help="Ray actors (--engine ray).")] = 2,
    memory: MemoryOpt = "2GB",
    axis: AxisOpt = "axial", slice_step: SliceStepOpt = 1, window: WindowOpt = None,
) -> None:
    """Write official run files for a test folder, their majority votes and a recommended one."""
    from trainprint.api import submit_config
    from trainprint.submit.pipeline import submit as run
    from trainprint.submit.summary import SubmitSummary

    cfg = submit_config(str(dev_dir), str(test_dir), methods=methods, from_run=from_run, preset=preset, epochs=epochs,
                        folds=folds, seed=seed, device=device, size=size, skip_bad=skip_bad, groups=groups, siblings=siblings,
                        group_space=group_space, group_z=group_z, group_k=group_k, permutations=permutations,
                        null_refits=null_refits, recommend_fraction=recommend_fraction, fraction_q=fraction_q,
                        engine=engine, search=search, candidates=candidates, real_candidates=real_candidates,
                        chunk=chunk, workers=workers, memory=memory)
    summary = SubmitSummary.from_dict(run(cfg, out, progress=progress, cache_dir=cache_choice(cache_dir, no_cache)))
    votes = ", ".join(f"{out}/{name}" for name in summary.votes)
    say(f"wrote {len(summary.runs)} run files to {out}/runs/, {votes}, {out}/recommended.csv (with recommended.json)",
        as_json)
    for line in summary.lines():
        say(line, as_json)
    if as_json:
        typer.echo(summary.to_json(), nl=False)


@app.command()
def validate(
    run_file: Annotated[Path, typer.Argument(help="Run file: <id>,<0|1> per line.")],
    test_dir: Annotated[Path, typer.Argument(help="Test folder whose real_unknown/ ids the file must cover.")],
    axis: AxisOpt = "axial", slice_step: SliceStepOpt = 1, window: WindowOpt = None,
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
    run_file: Annotated[Path, typer.Argument(help="Run file to score (with --table2: a submit run folder).")],
    key_file: Annotated[Path, typer.Argument(help="Answer key in the run-file format.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    table2: Annotated[bool, typer.Option(
        "--table2", help="RUN_FILE is a submit folder: score its Table 2 runs and vote.csv, write table2.md.")] = False,
) -> None:
    """Score a run file against a key: accuracy, precision, recall, specificity, F1, MCC, kappa."""
    from trainprint.submit.runfiles import score_run

    if table2:
        from trainprint.submit.table2 import write_table2

        path = write_table2(run_file, key_file)
        typer.echo(path.read_text(encoding="utf-8").rstrip())
        typer.echo(f"wrote {path}")
        return

    metrics = score_run(run_file, key_file)
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    for name, value in metrics.items():
        typer.echo(f"{name:<12} {value:.4f}" if isinstance(value, float) else f"{name:<12} {value}")


def _print_summary(rows: list[dict[str, Any]], title: str, *, err: bool = False) -> None:
    """The results table, on stdout (on stderr with ``err``: ``--json`` keeps stdout for the JSON)."""
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
    console = Console(stderr=err)
    if not console.is_terminal:  # a file or a pipe: do not cut method ids at 80 columns
        console = Console(width=160, stderr=err)
    console.print(table)


def _pm(r: dict[str, Any], m: str) -> str:
    mean, std = float(r[f"{m}_mean"]), float(r[f"{m}_std"])
    return "n/a" if math.isnan(mean) else f"{mean:.3f}±{std:.3f}"


def _num(v: Any) -> str:
    return "n/a" if math.isnan(float(v)) else f"{float(v):.3f}"
