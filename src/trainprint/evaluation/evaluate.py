"""``evaluate``: cross-validation of membership methods on a dev set, written to a run folder.

The road of one evaluation, each step in its own module of this folder:

    groups.py             sibling groups of the real images: inferred (default), read, or none
    folds.py              make_folds: stratified, grouped K-fold over the real images U and NU
    protocol.py           fit_view: what each extractor may be fitted on in a fold (strict / paper)
    fingerprint_cache.py  fingerprints: fit an extractor, embed every image, keep the result
    fold.py               evaluate_fold: every method on one fold (pure: arrays in, rows out)
    results.py            the rows of folds.csv, scores.csv, results.csv and their summary
    table1.py             the paper's Table 1 beside ours
    selection.py          the recommended method and the selection-aware estimate of choosing it
    null.py               the label-permutation null test and the verdict

Similarity methods get ``R_pool`` = every real image of the dev set (labels never) and G.
The run folder layout is documented in docs/evaluation.md; a re-run with the same settings
resumes: finished (method, fold) pairs are read back from ``folds.csv`` / ``scores.csv`` and
cached fingerprints from ``fingerprints/``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainprint.core import files
from trainprint.core.errors import TrainprintError
from trainprint.core.progress import new_progress
from trainprint.core.runs import RunRecord, check_out_dir, check_resume
from trainprint.data.imageset import GENERATED, REAL_NOT_USED, REAL_USED, ImageSet, labels_of, patients_of
from trainprint.data.load import CacheDir, load_dev
from trainprint.evaluation.config import RESUME_KEYS, EvalConfig
from trainprint.evaluation.fold import evaluate_fold, row_groups
from trainprint.scoring.siblings import describe, left_out
from trainprint.evaluation.folds import make_folds
from trainprint.evaluation.groups import AUTO, GROUPS_FILE, NONE, resolve_groups, write_groups
from trainprint.evaluation.protocol import uses_labels
from trainprint.evaluation.representations import fold_reps
from trainprint.evaluation.results import RESULT_FIELDS, read_rows, save_fold_files, summarise
from trainprint.evaluation.table1 import table1_markdown
from trainprint.evaluation.verdict import SELECTION_FILE, selection_of_run
from trainprint.methods import parse_method

REPORT_PX = 64  # images.npz keeps the pixels at most this size


def evaluate(cfg: EvalConfig, out: str | Path, *, progress: bool = False,
             cache_dir: CacheDir = None) -> list[dict[str, Any]]:
    """Load ``cfg.dev_dir`` and run ``evaluate_images``; returns the results.csv rows.
    ``cache_dir``: the decode cache (``trainprint.data``; ``False`` turns it off)."""
    cfg.check()
    check_out_dir(out)
    images = load_dev(cfg.dev_dir, size=cfg.size, skip_bad=cfg.skip_bad, cache_dir=cache_dir, progress=progress,
                      reading=cfg.reading)
    return evaluate_images(images, cfg, out, progress=progress)


def evaluate_images(images: ImageSet, cfg: EvalConfig, out: str | Path, *,
                    progress: bool = False) -> list[dict[str, Any]]:
    """Cross-validate every method of ``cfg`` on ``images`` and write the run folder ``out``."""
    out = check_out_dir(out)
    cfg = _resume_config(cfg.check(), out)
    specs = [parse_method(m) for m in cfg.methods]
    real_idx = np.flatnonzero(images.mask(REAL_USED, REAL_NOT_USED))  # (n_real,)
    gen_idx = np.flatnonzero(images.mask(GENERATED))  # (m,)
    if len(gen_idx) == 0:
        raise TrainprintError(f"{cfg.dev_dir}: no generated images")
    y = labels_of(images.split[real_idx])  # (n_real,) 0/1
    groups, group_info = resolve_groups(cfg.groups, images.ids[real_idx], images.pixels[real_idx], cfg.group_rule,
                                        device=cfg.device, patients=patients_of(images, real_idx))
    folds = make_folds(y, cfg.folds, cfg.seed, groups)  # checked before anything is written
    # the groups the scores leave out: named ones, inferred ones only with --siblings leave-out (scoring/siblings.py)
    rows_groups = left_out(row_groups(len(images), real_idx, groups), group_info["source"] not in (AUTO, NONE),
                           cfg.siblings)

    with RunRecord(out, command="evaluate", config=cfg, seed=cfg.seed) as record:
        record.data["groups"] = {**group_info, "scores": describe(group_info["source"] not in (AUTO, NONE),
                                                                  cfg.siblings, groups is not None)}
        files.write_json(out / "config.json", dataclasses.asdict(cfg))
        write_groups(out / GROUPS_FILE, images.ids[real_idx], groups)
        _save_images(images, out / "images.npz")
        fold_rows = read_rows(out / "folds.csv")
        score_rows = read_rows(out / "scores.csv")
        done = {(r["method"], int(r["fold"])) for r in fold_rows}
        params = dict(preset=cfg.preset, epochs=cfg.epochs, device=cfg.device, random_state=cfg.seed,
                      progress=progress)
        label_users = {e: uses_labels(e, **params) for e in {s.extractor for s in specs if s.extractor}}

        bar = _Bars(progress, len(folds))
        with bar:
            for k, (train, test) in enumerate(folds):
                todo = [s for s in specs if (s.id, k) not in done]
                if not todo:
                    bar.fold_done()
                    continue
                with record.stage(f"fold-{k}"):
                    bar.extractors(len({s.extractor for s in todo if s.extractor}))
                    reps = fold_reps(images, cfg, out, k, real_idx[test], todo, label_users, params, bar.on_fit)
                    new_folds, new_scores = evaluate_fold(todo, reps, k=k, ids=images.ids, split=images.split,
                                                          real_idx=real_idx, y=y, train=train, test=test,
                                                          gen_idx=gen_idx, seed=cfg.seed + k, device=cfg.device,
                                                          options=cfg.options, groups=rows_groups)
                    fold_rows += new_folds
                    score_rows += new_scores
                save_fold_files(out, cfg.methods, fold_rows, score_rows)  # a resume starts after this fold
                bar.fold_done()

        with record.stage("summary"):
            results = summarise(specs, fold_rows, score_rows, cfg.protocol, label_users,
                                None if groups is None else dict(zip(images.ids[real_idx], groups)))
            files.write_csv(out / "results.csv", results, RESULT_FIELDS)
            files.write_text(out / "table1.md", table1_markdown(results, cfg.protocol, cfg.folds))
        with record.stage("selection"):
            selection = selection_of_run(out, images, cfg)
            files.write_json(out / SELECTION_FILE, selection)
        record.finish(n_methods=len(specs), n_folds=len(folds), **selection)
        return results


def _resume_config(cfg: EvalConfig, out: Path) -> EvalConfig:
    """``cfg`` with the dev dir resolved; when ``out`` holds a run, its settings must match and the
    methods become the union (old ones first)."""
    groups = cfg.groups if cfg.groups in (AUTO, NONE) else str(Path(cfg.groups).resolve())
    cfg = dataclasses.replace(cfg, dev_dir=str(Path(cfg.dev_dir).resolve()), methods=tuple(cfg.methods), groups=groups)
    old = check_resume(out, "evaluate", cfg, RESUME_KEYS)
    if old is None:
        return cfg
    methods = list(old.get("methods", []))
    methods += [m for m in cfg.methods if m not in methods]
    return dataclasses.replace(cfg, methods=tuple(methods))


def _save_images(images: ImageSet, path: Path) -> None:
    """``images.npz``: ids, split, source and pixels at most ``REPORT_PX`` px, for the report."""
    if path.exists():
        return
    pixels = images.pixels
    if pixels.shape[1] > REPORT_PX or pixels.shape[2] > REPORT_PX:
        from PIL import Image

        pixels = np.stack([np.asarray(Image.fromarray(p).resize((REPORT_PX, REPORT_PX), Image.BOX)) for p in pixels])
    files.save_npz(path, ids=images.ids, split=images.split, source=np.full(len(images), images.source),
                pixels=pixels.astype(np.uint8))


class _Bars:
    """Rich progress bars over folds and over the extractors of a fold (or nothing)."""

    def __init__(self, enabled: bool, n_folds: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

        self.p = new_progress(enabled, TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn())
        if self.p is not None:
            self.folds = self.p.add_task("folds", total=n_folds)
            self.exts = self.p.add_task("extractors", total=0)

    def __enter__(self) -> "_Bars":
        if self.p is not None:
            self.p.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.p is not None:
            self.p.stop()

    def fold_done(self) -> None:
        if self.p is not None:
            self.p.update(self.folds, advance=1)

    def on_fit(self, name: str | None = None, tag: str = "") -> None:
        """``fold_reps``'s progress callback: (name, tag) before a fit, no argument after it."""
        if name is None:
            self.extractor_done()
        else:
            self.extractor(name, tag)

    def extractors(self, n: int) -> None:
        if self.p is not None:
            self.p.reset(self.exts, total=n, description="extractors")

    def extractor(self, name: str, tag: str) -> None:
        if self.p is not None:
            self.p.update(self.exts, description=f"extractors ({tag}: {name})")

    def extractor_done(self) -> None:
        if self.p is not None:
            self.p.update(self.exts, advance=1)
