"""Command: ``trainprint audit GENERATED_DIR REAL_DIR [--reference DIR] [--dev DEV_DIR] --out RUN``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from trainprint.cli.app import (AxisOpt, CacheDirOpt, DeviceOpt, NoCacheOpt, OutOpt, SeedOpt, SiblingsOpt, SizeOpt,
                               SkipBadOpt, SliceStepOpt, WindowOpt, app, cache_choice)


@app.command("audit")
def audit_cmd(
    generated_dir: Annotated[Path, typer.Argument(help="Folder of the generator's images (or NIfTI volumes).")],
    real_dir: Annotated[Path, typer.Argument(help="Folder of the real images to audit, or a tree of DICOM series or "
                                             "NIfTI volumes.")],
    out: OutOpt,
    reference: Annotated[Optional[Path], typer.Option(
        "--reference", help="Folder of real images known NOT to be in training (e.g. a dev set's real_not_used/): "
        "p-values, the global test and the estimated number of members are computed against them.")] = None,
    dev: Annotated[Optional[Path], typer.Option(
        "--dev", help="A labelled dev folder (generated/, real_used/, real_not_used/): the method is chosen by its "
        "strict, sibling-aware CV, with the selection-aware estimate and the permutation verdict.")] = None,
    method: Annotated[Optional[str], typer.Option(
        "--method", help="Without --dev: a label-free sim-<pixel|ncc|ssim>/<rule> (default sim-ssim/calibrated).")] = None,
    methods: Annotated[Optional[str], typer.Option(
        "--methods", help="With --dev: the candidates (ids, globs or lists as for evaluate; default: every "
        "similarity method in pixel, NCC and SSIM space).")] = None,
    folds: Annotated[int, typer.Option("--folds", help="K of the dev set's strict CV.")] = 10,
    permutations: Annotated[int, typer.Option("--permutations", help="Label permutations of the dev set's null "
                                              "test.")] = 200,
    groups: Annotated[str, typer.Option("--groups", help="Sibling groups: auto (the patients DICOM / NIfTI files name, "
                                        "else inferred from the pixels), none or a CSV "
                                        "(as evaluate); the dev set's folds and the reference test count a group once.")] = "auto",
    siblings: SiblingsOpt = "leave-out",
    fdr: Annotated[float, typer.Option("--fdr", help="With --reference: call used at Benjamini-Hochberg q <= "
                                       "this.")] = 0.05,
    preset: Annotated[str, typer.Option("--preset", help="Preset of trained extractors a candidate needs.")] = "fast",
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    size: SizeOpt = None,
    skip_bad: SkipBadOpt = False,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show progress bars.")] = True,
    axis: AxisOpt = "axial", slice_step: SliceStepOpt = 1, window: WindowOpt = None,
) -> None:
    """Audit a folder of real images: a verdict for each (used or not), the evidence (its nearest
    generated images), p-values, the overall verdict and the estimated number of members;
    writes audit.csv, audit.json, audit.html (and run.csv for a task test folder)."""
    from trainprint.audit import AuditConfig, audit
    from trainprint.audit.config import DEV_METHODS
    from trainprint.evaluation.config import EvalConfig
    from trainprint.methods import BASELINES
    from trainprint.methods import expand_methods
    from trainprint.report.audit_page import build_audit_page

    shared = EvalConfig(dev_dir=str(dev) if dev else "", protocol="strict",
                        methods=(tuple(expand_methods(methods)) if methods else DEV_METHODS) + BASELINES, folds=folds,
                        permutations=permutations, groups=groups, siblings=siblings, preset=preset, seed=seed, device=device, size=size,
                        skip_bad=skip_bad)
    cfg = AuditConfig(generated_dir=str(generated_dir), real_dir=str(real_dir), evaluation=shared,
                      reference_dir=str(reference) if reference else None, method=method, fdr=fdr)
    summary = audit(cfg, out, progress=progress, cache_dir=cache_choice(cache_dir, no_cache),
                    say=lambda line: typer.echo(line, err=True), page=build_audit_page)
    page = out / "audit.html"
    test, est = summary["test"], summary["estimate"]
    p = f", p = {test['p_value']:.4g}" if test.get("p_value") is not None else ""
    typer.echo(f"verdict: {summary['verdict']}{p} ({summary['mode']}; method {summary['method']})")
    if est.get("members") is not None:
        typer.echo(f"estimated members: {est['members']:.1f} of {est['n']} [95% {est['ci95'][0]:.1f}, "
                   f"{est['ci95'][1]:.1f}]")
    else:
        typer.echo(f"estimated members: not estimable ({est.get('why')})")
    typer.echo("called: " + ", ".join(f"{v} {k}" for k, v in summary["called"].items()) + " images; "
               + ", ".join(f"{v} {k}" for k, v in summary["patients"]["called"].items())
               + f" of {summary['patients']['n']} patients")
    typer.echo(f"wrote {out}/audit.csv, {out}/patients.csv, {out}/audit.json" + (f", {out}/{summary['run_file']}" if summary["run_file"]
                                                            else ""))
    typer.echo(str(page))
