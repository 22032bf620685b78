"""Command: ``trainprint report RUN_DIR [--out FILE] [--tsne]``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from trainprint.cli.app import app


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(help="Run folder of evaluate (or fit) to report on.")],
    out: Annotated[Optional[Path], typer.Option("--out", help="HTML file to write (default RUN_DIR/report.html).")] = None,
    tsne: Annotated[bool, typer.Option("--tsne", help="Map the fingerprints with t-SNE instead of PCA.")] = False,
) -> None:
    """Write one self-contained HTML report (tables, ROC, scores, fingerprint map, training curves,
    evidence gallery) from the files of a run folder."""
    from trainprint.report.build import build_report

    typer.echo(str(build_report(run_dir, out, tsne=tsne)))
