"""How often the null test says "evidence" on data without any signal (its level), by kind of method.

    python benchmarks/null_level.py [--datasets 200] [--permutations 199]

Each data set: n images with d random features and random balanced labels, 5-fold stratified CV of
a classifier, out-of-fold answers. Two tests of the best mean fold MCC: "kept" keeps the
out-of-fold answers and permutes only the labels (cheap; what one is tempted to do for extractors
that read labels), "refitted" refits the classifier on every permutation's training labels
(valid by construction). A valid test rejects about 5% at alpha 0.05.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.model_selection import StratifiedKFold

from trainprint.evaluation.null import FoldRefit, permutation_test
from trainprint.evaluation.selection import HeldOut
from trainprint.membership.classifiers import FingerprintClassifier


def one(clf: str, n: int, d: int, seed: int, permutations: int, refit: bool) -> float:
    rng = np.random.default_rng(1000 + seed)
    X, y = rng.normal(size=(n, d)), np.repeat([0, 1], n // 2)
    fold, pred = np.empty(n, int), np.empty(n, int)
    refits = []
    for k, (tr, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y)):
        est = FingerprintClassifier(clf, "real", random_state=seed)
        fold[te], pred[te] = k, est.fit(X[tr], y[tr]).predict(X[te])
        refits.append(FoldRefit(tr, te, est.label_refitter(X[tr], X[te])))
    held = HeldOut(("m",), y, fold, pred[None], np.full((1, 5), np.nan))
    return permutation_test(held, None, {0: refits} if refit else {}, permutations=permutations, seed=seed)["p_value"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=200)
    ap.add_argument("--permutations", type=int, default=199)
    ap.add_argument("--refit-datasets", type=int, default=100)
    args = ap.parse_args()
    print("| classifier | n | d | test | data sets | rejections at 0.05 | at 0.10 | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for clf, n, d in (("svm-linear", 80, 6), ("knn-5", 80, 6), ("svm-linear", 160, 20)):
        for refit, count in ((False, args.datasets), (True, args.refit_datasets)):
            t0 = time.perf_counter()
            p = np.array([one(clf, n, d, s, args.permutations, refit) for s in range(count)])
            print(f"| {clf} | {n} | {d} | {'refitted' if refit else 'kept'} | {count} | {np.mean(p < 0.05):.3f} | "
                  f"{np.mean(p < 0.10):.3f} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
