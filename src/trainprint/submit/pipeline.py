"""Official run files for a test folder: every method fitted on the whole dev set.

``RUN/runs/<method id, '/' -> '__'>.csv`` one run file per method; ``RUN/vote.csv`` the majority
vote of the non-baseline runs (the paper's submission 10; a tie takes the recommended method's
answer); ``RUN/recommended.csv`` the method with the best strict-CV MCC on the dev set (never a
baseline), read from an evaluate run (``--from``) or from one made for the purpose in
``RUN/evaluate/``; ``RUN/scores_test.csv`` (method, id, score, pred); ``RUN/fingerprints/all/``
and ``RUN/extractors/all/`` as in an evaluate run. Every run file is validated before it is
renamed into place.

What each kind of method is fitted on:
- classifiers: dev U/NU (and dev G for ``full``), then they score the test real images;
- label-free similarity rules and baselines: the test G and the test real images (no labels);
- similarity rules fitted on labels: dev U/NU with dev G, then they score the test real images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainprint.core import files
from trainprint.core.config import PRESET_NAMES
from trainprint.core.device import resolve_device
from trainprint.core.errors import TrainprintError
from trainprint.core.runs import RunRecord, check_out_dir
from trainprint.core.seeding import check_seed
from trainprint.data.imageset import GENERATED, REAL_NOT_USED, REAL_UNKNOWN, REAL_USED, ImageSet, labels_of
from trainprint.data.load import CacheDir, load_dev, load_test
from trainprint.evaluation.evaluate import EvalConfig, evaluate_images
from trainprint.evaluation.fingerprint_cache import fingerprints
from trainprint.evaluation.folds import make_folds
from trainprint.methods import BASELINES, GRID_METHODS, MethodSpec, parse_method
from trainprint.submit.runfiles import majority_vote, real_unknown_ids, write_run_file


@dataclass(frozen=True)
class SubmitConfig:
    """Settings of one ``submit`` run (saved in ``run.json``)."""

    dev_dir: str  # the dev folder the methods are fitted on
    test_dir: str  # the test folder (generated/, real_unknown/) the run files answer
    methods: tuple[str, ...] = GRID_METHODS  # method ids, one run file each
    from_run: str | None = None  # an evaluate run folder (strict) to pick the recommended method
    preset: str = "fast"  # preset of every trained extractor
    epochs: int | None = None  # overrides the preset's epochs
    folds: int = 10  # K of the strict CV made when there is no --from
    seed: int = 0  # the one seed
    device: str = "auto"  # auto | cpu | cuda
    size: int | None = None  # resize images to size x size when loading
    skip_bad: bool = False  # skip unreadable image files (listed in the log) instead of stopping

    def check(self) -> "SubmitConfig":
        """Every setting checked (errors name the value), before anything is read or written."""
        check_seed(self.seed)
        resolve_device(self.device)
        if self.preset not in PRESET_NAMES:
            raise TrainprintError(f"--preset {self.preset!r}: expected one of {', '.join(PRESET_NAMES)}")
        if self.folds < 2:
            raise TrainprintError(f"--folds {self.folds}: expected at least 2")
        if self.epochs is not None and self.epochs < 1:
            raise TrainprintError(f"--epochs {self.epochs}: expected at least 1")
        if not self.methods:
            raise TrainprintError("--methods: no method to submit")
        for m in self.methods:
            parse_method(m)
        if self.from_run and not (Path(self.from_run) / "results.csv").is_file():
            raise TrainprintError(f"--from {self.from_run}: no results.csv (expected an evaluate run folder)")
        return self


def run_file_name(method_id: str) -> str:
    """``vectornet-12/real/svm-2`` -> ``vectornet-12__real__svm-2.csv``."""
    return method_id.replace("/", "__") + ".csv"


def submit(cfg: SubmitConfig, out: str | Path, *, progress: bool = False,
           cache_dir: CacheDir = None) -> dict[str, Any]:
    """Load the dev and test folders and run ``submit_images``. ``cache_dir``: the decode cache
    (``trainprint.data``; ``False`` turns it off)."""
    cfg.check()
    check_out_dir(out)
    dev = load_dev(cfg.dev_dir, size=cfg.size, skip_bad=cfg.skip_bad, cache_dir=cache_dir, progress=progress)
    test = load_test(cfg.test_dir, size=cfg.size, skip_bad=cfg.skip_bad, cache_dir=cache_dir, progress=progress)
    return submit_images(dev, test, cfg, out, progress=progress)


def submit_images(dev: ImageSet, test: ImageSet, cfg: SubmitConfig, out: str | Path, *,
                  progress: bool = False) -> dict[str, Any]:
    """Fit every method of ``cfg`` on ``dev``, answer ``test``; write the run folder ``out``.
    Returns the summary saved in ``run.json`` (recommended method, vote, files)."""
    out = check_out_dir(out)
    specs = [parse_method(m) for m in cfg.check().methods]
    if dev.pixels.shape[1:] != test.pixels.shape[1:]:
        raise TrainprintError(f"{cfg.test_dir}: test images are {test.pixels.shape[1:]} px, dev images "
                              f"{dev.pixels.shape[1:]}; use --size")
    expected = real_unknown_ids(cfg.test_dir)
    if not cfg.from_run:  # the CV that picks recommended.csv must be possible: checked before writing
        make_folds(labels_of(dev.split[dev.mask(REAL_USED, REAL_NOT_USED)]), cfg.folds, cfg.seed)
    with RunRecord(out, command="submit", config=cfg, seed=cfg.seed) as record:
        return _submit(dev, test, cfg, out, record, specs, expected, progress)


def _submit(dev: ImageSet, test: ImageSet, cfg: SubmitConfig, out: Path, record: RunRecord,
            specs: list[MethodSpec], expected: list[str], progress: bool) -> dict[str, Any]:
    with record.stage("recommend"):
        rec = _recommend(dev, cfg, specs, out, progress)

    both = ImageSet.concat(dev, test)  # (N_dev + N_test, H, W); rows of dev first
    source = np.array(["dev"] * len(dev) + ["test"] * len(test))
    params = dict(preset=cfg.preset, epochs=cfg.epochs, device=cfg.device, random_state=cfg.seed,
                  progress=progress)
    reps: dict[str, np.ndarray] = {}
    with record.stage("fingerprints"):
        for name in dict.fromkeys(s.extractor for s in specs if s.extractor):
            # every extractor is fitted on the whole dev set, then fingerprints dev and test images
            reps[name] = fingerprints(name, both, dev.pixels, dev.split,
                                      out / "fingerprints" / "all" / f"{name}.npz", source=source,
                                      run_dir=out / "extractors" / "all" / name, **params)

    rows = _Rows(dev, test)
    answers: dict[str, np.ndarray] = {}
    score_rows: list[dict[str, Any]] = []
    with record.stage("methods"):
        for spec in specs:
            X = reps[spec.extractor] if spec.extractor else np.zeros((len(both), 1), np.float32)
            scores, preds = rows.answer(spec, X, cfg.seed, cfg.device)
            order = np.argsort(rows.test_ids)
            ids, preds, scores = rows.test_ids[order], preds[order], scores[order]
            write_run_file(out / "runs" / run_file_name(spec.id), list(ids), preds, expected)
            answers[spec.id] = preds
            score_rows += [dict(method=spec.id, id=i, score=float(s), pred=int(p))
                           for i, s, p in zip(ids, scores, preds)]
        files.write_csv(out / "scores_test.csv", score_rows, ["method", "id", "score", "pred"])

    ids = list(np.sort(rows.test_ids))
    if rec["method"] not in answers:
        raise TrainprintError(f"internal: recommended method {rec['method']!r} was not submitted")
    write_run_file(out / "recommended.csv", ids, answers[rec["method"]], expected)
    voters = [m for m in answers if m not in BASELINES]
    vote = majority_vote(np.stack([answers[m] for m in voters]), tie_break=answers[rec["method"]])
    write_run_file(out / "vote.csv", ids, vote, expected)
    n_ties = int(np.sum(2 * np.stack([answers[m] for m in voters]).sum(0) == len(voters)))
    summary = dict(recommended=rec, vote=dict(methods=voters, ties=n_ties,
                                              tie_rule="a tie takes the recommended method's answer"),
                   runs={m: f"runs/{run_file_name(m)}" for m in answers}, n_test=len(ids))
    record.finish(**summary)
    return summary


class _Rows:
    """Where each method reads its inputs in the dev + test arrays (dev rows first)."""

    def __init__(self, dev: ImageSet, test: ImageSet) -> None:
        n = len(dev)
        self.dev_real = np.flatnonzero(dev.mask(REAL_USED, REAL_NOT_USED))
        self.dev_gen = np.flatnonzero(dev.mask(GENERATED))
        self.test_real = n + np.flatnonzero(test.mask(REAL_UNKNOWN))
        self.test_gen = n + np.flatnonzero(test.mask(GENERATED))
        self.y = labels_of(dev.split[self.dev_real])
        self.test_ids = test.ids[self.test_real - n]
        if len(self.test_real) == 0:
            raise TrainprintError("test folder: no real_unknown images")

    def answer(self, spec: MethodSpec, X: np.ndarray, seed: int, device: str) -> tuple[np.ndarray, np.ndarray]:
        """(scores, preds) of ``spec`` for the test real images, each (n_test,)."""
        if spec.kind == "classifier":
            X = X.reshape(len(X), -1)
        est = spec.factory(seed, device)
        if spec.uses_labels:
            pool = X[self.dev_real] if spec.kind == "similarity" else None
            est.fit(X[self.dev_real], self.y, X[self.dev_gen], pool)
        else:  # label-free: the test generator's images and the test real pool
            R = X[self.test_real]
            est.fit(R, None, X[self.test_gen] if len(self.test_gen) else X[self.dev_gen], R)
        R = X[self.test_real]
        return (np.asarray(est.decision_function(R), dtype=np.float64), np.asarray(est.predict(R), dtype=np.int64))


def _recommend(dev: ImageSet, cfg: SubmitConfig, specs: list[MethodSpec], out: Path,
               progress: bool) -> dict[str, Any]:
    """The submitted method with the best strict-CV MCC (ties: AUC, then order); never a baseline."""
    candidates = [s.id for s in specs if s.kind != "baseline"]
    if not candidates:
        raise TrainprintError("--methods: only baselines; a run to recommend needs a real method")
    if cfg.from_run:
        run = Path(cfg.from_run)
        path = run / "results.csv"
        if not path.exists():
            raise TrainprintError(f"--from {run}: no results.csv (expected an evaluate run folder)")
        source = str(run)
    else:
        run = out / "evaluate"
        ecfg = EvalConfig(dev_dir=cfg.dev_dir, protocol="strict", preset=cfg.preset,
                          methods=tuple(candidates) + BASELINES, folds=cfg.folds, seed=cfg.seed,
                          epochs=cfg.epochs, device=cfg.device, size=cfg.size)
        evaluate_images(dev, ecfg, run, progress=progress)
        path, source = run / "results.csv", f"{run} (strict CV made by submit)"
    rows = [r for r in files.read_csv(path) if r["method"] in candidates]
    if any(r.get("protocol") != "strict" for r in rows):
        raise TrainprintError(f"--from {run}: its results are protocol 'paper' (optimistic); "
                              "the recommendation needs a strict-protocol evaluate run")
    rows = [r for r in rows if not math.isnan(files.csv_float(r["mcc_mean"]))]
    if not rows:
        raise TrainprintError(f"{path}: no strict-CV result for any submitted method "
                              f"({', '.join(candidates[:5])}{', ...' if len(candidates) > 5 else ''})")
    best = max(rows, key=lambda r: (files.csv_float(r["mcc_mean"]), _nan0(files.csv_float(r["auc_mean"])), -candidates.index(r["method"])))
    return dict(method=best["method"], mcc_mean=files.csv_float(best["mcc_mean"]), mcc_std=files.csv_float(best["mcc_std"]),
                f1_mean=files.csv_float(best["f1_mean"]), auc_mean=files.csv_float(best["auc_mean"]), source=source,
                reason=f"best strict-CV MCC among {len(rows)} submitted methods evaluated on the dev set "
                       "(MCC, not F1: answering 'used' for all already scores F1 0.667; baselines excluded)")


def _nan0(v: float) -> float:
    return -1.0 if math.isnan(v) else v

