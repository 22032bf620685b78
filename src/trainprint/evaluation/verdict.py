"""The verdict of a finished evaluation: the recommended method, the selection-aware estimate of
choosing it, and the null test (``selection.json``).

Candidates are the evaluated methods that can be recommended (``selection.candidates``) and whose
null can be computed: a method whose extractor reads labels must be retrained under every
permutation (``--null-refits N``); with N = 0 (the default) such methods are reported but not
recommended, because keeping their answers and permuting only the labels was measured to reject
6-10% of signal-free data sets at alpha 0.05 (docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from trainprint.core import files
from trainprint.data.imageset import GENERATED, REAL_NOT_USED, REAL_USED, ImageSet, labels_of
from trainprint.evaluation.config import EvalConfig
from trainprint.evaluation.fold import fold_refit, row_groups, run_method
from trainprint.evaluation.folds import make_folds
from trainprint.evaluation.groups import GROUPS_FILE, NONE
from trainprint.evaluation.null import NOT_TESTED, FoldRefit, permutation_test
from trainprint.evaluation.protocol import fit_view, uses_labels
from trainprint.evaluation.representations import fold_reps
from trainprint.evaluation.results import read_rows
from trainprint.evaluation.selection import candidates, held_out_from_rows, recommend, selection_aware
from trainprint.extractors.registry import make_extractor, run_params
from trainprint.methods import MethodSpec, parse_method

SELECTION_FILE = "selection.json"


def selection_of_run(run: Path, images: ImageSet, cfg: EvalConfig) -> dict[str, Any]:
    """``select_and_test`` of the finished evaluate run in ``run`` (its folds.csv, scores.csv and
    groups.csv), over the methods of ``cfg`` (all of them, or those a submit makes run files for).
    ``images`` are the run's dev images (the null test refits some methods on them)."""
    real_idx = np.flatnonzero(images.mask(REAL_USED, REAL_NOT_USED))
    gen_idx = np.flatnonzero(images.mask(GENERATED))
    y = labels_of(images.split[real_idx])
    groups = None
    if cfg.groups != NONE:
        table = {r["id"]: r["group"] for r in files.read_csv(run / GROUPS_FILE)}
        groups = np.array([table[i] for i in images.ids[real_idx]])
    folds = make_folds(y, cfg.folds, cfg.seed, groups)
    specs = [parse_method(m) for m in cfg.methods]
    params = dict(preset=cfg.preset, epochs=cfg.epochs, device=cfg.device, random_state=cfg.seed, progress=False)
    label_users = {e: uses_labels(e, **params) for e in {s.extractor for s in specs if s.extractor}}
    refit = Refits(images, cfg, run, specs, folds, real_idx, gen_idx, y, label_users, params, groups)
    return select_and_test(cfg, images.ids[real_idx], groups, read_rows(run / "folds.csv"),
                           read_rows(run / "scores.csv"), refit)


def select_and_test(cfg: EvalConfig, real_ids: np.ndarray, groups: np.ndarray | None,
                    fold_rows: list[dict[str, Any]], score_rows: list[dict[str, Any]],
                    refit: "Refits | None") -> dict[str, Any]:
    """The recommended method, the selection-aware estimate and the null test with its verdict
    (``selection.json``); ``refit`` builds the label refits of the null test (None: none)."""
    methods = candidates(cfg.methods, include_fraction=cfg.include_fraction)
    excluded: dict[str, str] = {}
    paper = cfg.protocol == "paper"
    testing = cfg.permutations > 0 and not paper
    if testing and cfg.null_refits == 0 and refit is not None:
        for m in methods:
            if refit.reads_labels(m):
                excluded[m] = "its extractor reads labels: not in the null test without --null-refits N"
        methods = [m for m in methods if m not in excluded]
    if not methods:
        return {"recommended": None, "selection_aware": None, "null_test": None, "verdict": NOT_TESTED,
                "excluded": excluded}
    held = held_out_from_rows(score_rows, fold_rows, methods, list(real_ids))
    best, mcc, auc = recommend(held)
    estimate = selection_aware(held, groups, seed=cfg.seed)
    if paper:  # extractors saw every held-out label: no honest null exists for these answers
        null: dict[str, Any] = {"verdict": NOT_TESTED, "why": "paper protocol: extractors saw the held-out labels"}
    elif not testing:
        null = {"verdict": NOT_TESTED, "why": "--permutations 0"}
    else:
        refits = refit.build(methods) if refit is not None else {}
        slow = refit is not None and any(refit.reads_labels(m) for m in methods)
        null = permutation_test(held, groups, refits, permutations=cfg.null_refits if slow else cfg.permutations,
                                seed=cfg.seed)
    return {
        "recommended": {"method": best, "mcc_mean": round(mcc, 6), "auc_mean": round(auc, 6),
                        "candidates": len(methods), "rule": "best mean fold MCC among the candidates "
                        "(ties: mean AUC, then order); baselines" + ("" if cfg.include_fraction else
                                                                        " and fraction rules") + " excluded",
                        "protocol": cfg.protocol + (" (OPTIMISTIC)" if paper else "")},
        "selection_aware": estimate,
        "null_test": null,
        "verdict": null["verdict"],
        "excluded": excluded,
    }


