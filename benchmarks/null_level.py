"""How often the null test says "evidence" on data without any signal (its level), by kind of method.

    python benchmarks/null_level.py [--datasets 200] [--permutations 199]
    python benchmarks/null_level.py --patients [--datasets 2000] [--image-datasets 100]

``--patients``: the audit's patient-level p-values (``audit.stats.patient_p_values``) on signal-free
data with 1-8 sibling slices per patient. "scores": slice scores drawn with a patient effect (slices
of one patient correlated, intra-class correlation 0.5), 20 audited and 40 reference patients, alike.
"images": smooth random images, each patient 1-8 noisy copies of one base image, 20 audited and 40
reference patients and 100 generated images of other patients, scored by the sibling-aware
``sim-pixel/calibrated`` in one pool with inferred groups, as ``audit --reference`` does. Rejections
at 5% over every audited patient; a valid test rejects at most about 5%. The "slices as patients"
row shows what treating each slice's conformal p-value as a patient's would do (its smallest slice
p, i.e. the slices counted as independent evidence).

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


def _score_patients(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Slice scores of ``n`` patients of 1-8 slices, a patient effect (ICC 0.5), and their patients."""
    sizes = rng.integers(1, 9, n)
    return (np.concatenate([rng.normal() + rng.normal(size=k) for k in sizes]), np.repeat(np.arange(n), sizes))


def _image_patients(rng: np.random.Generator, n: int, side: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, side, side) in [0, 1], patients (N,)): each patient 1-8 noisy copies of a smooth base."""
    from scipy.ndimage import gaussian_filter

    sizes = rng.integers(1, 9, n)
    base = gaussian_filter(rng.random((n, side, side)), (0, 2, 2))
    base = (base - base.min(axis=(1, 2), keepdims=True)) / np.ptp(base, axis=(1, 2), keepdims=True)
    imgs = np.concatenate([np.clip(base[i] + rng.normal(0, 0.03, (k, side, side)), 0, 1) for i, k in enumerate(sizes)])
    return imgs.astype(np.float32), np.repeat(np.arange(n), sizes)


def patient_level(datasets: int, image_datasets: int) -> None:
    from trainprint.audit.stats import conformal_p_values, patient_p_values
    from trainprint.evaluation.groups import infer_groups
    from trainprint.membership.scores import clear_cache
    from trainprint.membership.similarity_method import make_rule_method
    from trainprint.scoring import patient_scores

    print("| data | data sets | audited patients | rejections at 0.05 (patient p) | slices as patients | seconds |")
    print("|---|---|---|---|---|---|")
    for kind, count in (("scores", datasets), ("images", image_datasets)):
        if count == 0:
            continue
        t0 = time.perf_counter()
        rej = naive = total = 0
        for d in range(count):
            rng = np.random.default_rng(np.random.SeedSequence([d, 0x9011]))
            if kind == "scores":
                s, g = _score_patients(rng, 20)
                r, rg = _score_patients(rng, 40)
            else:
                A, g = _image_patients(rng, 20)
                B, rg_true = _image_patients(rng, 40)
                G, _ = _image_patients(rng, 30)
                pool = np.concatenate([A, B])
                ga = np.char.add("a", infer_groups((A * 255).astype(np.uint8)).astype(str))
                gb = np.char.add("r", infer_groups((B * 255).astype(np.uint8)).astype(str))
                est = make_rule_method("pixel", "calibrated").fit(pool, None, G[:100], pool,
                                                                 pool_groups=np.concatenate([ga, gb]))
                v = np.asarray(est.decision_function(pool), dtype=np.float64)
                clear_cache()
                s, r, rg = v[:len(A)], v[len(A):], gb
            ps = patient_scores(s, g)
            p = patient_p_values(ps.score, ps.size, r, rg, seed=d)
            slice_p = conformal_p_values(s, r)
            rej += int((p <= 0.05).sum())
            naive += int(sum(slice_p[ps.index == k].min() <= 0.05 for k in range(len(ps.groups))))
            total += len(ps.groups)
        print(f"| {kind} | {count} | {total} | {rej / total:.4f} | {naive / total:.4f} | "
              f"{time.perf_counter() - t0:.0f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", type=int, default=200)
    ap.add_argument("--permutations", type=int, default=199)
    ap.add_argument("--refit-datasets", type=int, default=100)
    ap.add_argument("--patients", action="store_true", help="the audit's patient-level p-values instead")
    ap.add_argument("--image-datasets", type=int, default=100)
    args = ap.parse_args()
    if args.patients:
        patient_level(args.datasets, args.image_datasets)
        return
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
