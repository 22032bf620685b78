"""Command: ``trainprint audit GENERATED_DIR REAL_DIR [--reference DIR] [--dev DEV_DIR] --out RUN``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from trainprint.cli.app import (AxisOpt, CacheDirOpt, DeviceOpt, GroupsOpt, JsonOpt, MemoryOpt, NoCacheOpt, OutOpt, Preset,
                               ProgressOpt, Search, SeedOpt, SiblingsOpt, SizeOpt, SkipBadOpt, SliceStepOpt, WindowOpt, app, cache_choice,
                               say)


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
        "--method", help="The one method scored, without --dev: label-free on the images, sim-<pixel|ncc|ssim>/<rule> "
        "(default sim-ssim/calibrated), mia-<pixel|ncc|ssim>/<score>, mia-fusion/rank or mia-disc/cnn. With --dev "
        "the method is chosen by CV: give the candidates with --methods.")] = None,
    methods: Annotated[Optional[str], typer.Option(
        "--methods", help="The candidates a dev set's strict CV chooses among, so only with --dev (ids, globs or "
        "lists as for evaluate; default: every similarity method in pixel, NCC and SSIM space).")] = None,
    folds: Annotated[int, typer.Option("--folds", help="K of the dev set's strict CV.")] = 10,
    permutations: Annotated[int, typer.Option("--permutations", help="Label permutations of the dev set's null "
                                              "test.")] = 200,
    groups: GroupsOpt = "auto",
    siblings: SiblingsOpt = "leave-out",
    search: Annotated[Search, typer.Option(
        "--search", help="SSIM / NCC against the generated images: exhaustive (every pair), two-stage (cheap "
        "candidates, then the exact similarity on them only) or auto (two-stage when the exhaustive search would "
        "take minutes: from 10^11 real x generated x pixels).")] = "auto",
    memory: MemoryOpt = "2GB",
    fdr: Annotated[float, typer.Option("--fdr", help="With --reference: call used at Benjamini-Hochberg q <= "
                                       "this.")] = 0.05,
    preset: Annotated[Preset, typer.Option("--preset", help="Preset of trained extractors a candidate needs.")] = "fast",
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    size: SizeOpt = None,
    skip_bad: SkipBadOpt = False,
    cache_dir: CacheDirOpt = None,
    no_cache: NoCacheOpt = False,
    progress: ProgressOpt = True,
    as_json: JsonOpt = False,
    fail_on_evidence: Annotated[bool, typer.Option(
        "--fail-on-evidence", help="Exit 1 when the verdict is evidence of membership (a data-release gate in CI); "
        "0 otherwise, 2 on bad input.")] = False,
    axis: AxisOpt = "axial", slice_step: SliceStepOpt = 1, window: WindowOpt = None,
) -> None:
    """Audit a folder of real images: a verdict for each (used or not), the evidence (its nearest
    generated images), p-values, the overall verdict and the estimated number of members;
    writes audit.csv, audit.json, audit.html (and run.csv for a task test folder)."""
    from trainprint.api import audit_config
    from trainprint.audit.pipeline import audit
    from trainprint.report.audit_page import build_audit_page

    cfg = audit_config(str(generated_dir), str(real_dir), reference=str(reference) if reference else None,
                       dev=str(dev) if dev else None, method=method, methods=methods, folds=folds,
                       permutations=permutations, groups=groups, siblings=siblings, fdr=fdr, preset=preset, seed=seed, device=device,
                       size=size, skip_bad=skip_bad, search=search, memory=memory)
    summary = audit(cfg, out, progress=progress, cache_dir=cache_choice(cache_dir, no_cache),
                    say=lambda line: typer.echo(line, err=True), page=build_audit_page)
    verdict = summary.verdict_of()
    p = f", p = {verdict.p_value:.4g}" if verdict.p_value is not None else ""
    say(f"verdict: {summary.verdict}{p} ({summary.mode}; method {summary.method})", as_json)
    say(f"estimated members: {summary.members().line()}", as_json)
    say("called: " + ", ".join(f"{v} {k}" for k, v in summary.called.items()) + " images; "
        + ", ".join(f"{v} {k}" for k, v in summary.patients.called.items()) + f" of {summary.patients.n} patients",
        as_json)
    say(f"wrote {out}/audit.csv, {out}/patients.csv, {out}/audit.json"
        + (f", {out}/{summary.run_file}" if summary.run_file else ""), as_json)
    say(str(out / "audit.html"), as_json)
    if as_json:
        typer.echo(summary.to_json(), nl=False)
    if fail_on_evidence and summary.evidence:
        typer.echo("evidence of membership: exit 1 (--fail-on-evidence)", err=True)
        raise typer.Exit(1)