class Refits:
    """Builds, for the null test, how each candidate answers a fold again under permuted labels:
    the label-reading stage refitted on cached label-free representations (cheap), or, for a
    method whose extractor reads labels, the extractor retrained too (slow: ``--null-refits``)."""

    def __init__(self, images: ImageSet, cfg: EvalConfig, out: Path, specs: Sequence[MethodSpec],
                 folds: list[tuple[np.ndarray, np.ndarray]], real_idx: np.ndarray, gen_idx: np.ndarray,
                 y: np.ndarray, label_users: dict[str, bool], params: dict[str, Any],
                 groups: np.ndarray | None = None) -> None:
        self.images, self.cfg, self.out, self.folds = images, cfg, out, folds
        self.groups = row_groups(len(images), real_idx, groups)
        self.real_idx, self.gen_idx, self.y = real_idx, gen_idx, y
        self.label_users, self.params = label_users, params
        self.specs = {s.id: s for s in specs}
        self._memo: dict[tuple[int, str], tuple[bytes, np.ndarray]] = {}

    def reads_labels(self, method: str) -> bool:
        """Whether ``method``'s extractor reads labels, or the method trains one itself (a fusion over
        its space): then its null needs the extractor retrained."""
        spec = self.specs[method]
        return (bool(spec.extractor) and self.label_users[spec.extractor]) or spec.trains_on_labels

    def build(self, methods: Sequence[str]) -> dict[int, list[FoldRefit]]:
        out: dict[int, list[FoldRefit]] = {}
        cheap = {j: self.specs[m] for j, m in enumerate(methods)
                 if self.specs[m].uses_labels and self.specs[m].extractor and not self.reads_labels(m)}
        slow = {j: self.specs[m] for j, m in enumerate(methods) if self.reads_labels(m)}
        for k, (train, test) in enumerate(self.folds):
            reps = fold_reps(self.images, self.cfg, self.out, k, self.real_idx[test], list(cheap.values()),
                             self.label_users, self.params) if cheap else {}
            for j, spec in cheap.items():
                out.setdefault(j, []).append(fold_refit(spec, reps[spec.extractor], self.real_idx, self.y, train,
                                                        test, self.gen_idx, self.cfg.seed + k, self.cfg.device,
                                                        self.cfg.options, self.groups))
            for j, spec in slow.items():
                out.setdefault(j, []).append(FoldRefit(train, test, self._retrain(spec, k, train, test)))
        return out

    def _retrain(self, spec: MethodSpec, k: int, train: np.ndarray, test: np.ndarray):  # noqa: ANN202
        """refit(y_train): retrain the extractor of ``spec`` on fold ``k`` with these training labels
        (the result is kept for the other methods of the same permutation), then fit the method."""
        name = str(spec.extractor)

        def refit(y_train: np.ndarray) -> np.ndarray:
            y = self.y.copy()
            y[train] = y_train
            key = np.asarray(y_train, dtype=np.int8).tobytes()
            memo = self._memo.get((k, name))
            if memo is None or memo[0] != key:
                split = self.images.split.copy()
                split[self.real_idx[train]] = np.where(y_train == 1, REAL_USED, REAL_NOT_USED)
                held_out = np.zeros(len(split), dtype=bool)
                held_out[self.real_idx[test]] = True
                relabelled = ImageSet(self.images.ids, split, self.images.pixels, self.images.source)
                pixels, fit_split = fit_view(relabelled, held_out, True)
                ext = make_extractor(name, **run_params(name, **{**self.params, "random_state": self.cfg.seed}))
                memo = (key, ext.fit(pixels, fit_split).transform(self.images.pixels))
                self._memo[(k, name)] = memo
            return run_method(spec, memo[1], self.real_idx, y, train, test, self.gen_idx, self.cfg.seed + k,
                              self.cfg.device, self.cfg.options, self.groups)[1]

        return refit
