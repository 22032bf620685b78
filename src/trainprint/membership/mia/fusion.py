"""``mia-fusion/<rule>`` and ``mia-fusion+<extractor>[+...]/<rule>``: every label-free score of
several spaces at once.

The components are, in each space, the membership scores of ``trainprint.membership.scores``
(``max``, ``topk``, ``nn``, ``calibrated``) and the ``mia-*`` scores (``domias-knn``,
``gan-leaks-cal``, and ``domias-kde`` / ``domias-clf`` where the space has vectors), all against the
unlabelled real pool. The spaces are the pixel, NCC and SSIM spaces of the ``raw`` images (22
components; ``mia-fusion/<rule>``, the default, as affordable as the SSIM scores) plus the
fingerprint space of every extractor in ``extractors`` (8 components each;
``mia-fusion+contrastive/rank``: 30).

- ``rank`` (label-free): each component turned into its rank among the pool's real images (the
  share of pool images scoring lower, ties counted half), then averaged; the decision is that mean
  minus 0.5, so ``> 0`` = above the pool's middle on average.
- ``features`` (reads labels): the standardised components as features of a class-balanced
  logistic regression fitted on the training fold's labels only (the ``features`` rule of
  ``sim-*``, generalised to every score of every space).

The fusion fits its extractors itself, from the images it is given, under the strict protocol: an
extractor that reads no label (``contrastive``) on G and the whole real pool shown as
``real_unknown`` (it sees held-out images, never a label; the same fit serves every fold of a
process: ``_FITTED``); one that reads labels on G and the training images ``R`` with their labels
``y`` only, so the method then reads labels (``uses_labels``) and ``label_refitter`` retrains it
under every permutation of the null test.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from trainprint.core.errors import TrainprintError
from trainprint.data.imageset import GENERATED, REAL_NOT_USED, REAL_UNKNOWN, REAL_USED
from trainprint.extractors.registry import EXTRACTORS, make_extractor, run_params
from trainprint.membership.mia.geometry import NO_VECTORS
from trainprint.membership.mia.method import MIA_SCORES, VECTOR_SCORES, MiaMethod
from trainprint.membership.scores import SCORE_NAMES, in_one_pass, membership_scores, union_groups, union_of_reals
from trainprint.similarity import PIXEL_SPACES, check_representation

FUSION_RULES = ("rank", "features")


def component_list(spaces: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """(space, score) of every component of ``spaces``, in feature order."""
    return tuple((space, score) for space in spaces
                 for score in SCORE_NAMES + tuple(s for s in MIA_SCORES
                                                  if not (space in NO_VECTORS and s in VECTOR_SCORES)))


#: the components of the default fusion (pixel spaces only)
COMPONENTS: tuple[tuple[str, str], ...] = component_list(PIXEL_SPACES)

#: label-free extractors fitted by fusions in this process, by what they were fitted on (the same
#: G and real pool in every fold of an evaluation): key -> fitted extractor
_FITTED: "OrderedDict[bytes, Any]" = OrderedDict()
_FITTED_SIZE = 4


def extractor_reads_labels(name: str) -> bool:
    """Whether extractor ``name`` reads the used / not-used labels when it is fitted."""
    return bool(make_extractor(name).uses_labels)


def check_extractors(extractors: tuple[str, ...], what: str = "mia-fusion") -> None:
    """A TrainprintError naming the bad value, or nothing: registered extractors other than ``raw``, each once."""
    names = [e for e in EXTRACTORS if e != "raw"]
    for e in extractors:
        if e not in names:
            raise TrainprintError(f"{what}: extractor {e!r}; expected one of {', '.join(names)}")
    if len(set(extractors)) != len(extractors):
        raise TrainprintError(f"{what}: extractors {list(extractors)} name one twice")


def _to_uint8(X: np.ndarray) -> np.ndarray:
    """The ``raw`` representation (float32 = uint8 / 255) back to the uint8 images extractors read."""
    return np.rint(np.asarray(X, dtype=np.float32) * 255.0).clip(0, 255).astype(np.uint8)


class FusionMethod(BaseEstimator):
    """See the module docstring. Parameters (stored verbatim): ``rule`` (``rank | features``),
    ``extractors`` (fingerprint spaces added to the pixel spaces; ``()``: pixel spaces only),
    ``k`` (the ``topk`` score's k), ``C`` (the logistic regression's inverse regularisation),
    ``preset`` (training preset of the extractors), ``device``, ``random_state``. Fitted: ``pool_``,
    ``G_``, ``extractors_`` (name -> fitted extractor), ``fp_`` (name -> fingerprints of the pool and
    of G), ``components_`` ((space, score) pairs), ``mia_`` (the fitted ``MiaMethod`` per component),
    ``pool_scores_`` (p, n_components), ``classifier_`` (``features``), ``notes_``."""

    def __init__(self, rule: str = "rank", *, extractors: tuple[str, ...] = (), k: int = 5, C: float = 1.0,
                 preset: str = "fast", device: str = "cpu", random_state: int = 0) -> None:
        self.rule = rule
        self.extractors = extractors
        self.k = k
        self.C = C
        self.preset = preset
        self.device = device
        self.random_state = random_state

    @property
    def method_id(self) -> str:
        return "mia-fusion" + "".join(f"+{e}" for e in self.extractors) + f"/{self.rule}"

    @property
    def spaces(self) -> tuple[str, ...]:
        return PIXEL_SPACES + tuple(self.extractors)

    @property
    def uses_labels(self) -> bool:
        """``features`` reads labels, and so does any fusion over the space of an extractor that reads them."""
        return self.rule == "features" or any(extractor_reads_labels(e) for e in self.extractors)

    @in_one_pass
    def fit(self, R: np.ndarray, y: np.ndarray | None, G: np.ndarray, R_pool: np.ndarray | None = None,
            pool_groups: np.ndarray | None = None) -> "FusionMethod":
        """R (n, N, N), G (m, N, N), R_pool (p, N, N) images in [0, 1] (the ``raw`` representation);
        ``y`` (n,) 0/1 for ``features`` or when an extractor reads labels; ``pool_groups`` (p,) the
        pool's sibling groups (None: each alone), passed to every component score."""
        if self.rule not in FUSION_RULES:
            raise TrainprintError(f"mia-fusion rule {self.rule!r}: expected one of {', '.join(FUSION_RULES)}")
        check_extractors(tuple(self.extractors), self.method_id)
        R = check_representation("pixel", R, "R")
        self.G_ = check_representation("pixel", G, "G")
        pool = None if R_pool is None else check_representation("pixel", R_pool, "R_pool")
        self.pool_, _ = union_of_reals(R, pool)
        self.pool_groups_ = union_groups(R, pool, pool_groups)  # (len(pool_),) or None
        y_arr = None
        if self.uses_labels:
            if y is None:
                raise TrainprintError(f"{self.method_id}: needs labels y")
            y_arr = np.asarray(y).astype(np.int64)
            if y_arr.shape != (len(R),) or not np.isin(y_arr, (0, 1)).all():
                raise TrainprintError(f"{self.method_id}: y must be (n,) = ({len(R)},) of 0/1")
        self.extractors_ = {e: self._fit_extractor(e, R, y_arr) for e in self.extractors}
        self.fp_ = {e: (ext.transform(_to_uint8(self.pool_)), ext.transform(_to_uint8(self.G_)))
                    for e, ext in self.extractors_.items()}  # name -> (pool (p, D), G (m, D)) fingerprints
        self.components_ = component_list(self.spaces)
        self.mia_ = {(sp, sc): MiaMethod(sp, sc, device=self.device, random_state=self.random_state)
                     .fit(self._rep(sp, "pool"), None, self._rep(sp, "G"), self._rep(sp, "pool"), self.pool_groups_)
                     for sp, sc in self.components_
                     if sc in MIA_SCORES}
        self.pool_scores_ = self.components(self.pool_)
        self.notes_: list[str] = [f"{self.method_id}: {len(self.components_)} label-free scores of the "
                                  f"{', '.join(self.spaces)} spaces"]
        if self.rule == "features":
            assert y_arr is not None
            self.classifier_ = self._classifier(self.components(R), y_arr)
        return self

    def _fit_extractor(self, name: str, R: np.ndarray, y: np.ndarray | None) -> Any:
        """Extractor ``name`` fitted as the strict protocol allows: label-free on G + the pool (no
        label; one fit per process for the same images), label-reading on G + R with ``y``."""
        if not isinstance(self.G_, np.ndarray):
            raise TrainprintError(f"{self.method_id}: fusion over fingerprint spaces needs the generated images in "
                                  "memory (submit --engine memory)")
        params = run_params(name, preset=self.preset, device=self.device, random_state=self.random_state)
        g = _to_uint8(self.G_)
        if extractor_reads_labels(name):
            assert y is not None
            split = np.array([GENERATED] * len(g) + [REAL_USED if v else REAL_NOT_USED for v in y])
            return make_extractor(name, **params).fit(np.concatenate([g, _to_uint8(R)]), split)
        X = np.concatenate([g, _to_uint8(self.pool_)])
        split = np.array([GENERATED] * len(g) + [REAL_UNKNOWN] * len(self.pool_))
        h = hashlib.sha1(repr((name, sorted(params.items()), X.shape)).encode())
        h.update(np.ascontiguousarray(X).data)
        h.update(split.tobytes())
        key = h.digest()
        if key not in _FITTED:
            _FITTED[key] = make_extractor(name, **params).fit(X, split)
            while len(_FITTED) > _FITTED_SIZE:
                _FITTED.popitem(last=False)
        _FITTED.move_to_end(key)
        return _FITTED[key]

    def _rep(self, space: str, which: str, R: np.ndarray | None = None) -> np.ndarray:
        """The representation of the pool, G or images ``R`` (raw, (n, N, N)) in ``space``: the raw
        images for pixel spaces, else fingerprints (a pool image gets its pool row, so that it is
        found in the pool by content)."""
        if space in PIXEL_SPACES:
            return {"pool": self.pool_, "G": self.G_}[which] if R is None else R
        fp_pool, fp_g = self.fp_[space]
        if R is None:
            return fp_pool if which == "pool" else fp_g
        _, r_to_c = union_of_reals(R, self.pool_)
        out = np.empty((len(R), fp_pool.shape[1]), dtype=np.float32)
        known = r_to_c < len(self.pool_)
        out[known] = fp_pool[r_to_c[known]]
        if (~known).any():
            out[~known] = self.extractors_[space].transform(_to_uint8(R[~known]))
        return out

    def components(self, R: np.ndarray) -> np.ndarray:
        """(n, n_components) float64: every component score of ``R`` against the fitted G and pool."""
        R = check_representation("pixel", R, "R")
        cols = []
        cache: dict[str, Any] = {}
        for space, score in self.components_:
            X = self._rep(space, "R", R)
            if score in MIA_SCORES:
                cols.append(self.mia_[(space, score)].decision_function(X))
                continue
            if space not in cache:
                cache[space] = membership_scores(space, X, self._rep(space, "G"), self._rep(space, "pool"),
                                                 k=int(self.k), device=self.device, pool_groups=self.pool_groups_)
            cols.append(cache[space].get(score))
        return np.stack(cols, axis=1).astype(np.float64)

    def _classifier(self, F: np.ndarray, y: np.ndarray):  # noqa: ANN202 - a sklearn pipeline
        if len(np.unique(y)) < 2:
            raise TrainprintError(f"{self.method_id}: the training images have one class only")
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000,
                                                                  random_state=self.random_state)).fit(F, y)

    def _decide(self, F: np.ndarray, classifier=None) -> np.ndarray:  # noqa: ANN001
        if self.rule == "features":
            return (classifier or self.classifier_).decision_function(F).astype(np.float64)
        P = self.pool_scores_
        below = (P[None, :, :] < F[:, None, :]).mean(axis=1)  # (n, c)
        ties = (P[None, :, :] == F[:, None, :]).mean(axis=1)
        return (below + 0.5 * ties).mean(axis=1) - 0.5

    @in_one_pass
    def decision_function(self, R: np.ndarray) -> np.ndarray:
        """(n,) float64, higher = more likely used; ``> 0`` = used."""
        check_is_fitted(self, "pool_scores_")
        return self._decide(self.components(R))

    def predict(self, R: np.ndarray) -> np.ndarray:
        return (self.decision_function(R) > 0).astype(np.int64)

    @in_one_pass
    def label_refitter(self, R_train: np.ndarray, R_test: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """For the null test: ``refit(y)`` -> (n_test,) predictions with the logistic regression refitted
        on ``R_train`` under labels ``y``; the component scores are computed once, here."""
        check_is_fitted(self, "pool_scores_")
        if any(extractor_reads_labels(e) for e in self.extractors):  # its extractors are retrained on y (slow)
            G, pool, groups = self.G_, self.pool_, self.pool_groups_

            def retrain(y: np.ndarray) -> np.ndarray:
                return FusionMethod(**self.get_params()).fit(R_train, y, G, pool, groups).predict(R_test)

            return retrain
        F_train, F_test = self.components(R_train), self.components(R_test)

        def refit(y: np.ndarray) -> np.ndarray:
            clf = self._classifier(F_train, np.asarray(y, dtype=np.int64)) if self.rule == "features" else None
            return (self._decide(F_test, clf) > 0).astype(np.int64)

        return refit
