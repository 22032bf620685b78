"""Cross-validation of membership methods on a dev set: folds, protocols, metrics, results files.

Protocols (``--protocol``):

- ``strict`` (default): stratified K-fold over the real images (U and NU). In each fold every
  extractor that reads labels is fitted on G plus that fold's training U/NU only: it never sees a
  held-out image. A label-free extractor also sees the held-out images, as ``real_unknown``. Each
  fitted extractor fingerprints every dev image and serves every method of that fold.
- ``paper``: every extractor is fitted once on the whole dev set (held-out labels included, as
  the paper did), then only the classifier is cross-validated. Its numbers are optimistic and
  every result row says so.

Similarity methods get ``R_pool`` = every real image of the dev set (labels never) and G.
The run folder layout is documented in docs/evaluation.md; a re-run with the same settings
resumes: finished (method, fold) pairs are read back from ``folds.csv`` / ``scores.csv`` and
cached fingerprints from ``fingerprints/``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from trainprint import io
from trainprint.config import PRESET_NAMES
from trainprint.errors import TrainprintError
from trainprint.extractors import make_extractor
from trainprint.imageset import GENERATED, REAL_NOT_USED, REAL_UNKNOWN, REAL_USED, ImageSet, labels_of
from trainprint.methods import GRID_METHODS, BASELINES, MethodSpec, parse_method
from trainprint.metrics import METRICS, binary_metrics, confusion, mean_std, tpr_at_fpr
from trainprint.progress import new_progress
from trainprint.runs import RunRecord
from trainprint.table1 import table1_markdown

PROTOCOLS = ("strict", "paper")
#: settings that must match for a run folder to be resumed (methods may be added)
RESUME_KEYS = ("dev_dir", "protocol", "preset", "folds", "seed", "epochs", "size", "groups")
NOT_CACHED = ("raw",)  # extractors whose output is the pixels themselves: recomputed, not saved
REPORT_PX = 64  # images.npz keeps the pixels at most this size
MAX_NOTES = 2  # distinct fold notes copied into a results.csv row

RESULT_FIELDS = (["method", "extractor", "strategy", "classifier", "protocol"]
                 + [f"{m}_{s}" for m in METRICS for s in ("mean", "std")]
                 + ["tpr_at_fpr05", "tpr_at_fpr10", "notes"])
FOLD_FIELDS = ["method", "fold", "n_train", "n_test", "tp", "fp", "tn", "fn", *METRICS, "notes"]
SCORE_FIELDS = ["method", "fold", "id", "split", "label", "score", "pred"]


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one ``evaluate`` run (saved as ``config.json``)."""

    dev_dir: str  # the dev folder (generated/, real_used/, real_not_used/)
    protocol: str = "strict"  # strict | paper (see the module docstring)
    preset: str = "fast"  # preset of every trained extractor: paper | fast | smoke
    methods: tuple[str, ...] = GRID_METHODS + BASELINES  # method ids, in output order
    folds: int = 10  # K of the stratified K-fold CV over U and NU
    seed: int = 0  # the one seed: folds, extractors, classifiers, resampling
    epochs: int | None = None  # overrides the preset's epochs of every trained extractor
    device: str = "auto"  # auto | cpu | cuda for extractors and similarities
    size: int | None = None  # resize images to size x size when loading
    keep_checkpoints: bool = False  # True: keep each fit's checkpoint.pt (Vector-Net ~135 MB); logs and curves always stay
    groups: str | None = None  # CSV with columns id and group (or patient): images of one group share a fold

    def check(self) -> "EvalConfig":
        if self.protocol not in PROTOCOLS:
            raise TrainprintError(f"--protocol {self.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
        if self.preset not in PRESET_NAMES:
            raise TrainprintError(f"--preset {self.preset!r}: expected one of {', '.join(PRESET_NAMES)}")
        if self.folds < 2:
            raise TrainprintError(f"--folds {self.folds}: expected at least 2")
        if self.epochs is not None and self.epochs < 1:
            raise TrainprintError(f"--epochs {self.epochs}: expected at least 1")
        if not self.methods:
            raise TrainprintError("--methods: no method to evaluate")
        for m in self.methods:
            parse_method(m)
        return self


# -- folds and extractors -------------------------------------------------------------------------


def make_folds(y: np.ndarray, n_folds: int, seed: int,
               groups: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds of the real images: ``(train_idx, test_idx)`` into ``y`` (n,) 0/1.

    With ``groups`` ((n,) labels, e.g. patient ids) no group is split across folds
    (``StratifiedGroupKFold``): sibling slices of one patient never sit on both sides of a fold.
    """
    y = np.asarray(y, dtype=np.int64)
    if groups is None:
        counts = np.bincount(y, minlength=2)
        unit = "images"
    else:
        counts = np.array([len(np.unique(groups[y == c])) for c in (0, 1)])
        unit = "groups"
    if counts.min() < n_folds:
        raise TrainprintError(
            f"{n_folds}-fold CV needs at least {n_folds} {unit} of each class; "
            f"got {counts[1]} real_used and {counts[0]} real_not_used (use --folds)"
        )
    if groups is None:
        skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in skf.split(np.zeros((len(y), 1)), y)]
    sgkf = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in sgkf.split(np.zeros((len(y), 1)), y, groups)]


def read_groups(path: str | Path, ids: np.ndarray) -> np.ndarray:
    """The group of each of ``ids`` from a CSV with an ``id`` column and a ``group`` (or
    ``patient``) column, as an (n,) unicode array. Every id must have a group."""
    path = Path(path)
    if not path.is_file():
        raise TrainprintError(f"--groups {path}: file not found")
    rows = io.read_csv(path)
    column = next((c for c in ("group", "patient") if rows and c in rows[0]), None)
    if not rows or "id" not in rows[0] or column is None:
        raise TrainprintError(f"--groups {path}: expected a CSV header with columns id and group (or patient)")
    table = {r["id"]: r[column] for r in rows}
    missing = [i for i in ids if i not in table]
    if missing:
        raise TrainprintError(f"--groups {path}: no group for {len(missing)} image(s), e.g. {missing[0]!r}")
    return np.array([table[i] for i in ids])


def fit_view(images: ImageSet, held_out: np.ndarray, uses_labels: bool) -> tuple[np.ndarray, np.ndarray]:
    """What an extractor may be fitted on: ``(pixels (n, H, W), split (n,))``.

    ``held_out`` (N,) bool marks the images whose labels must stay hidden. An extractor that
    reads labels does not see them at all; a label-free one sees them as ``real_unknown``."""
    if uses_labels:
        keep = ~held_out
        return images.pixels[keep], images.split[keep]
    split = np.where(held_out, REAL_UNKNOWN, images.split)
    return images.pixels, split


def extractor_params(name: str, **params: Any) -> dict[str, Any]:
    """The keywords of ``params`` that extractor ``name`` accepts (``raw`` takes none)."""
    from trainprint.extractors import extractor_class

    sig = inspect.signature(extractor_class(name)).parameters
    if any(p.kind is p.VAR_KEYWORD for p in sig.values()):
        return params
    return {k: v for k, v in params.items() if k in sig}


def fingerprints(name: str, images: ImageSet, fit_pixels: np.ndarray, fit_split: np.ndarray,
                 cache: Path | None, source: np.ndarray | None = None, **params: Any) -> np.ndarray:
    """Fit extractor ``name`` on ``(fit_pixels, fit_split)``, return its output for every image of
    ``images`` ((N, D), or (N, H, W) for ``raw``), cached in ``cache`` (an .npz with ``ids``,
    ``split``, ``source`` (N,) per image, default ``images.source``, and ``X``) when given."""
    if cache is not None and cache.exists() and name not in NOT_CACHED:
        z = io.load_npz(cache)
        if np.array_equal(z["ids"], images.ids) and np.array_equal(z["split"], images.split):
            return z["X"]
    ext = make_extractor(name, **extractor_params(name, **params))
    X = ext.fit(fit_pixels, fit_split).transform(images.pixels)
    if cache is not None and name not in NOT_CACHED:
        source = np.full(len(images), images.source) if source is None else np.asarray(source).astype(str)
        io.save_npz(cache, ids=images.ids, split=images.split, source=source, X=np.asarray(X, dtype=np.float32))
    return X


def uses_labels(name: str, **params: Any) -> bool:
    """Whether extractor ``name`` reads the used / not-used labels when it is fitted."""
    return bool(make_extractor(name, **extractor_params(name, **params)).uses_labels)


# -- one fold -------------------------------------------------------------------------------------


def run_method(spec: MethodSpec, X: np.ndarray, real_idx: np.ndarray, y: np.ndarray, train: np.ndarray,
               test: np.ndarray, gen_idx: np.ndarray, seed: int, device: str
               ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Fit ``spec`` on the training reals of a fold and score the held-out ones.

    ``X`` (N, ...) is the method's representation of every image, in image order; ``real_idx``
    (n_real,) maps real positions to image rows; ``train`` / ``test`` index ``real_idx``;
    ``y`` (n_real,) 0/1; ``seed`` seeds the method (evaluate passes seed + fold).
    Similarity methods also get ``R_pool`` = every real image, unlabelled.
    Returns (scores (n_test,), preds (n_test,), notes)."""
    if spec.kind == "classifier":
        X = X.reshape(len(X), -1)  # raw (N, H, W) -> (N, H*W)
    est = spec.factory(seed, device)
    R_pool = X[real_idx] if spec.kind == "similarity" else None
    est.fit(X[real_idx[train]], y[train], X[gen_idx], R_pool)
    R_test = X[real_idx[test]]
    scores = np.asarray(est.decision_function(R_test), dtype=np.float64)
    preds = np.asarray(est.predict(R_test), dtype=np.int64)
    return scores, preds, list(getattr(est, "notes_", []))


# -- the whole evaluation -------------------------------------------------------------------------


def evaluate(cfg: EvalConfig, out: str | Path, *, progress: bool = False) -> list[dict[str, Any]]:
    """Load ``cfg.dev_dir`` and run ``evaluate_images``; returns the results.csv rows."""
    from trainprint.data import load_dev

    cfg.check()
    images = load_dev(cfg.dev_dir, size=cfg.size, progress=progress)
    return evaluate_images(images, cfg, out, progress=progress)


def evaluate_images(images: ImageSet, cfg: EvalConfig, out: str | Path, *,
                    progress: bool = False) -> list[dict[str, Any]]:
    """Cross-validate every method of ``cfg`` on ``images`` and write the run folder ``out``."""
    cfg = _resume_config(cfg.check(), Path(out))
    out = Path(out)
    specs = [parse_method(m) for m in cfg.methods]
    real_idx = np.flatnonzero(images.mask(REAL_USED, REAL_NOT_USED))  # (n_real,)
    gen_idx = np.flatnonzero(images.mask(GENERATED))  # (m,)
    if len(gen_idx) == 0:
        raise TrainprintError(f"{cfg.dev_dir}: no generated images")
    y = labels_of(images.split[real_idx])  # (n_real,) 0/1
    groups = read_groups(cfg.groups, images.ids[real_idx]) if cfg.groups else None
    folds = make_folds(y, cfg.folds, cfg.seed, groups)  # checked before anything is written

    record = RunRecord(out, command="evaluate", config=cfg, seed=cfg.seed)
    io.write_json(out / "config.json", dataclasses.asdict(cfg))
    _save_images(images, out / "images.npz")
    fold_rows = _read_rows(out / "folds.csv")
    score_rows = _read_rows(out / "scores.csv")
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
                reps = _fold_reps(images, cfg, out, k, real_idx[test], todo, label_users, params, bar)
                for spec in todo:
                    X = reps[spec.extractor] if spec.extractor else np.zeros((len(images), 1), np.float32)
                    scores, preds, notes = run_method(spec, X, real_idx, y, train, test, gen_idx,
                                                      cfg.seed + k, cfg.device)
                    fold_rows.append(_fold_row(spec.id, k, len(train), y[test], preds, scores, notes))
                    score_rows += _score_rows(spec.id, k, images.take(real_idx[test]), y[test], scores, preds)
            _save_fold_files(out, cfg.methods, fold_rows, score_rows)  # a resume starts after this fold
            bar.fold_done()

    with record.stage("summary"):
        results = summarise(specs, fold_rows, score_rows, cfg.protocol, label_users)
        io.write_csv(out / "results.csv", results, RESULT_FIELDS)
        io.write_text(out / "table1.md", table1_markdown(results, cfg.protocol, cfg.folds))
    record.finish(n_methods=len(specs), n_folds=len(folds))
    return results


def summarise(specs: Sequence[MethodSpec], fold_rows: list[dict[str, Any]], score_rows: list[dict[str, Any]],
              protocol: str, label_users: dict[str, bool]) -> list[dict[str, Any]]:
    """One results.csv row per method: mean and std over folds, pooled TPR at low FPR, notes."""
    out = []
    for spec in specs:
        folds = [r for r in fold_rows if r["method"] == spec.id]
        scored = [r for r in score_rows if r["method"] == spec.id]
        row: dict[str, Any] = dict(method=spec.id, extractor=spec.extractor or "", strategy=spec.strategy,
                                   classifier=spec.classifier or spec.rule, protocol=protocol)
        for m in METRICS:
            row[f"{m}_mean"], row[f"{m}_std"] = mean_std([float(r[m]) for r in folds])
        labels = np.array([int(r["label"]) for r in scored])
        scores = np.array([float(r["score"]) for r in scored])
        row["tpr_at_fpr05"] = tpr_at_fpr(labels, scores, 0.05) if len(labels) else float("nan")
        row["tpr_at_fpr10"] = tpr_at_fpr(labels, scores, 0.10) if len(labels) else float("nan")
        notes: list[str] = []
        for r in folds:
            notes += [n for n in str(r.get("notes", "")).split(" | ") if n and n not in notes]
        if len(notes) > MAX_NOTES:
            notes = notes[:MAX_NOTES] + [f"(+{len(notes) - MAX_NOTES} more notes in folds.csv)"]
        if protocol == "paper" and spec.extractor and label_users.get(spec.extractor):
            notes.insert(0, "OPTIMISTIC: extractor fitted on all dev labels (paper protocol)")
        row["notes"] = " | ".join(notes)
        out.append(row)
    return out


# -- helpers --------------------------------------------------------------------------------------


def _fold_reps(images: ImageSet, cfg: EvalConfig, out: Path, k: int, held_out_rows: np.ndarray,
               todo: Sequence[MethodSpec], label_users: dict[str, bool], params: dict[str, Any],
               bar: "_Bars") -> dict[str, np.ndarray]:
    """Every extractor's output for fold ``k`` (strict) or for the whole dev set (paper)."""
    names = list(dict.fromkeys(s.extractor for s in todo if s.extractor))
    tag = f"fold-{k}" if cfg.protocol == "strict" else "all"
    held_out = np.zeros(len(images), dtype=bool)
    if cfg.protocol == "strict":
        held_out[held_out_rows] = True
    reps = {}
    bar.extractors(len(names))
    for name in names:
        bar.extractor(name, tag)
        fit_pixels, fit_split = fit_view(images, held_out, label_users[name])
        run_dir = out / "extractors" / tag / name
        reps[name] = fingerprints(name, images, fit_pixels, fit_split, out / "fingerprints" / tag / f"{name}.npz",
                                  run_dir=run_dir, **params)
        if not cfg.keep_checkpoints and name not in NOT_CACHED:  # weights are large; logs and curves stay
            (run_dir / "checkpoint.pt").unlink(missing_ok=True)
        bar.extractor_done()
    return reps


def _fold_row(method: str, k: int, n_train: int, y: np.ndarray, preds: np.ndarray, scores: np.ndarray,
              notes: list[str]) -> dict[str, Any]:
    tp, fp, tn, fn = confusion(y, preds)
    row: dict[str, Any] = dict(method=method, fold=k, n_train=n_train, n_test=len(y), tp=tp, fp=fp, tn=tn, fn=fn)
    row.update({m: _r6(v) for m, v in binary_metrics(y, preds, scores).items()})
    row["notes"] = " | ".join(dict.fromkeys(notes))
    return row


def _score_rows(method: str, k: int, held_out: ImageSet, y: np.ndarray, scores: np.ndarray,
                preds: np.ndarray) -> list[dict[str, Any]]:
    return [dict(method=method, fold=k, id=i, split=s, label=int(lab), score=_r6(v), pred=int(p))
            for i, s, lab, v, p in zip(held_out.ids, held_out.split, y, scores, preds)]


def _save_fold_files(out: Path, methods: Sequence[str], fold_rows: list[dict[str, Any]],
                     score_rows: list[dict[str, Any]]) -> None:
    """Rewrite folds.csv and scores.csv (atomically), rows in method order, then fold."""
    order = {m: i for i, m in enumerate(methods)}
    for rows, name, fields in ((fold_rows, "folds.csv", FOLD_FIELDS), (score_rows, "scores.csv", SCORE_FIELDS)):
        rows.sort(key=lambda r: (order.get(r["method"], len(order)), int(r["fold"])))
        io.write_csv(out / name, rows, fields)


def _r6(v: float) -> float:
    """``v`` as the CSV files keep it (6 significant digits), so a resumed run sums the same."""
    return float(f"{float(v):.6g}")


def _resume_config(cfg: EvalConfig, out: Path) -> EvalConfig:
    """``cfg`` with the dev dir resolved; when ``out`` holds a run, its settings must match and the
    methods become the union (old ones first)."""
    cfg = dataclasses.replace(cfg, dev_dir=str(Path(cfg.dev_dir).resolve()), methods=tuple(cfg.methods))
    path = out / "config.json"
    if not path.exists():
        return cfg
    old = io.read_json(path)
    for key in RESUME_KEYS:
        if old.get(key) != getattr(cfg, key):
            raise TrainprintError(
                f"{out}: holds a run with {key}={old.get(key)!r}, not {getattr(cfg, key)!r}; "
                "use another --out or the same settings to resume"
            )
    methods = list(old.get("methods", []))
    methods += [m for m in cfg.methods if m not in methods]
    return dataclasses.replace(cfg, methods=tuple(methods))


def _read_rows(path: Path) -> list[dict[str, Any]]:
    return io.read_csv(path) if path.exists() else []


def _save_images(images: ImageSet, path: Path) -> None:
    """``images.npz``: ids, split, source and pixels at most ``REPORT_PX`` px, for the report."""
    if path.exists():
        return
    pixels = images.pixels
    if pixels.shape[1] > REPORT_PX or pixels.shape[2] > REPORT_PX:
        from PIL import Image

        pixels = np.stack([np.asarray(Image.fromarray(p).resize((REPORT_PX, REPORT_PX), Image.BOX)) for p in pixels])
    io.save_npz(path, ids=images.ids, split=images.split, source=np.full(len(images), images.source),
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

    def extractors(self, n: int) -> None:
        if self.p is not None:
            self.p.reset(self.exts, total=n, description="extractors")

    def extractor(self, name: str, tag: str) -> None:
        if self.p is not None:
            self.p.update(self.exts, description=f"extractors ({tag}: {name})")

    def extractor_done(self) -> None:
        if self.p is not None:
            self.p.update(self.exts, advance=1)
