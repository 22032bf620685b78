"""The paper's classifiers over fingerprints and its two training strategies.

Classifiers (Section 3 of the paper; MATLAB settings reproduced in scikit-learn, see NOTES.md):

- ``svm-linear``: ``SVC(kernel="linear", C=1)``, inputs unscaled (MATLAB ``fitcsvm`` default);
- ``svm-2``: ``SVC(kernel="poly", degree=2, gamma=1, coef0=1)``, i.e. MATLAB's (1 + x'y)^2;
- ``knn-5``: 5 nearest neighbours, Euclidean; its score is the fraction of "used" neighbours.

Strategies:

- ``real``: train on the labelled real fingerprints only (U -> 1, NU -> 0);
- ``full``: add the generated fingerprints G with label 1, then balance the classes with ADASYN
  inside an ``imblearn.pipeline.Pipeline``, so resampling touches only the data given to ``fit``
  (the training fold), never the images scored later. ADASYN cannot run when no minority sample
  has a majority neighbour, or when it would make nothing; then SMOTE is used instead (same
  neighbours), and random oversampling when the minority class is too small even for SMOTE.
  Each fallback is written to ``notes_`` and ends up in the result row.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from imblearn.over_sampling import ADASYN, SMOTE, RandomOverSampler
from imblearn.pipeline import Pipeline
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from trainprint.core.errors import TrainprintError

CLASSIFIERS = ("svm-linear", "svm-2", "knn-5")
STRATEGIES = ("full", "real")  # the paper's Table 1 order
ADASYN_NEIGHBOURS = 5


def make_classifier(name: str, random_state: int = 0) -> BaseEstimator:
    """A new scikit-learn classifier for the name ``svm-linear``, ``svm-2`` or ``knn-5``."""
    if name == "svm-linear":
        return SVC(kernel="linear", C=1.0, random_state=random_state)
    if name == "svm-2":
        return SVC(kernel="poly", degree=2, gamma=1.0, coef0=1.0, C=1.0, random_state=random_state)
    if name == "knn-5":
        return KNeighborsClassifier(n_neighbors=5, metric="euclidean")
    raise TrainprintError(f"unknown classifier {name!r}; expected one of {', '.join(CLASSIFIERS)}")


class FingerprintClassifier(ClassifierMixin, BaseEstimator):
    """A strategy + classifier over fingerprints, with the method contract of ``docs/CONTRACT.md``.

    Args:
        classifier: ``svm-linear``, ``svm-2`` or ``knn-5``.
        strategy: ``real`` or ``full``.
        random_state: seed of the SVM and of the resampler.

    Fitted attributes: ``classes_`` (always ``[0, 1]``: not used, used), ``n_features_in_``,
    ``model_`` (the classifier or the resampling pipeline), ``constant_`` (the answer of a fold
    with one class only, else None), ``notes_``.
    """

    uses_labels = True

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # membership is binary: 1 = used, 0 = not used
        return tags

    def __init__(self, classifier: str = "svm-linear", strategy: str = "real", random_state: int = 0) -> None:
        self.classifier = classifier
        self.strategy = strategy
        self.random_state = random_state

    def fit(
        self, R: np.ndarray, y: np.ndarray, G: np.ndarray | None = None, R_pool: np.ndarray | None = None
    ) -> "FingerprintClassifier":
        """Fit on labelled real fingerprints ``R`` (n, D) with ``y`` (n,) 0/1 and, for ``full``,
        generated fingerprints ``G`` (m, D). ``R_pool`` is accepted for the contract and unused."""
        if self.strategy not in STRATEGIES:
            raise TrainprintError(f"unknown strategy {self.strategy!r}; expected one of {', '.join(STRATEGIES)}")
        if self.classifier not in CLASSIFIERS:
            raise TrainprintError(f"unknown classifier {self.classifier!r}; expected one of {', '.join(CLASSIFIERS)}")
        R, y = validate_data(self, _flat(R, "R"), y, dtype=np.float64)  # (n, D) float64, finite
        y = _membership_labels(y, self._name())
        self.classes_ = np.array([0, 1])
        self.notes_: list[str] = []
        X = R
        if self.strategy == "full":
            if G is None or len(G) == 0:
                raise TrainprintError(f"{self._name()}: strategy 'full' needs generated fingerprints G")
            G = validate_data(self, _flat(G, "G"), reset=False, dtype=np.float64)  # as many features as R
            X = np.concatenate([R, G])  # (n + m, D)
            y = np.concatenate([y, np.ones(len(G), dtype=np.int64)])
        classes = np.unique(y)
        if classes.size < 2:  # a degenerate fold: answer the only class seen
            self.constant_ = int(classes[0])
            self.notes_.append(f"only class {self.constant_} in training data; constant answer")
            return self
        self.constant_ = None
        if self.strategy == "full":
            self.model_ = self._fit_balanced(X, y)
        else:
            clf = make_classifier(self.classifier, self.random_state)
            if isinstance(clf, KNeighborsClassifier) and len(X) < clf.n_neighbors:
                clf.set_params(n_neighbors=len(X))  # a tiny training fold: use every neighbour it has
                self.notes_.append(f"knn-5 with {len(X)} training images: {len(X)} neighbours")
            self.model_ = clf.fit(X, y)
        return self

    def decision_function(self, R: np.ndarray) -> np.ndarray:
        """(n,) scores, higher = more likely used: the SVM margin, or the kNN fraction of used."""
        R = self._check(R)
        if self.constant_ is not None:
            return np.full(len(R), float(self.constant_))
        clf = self.model_[-1] if isinstance(self.model_, Pipeline) else self.model_
        if isinstance(clf, KNeighborsClassifier):
            return self.model_.predict_proba(R)[:, list(clf.classes_).index(1)]
        return np.asarray(self.model_.decision_function(R), dtype=np.float64)

    def predict(self, R: np.ndarray) -> np.ndarray:
        """(n,) int 0/1."""
        R = self._check(R)
        if self.constant_ is not None:
            return np.full(len(R), self.constant_, dtype=np.int64)
        return np.asarray(self.model_.predict(R), dtype=np.int64)

    def label_refitter(self, R_train: np.ndarray, R_test: np.ndarray,
                       G: np.ndarray | None = None) -> Callable[[np.ndarray], np.ndarray]:
        """For permutation tests: ``refit(y)`` -> (n_test,) predictions of ``R_test`` by a copy of
        this classifier fitted on ``R_train`` (and ``G`` for ``full``) with labels ``y``."""
        def refit(y: np.ndarray) -> np.ndarray:
            return clone(self).fit(R_train, y, G).predict(R_test)

        return refit

    # -- private ---------------------------------------------------------------------------------

    def _fit_balanced(self, X: np.ndarray, y: np.ndarray) -> Pipeline:
        """Resampler + classifier in one imblearn Pipeline: ADASYN, else SMOTE, else random."""
        n_minority = int(np.bincount(y).min())
        k = min(ADASYN_NEIGHBOURS, n_minority - 1)
        candidates = []
        if k >= 1:
            candidates.append(("ADASYN", ADASYN(n_neighbors=k, random_state=self.random_state)))
            candidates.append(("SMOTE", SMOTE(k_neighbors=k, random_state=self.random_state)))
        candidates.append(("random oversampling", RandomOverSampler(random_state=self.random_state)))
        failures: list[str] = [] if k >= 1 else [f"ADASYN: minority class has only {n_minority} image"]
        for name, sampler in candidates:
            pipe = Pipeline([("resample", sampler), ("clf", make_classifier(self.classifier, self.random_state))])
            try:
                pipe.fit(X, y)
            except (ValueError, RuntimeError) as e:
                failures.append(f"{name}: {str(e).split('.')[0]}")
                continue
            if failures:
                self.notes_.append(f"ADASYN fallback to {name} ({'; '.join(failures)})")
            elif k < ADASYN_NEIGHBOURS:
                self.notes_.append(f"ADASYN with {k} neighbours (minority class has {n_minority})")
            return pipe
        raise TrainprintError(f"{self._name()}: no resampler could balance the classes: {failures}")

    def _check(self, R: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "constant_")
        return validate_data(self, _flat(R, "R"), reset=False, dtype=np.float64)

    def _name(self) -> str:
        return f"{self.strategy}/{self.classifier}"


def _membership_labels(y: np.ndarray, name: str) -> np.ndarray:
    """``y`` as (n,) int64 0/1; any other value (2, 0.5, "used", NaN) is refused before casting."""
    check_classification_targets(y)  # a continuous target: "Unknown label type: ..."
    y = np.asarray(y)
    values = np.unique(y)
    if len(values) > 2:
        raise TrainprintError(f"{name}: Only binary classification is supported (membership: 0 not used, "
                              f"1 used); y has {len(values)} classes")
    bad = [v for v in values.tolist() if not (isinstance(v, (int, float, bool)) and v in (0, 1))]
    if bad:
        raise TrainprintError(f"{name}: y must hold membership labels 0 (not used) and 1 (used), got {bad[:3]}")
    return y.astype(np.int64)


def _flat(X: np.ndarray, name: str) -> np.ndarray:
    """(n, ...) fingerprints -> (n, D); images (n, H, W) are flattened. The checks of dtype,
    sparsity, NaN and emptiness are sklearn's ``validate_data`` (with its messages)."""
    if isinstance(X, np.ndarray) and X.ndim > 2:
        return X.reshape(len(X), -1)
    return X
