"""``MiaMethod``: the ``mia-<space>/<score>`` methods of ``evaluate`` / ``submit`` (see ``__init__``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from trainprint.core.errors import TrainprintError
from trainprint.membership.mia.crossfit import pool_folds
from trainprint.membership.mia.density import (classifier_models, gan_leaks_cal, intrinsic_dimension, kde_models,
                                               knn_log_ratio, median_gamma, project)
from trainprint.membership.mia.geometry import NO_VECTORS, distances, to_distance, vectors
from trainprint.membership.scores import (NEAREST_K, cached_nearest, in_one_pass, lookup_groups, siblings_of,
                                         union_groups, union_of_reals)
from trainprint.similarity import check_representation

#: score name -> what it is (the ``<score>`` of ``mia-<space>/<score>``)
MIA_SCORES: dict[str, str] = {
    "domias-knn": "log p_G - log p_ref, k-nearest-neighbour densities",
    "domias-kde": "log p_G - log p_ref, Gaussian KDEs (Scott's bandwidth) in a whitened PCA",
    "domias-clf": "log-odds of a G-vs-reference RBF logistic regression (density-ratio trick)",
    "gan-leaks-cal": "d_min(x, other reals) - d_min(x, G) (GAN-Leaks calibrated)",
}
#: where the reference density comes from: every real image unlabelled, or the training fold's not-used ones
REFERENCES = ("pool", "not-used")
VECTOR_SCORES = ("domias-kde", "domias-clf")


def check_space_score(space: str, score: str) -> None:
    """A TrainprintError naming the bad value, or nothing."""
    if score not in MIA_SCORES:
        raise TrainprintError(f"membership-inference score {score!r}: expected one of {', '.join(MIA_SCORES)}")
    if score in VECTOR_SCORES and space in NO_VECTORS:
        raise TrainprintError(f"mia-{space}/{score}: {score} needs a vector space; {space!r} has none "
                              "(use pixel, ncc or an extractor's fingerprints)")


class MiaMethod(BaseEstimator):
    """A density-ratio or calibrated-distance membership score in one space.

    Parameters (stored verbatim):
        space: ``pixel | ncc | ssim`` (inputs (N, H, W) in [0, 1]) or an extractor name ((N, D)).
        score: one of ``MIA_SCORES``.
        reference: ``pool`` (every real image, no label: label-free, the default) or ``not-used``
            (the training images labelled not used: reads labels).
        k: neighbours of ``domias-knn`` (for both densities).
        n_folds: folds of the cross-fitting over the reference images (KDE, classifier).
        n_components: PCA components of the KDE / classifier.
        C: inverse regularisation of the classifier's logistic regression.
        device: ``auto | cpu | cuda`` for the similarity computations.
        random_state: seeds the folds, the PCA and the kernel approximation.

    Fitted attributes: ``ref_`` (reference images), ``G_``, ``dim_`` (kNN: intrinsic dimension),
    ``folds_`` (fold of each reference image), ``bandwidth_`` (KDE), ``gamma_`` (classifier), ``notes_``.
    Every decision is ``> 0`` where the score calls the image used (density ratio above 1; best
    generated match closer than the best real one).
    """

    def __init__(self, space: str = "pixel", score: str = "domias-knn", *, reference: str = "pool", k: int = 1,
                 n_folds: int = 5, n_components: int = 16, C: float = 1.0, device: str = "cpu",
                 random_state: int = 0) -> None:
        self.space = space
        self.score = score
        self.reference = reference
        self.k = k
        self.n_folds = n_folds
        self.n_components = n_components
        self.C = C
        self.device = device
        self.random_state = random_state

    @property
    def method_id(self) -> str:
        return f"mia-{self.space}/{self.score}" + ("" if self.reference == "pool" else f"@{self.reference}")

    @in_one_pass
    def fit(self, R: np.ndarray, y: np.ndarray | None, G: np.ndarray, R_pool: np.ndarray | None = None,
            pool_groups: np.ndarray | None = None) -> "MiaMethod":
        """R (n, ...) real images (labelled or not), y (n,) 0/1 or None (label-free), G (m, ...)
        generated, R_pool (p, ...) every real image known without labels, ``pool_groups`` (p,) their
        sibling groups (None: each alone): an image's own group is left out of its reference
        density (kNN and GAN-Leaks distances skip it; KDE and classifier folds keep it together)."""
        self._check_params()
        R = check_representation(self.space, R, "R")
        self.G_ = check_representation(self.space, G, "G")
        pool = None if R_pool is None else check_representation(self.space, R_pool, "R_pool")
        self.known_, _ = union_of_reals(R, pool)  # every real image seen, with its sibling group
        self.known_groups_ = union_groups(R, pool, pool_groups)
        if self.reference == "pool":
            self.ref_, self.ref_groups_ = self.known_, self.known_groups_
        else:
            if y is None:
                raise TrainprintError(f"{self.method_id}: reference 'not-used' needs labels y")
            y_arr = np.asarray(y).astype(np.int64)
            if y_arr.shape != (len(R),) or not np.isin(y_arr, (0, 1)).all():
                raise TrainprintError(f"{self.method_id}: y must be (n,) = ({len(R)},) of 0/1")
            self.ref_, _ = union_of_reals(R[y_arr == 0], None)
            self.ref_groups_ = lookup_groups(self.ref_, self.known_, self.known_groups_)
        if len(self.ref_) < 2:
            raise TrainprintError(f"{self.method_id}: needs at least 2 distinct reference images, got {len(self.ref_)}")
        self.notes_: list[str] = []
        self.folds_ = pool_folds(len(self.ref_), self.n_folds, self.random_state, self.ref_groups_)
        if self.score == "domias-knn":
            D_rr = distances(self.space, self.ref_, self.ref_, device=self.device)
            D_rr[siblings_of(self.ref_groups_, len(self.ref_))] = np.inf
            dim = intrinsic_dimension(D_rr, k=max(int(self.k), 10))
            self.dim_ = dim if np.isfinite(dim) else 1.0
            self.notes_.append(f"{self.method_id}: intrinsic dimension {self.dim_:.3g} (Levina-Bickel) of "
                               f"{len(self.ref_)} reference images" + ("" if np.isfinite(dim) else " (none found: 1)"))
        elif self.score in VECTOR_SCORES:
            self.project_ = project(self.ref_, self.G_, int(self.n_components), int(self.random_state),
                                    lambda X: vectors(self.space, X))
            Z_ref, Z_g = self.project_(self.ref_), self.project_(self.G_)
            if self.score == "domias-kde":
                self.kde_g_, self.kde_refs_, self.bandwidth_ = kde_models(Z_ref, Z_g, self.folds_)
                self.notes_.append(f"{self.method_id}: KDE bandwidth {self.bandwidth_:.3g} (Scott) in "
                                   f"{Z_g.shape[1]} whitened PCA components")
            else:
                self.gamma_ = median_gamma(np.concatenate([Z_g, Z_ref]), int(self.random_state))
                self.models_ = classifier_models(Z_ref, Z_g, self.folds_, self.gamma_, float(self.C),
                                                 int(self.random_state))
        return self

    @in_one_pass
    def decision_function(self, R: np.ndarray) -> np.ndarray:
        """(n,) float64, higher = more likely used; ``> 0`` = used."""
        check_is_fitted(self, "ref_")
        R = check_representation(self.space, R, "R")
        C, r_to_c = union_of_reals(R, self.ref_)  # C starts with the reference images, in their order
        n_ref = len(self.ref_)
        in_ref = np.where(r_to_c < n_ref, r_to_c, -1)
        if self.score in VECTOR_SCORES:
            Z = self.project_(R)
            return self._vector_score(Z, in_ref)
        # the nearest generated images of every image of C: one search of G (two-stage where G's plan
        # says so), shared with the membership scores and the audit's neighbour list (NEAREST_K)
        st = cached_nearest(self.space, C, self.G_, k=max(int(self.k), NEAREST_K), device=self.device)
        d_g = to_distance(self.space, st.topk_sim[r_to_c])  # (n, j) distances to the j nearest
        D_qref = distances(self.space, C, C, device=self.device)[r_to_c][:, :n_ref].copy()
        rows = np.flatnonzero(in_ref >= 0)
        D_qref[rows] = np.where(siblings_of(self.ref_groups_, n_ref)[in_ref[rows]], np.inf, D_qref[rows])  # never
        # an image's own row, nor its siblings'
        if not np.isfinite(D_qref).any(axis=1).all():
            raise TrainprintError(f"{self.method_id}: an image has no reference image outside its sibling group")
        if self.score == "gan-leaks-cal":
            return gan_leaks_cal(d_g, D_qref)
        return knn_log_ratio(d_g, len(self.G_), D_qref, int(self.k), float(self.dim_))

    def predict(self, R: np.ndarray) -> np.ndarray:
        """(n,) int64, 1 = used (decision > 0)."""
        return (self.decision_function(R) > 0).astype(np.int64)

    def label_refitter(self, R_train: np.ndarray, R_test: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """For the null test: ``refit(y)`` -> (n_test,) predictions of ``R_test`` by this method
        refitted on ``R_train`` with labels ``y`` (the reference is the images ``y`` calls not used;
        the distances come from the similarity cache). A label-free method answers the same for any ``y``."""
        check_is_fitted(self, "ref_")
        G = self.G_

        pool, groups = self.known_, self.known_groups_

        def refit(y: np.ndarray) -> np.ndarray:
            return clone_of(self).fit(R_train, np.asarray(y, dtype=np.int64), G, pool, groups).predict(R_test)

        return refit

    def _vector_score(self, Z: np.ndarray, in_ref: np.ndarray) -> np.ndarray:
        """Cross-fitted scores of projected images ``Z`` (n, c): an image of the reference is scored by
        the fold model that did not train on it; any other image by the mean of the fold models."""
        if self.score == "domias-kde":
            base = self.kde_g_.score_samples(Z)
            per_fold = np.stack([-m.score_samples(Z) for m in self.kde_refs_], axis=1)  # (n, K)
        else:
            base = np.zeros(len(Z))
            per_fold = np.stack([m.decision_function(Z) for m in self.models_], axis=1)
        out = base + per_fold.mean(axis=1)
        rows = np.flatnonzero(in_ref >= 0)
        out[rows] = base[rows] + per_fold[rows, self.folds_[in_ref[rows]]]
        return out.astype(np.float64)

    def _check_params(self) -> None:
        check_space_score(self.space, self.score)
        if self.reference not in REFERENCES:
            raise TrainprintError(f"{self.method_id}: reference {self.reference!r}; expected one of {', '.join(REFERENCES)}")
        if int(self.k) < 1:
            raise TrainprintError(f"{self.method_id}: k={self.k} must be >= 1")
        if int(self.n_components) < 1:
            raise TrainprintError(f"{self.method_id}: n_components={self.n_components} must be >= 1")
        if not float(self.C) > 0:
            raise TrainprintError(f"{self.method_id}: C={self.C} must be > 0")


def clone_of(m: MiaMethod) -> MiaMethod:
    """A new, unfitted ``MiaMethod`` with ``m``'s parameters."""
    return MiaMethod(**m.get_params())


def make_mia_method(space: str, score: str, **params: Any) -> MiaMethod:
    """A new, unfitted ``mia-<space>/<score>`` method (``params``: ``MiaMethod`` keywords)."""
    check_space_score(space, score)
    return MiaMethod(space=space, score=score, **params)
