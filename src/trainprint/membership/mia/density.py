"""DOMIAS density-ratio scores (van Breugel et al. 2023) and GAN-Leaks calibrated distance (Chen et al.
2020), computed from distances or vectors. Every score is "higher = more likely a member" and is
about ``log p_G(x) - log p_ref(x)`` (``> 0``: the generator puts more density at x than the real
reference does), except ``gan_leaks_cal``, a distance difference.

The reference rows that a query image is itself are always left out of its reference: kNN by
leaving that row out, KDE and the classifier by cross-fitting (``crossfit.pool_folds``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.decomposition import PCA
from sklearn.kernel_approximation import Nystroem
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KernelDensity
from sklearn.pipeline import make_pipeline

#: at most this many images fit the PCA of the KDE / classifier scores (then every image is projected) ...
PCA_FIT_ROWS = 2048
#: ... and at most this many bytes of their vectors (float32): 2,048 images up to 128 px, 512 at 256 px
#: (2,048 there, 512 MiB with the PCA's centred copy beside it, took the audit of 10,000 generated
#: images past 2 GB)
PCA_FIT_BYTES = 2**27
#: bytes of vectors projected at once (4,096 images at 64 px, 256 at 256 px)
PROJECT_BYTES = 2**26
#: Nystroem components of the classifier's RBF kernel (fewer when fewer training images)
NYSTROEM_COMPONENTS = 300


def _floor(D: np.ndarray) -> float:
    """A small positive distance: 1e-3 x the median positive finite distance (1e-12 when none)."""
    pos = D[np.isfinite(D) & (D > 0)]
    return float(1e-3 * np.median(pos)) if pos.size else 1e-12


def kth_smallest(D: np.ndarray, k: int) -> np.ndarray:
    """(n,) the ``k``-th smallest entry of each row of ``D`` (n, m) (1-based ``k``, capped at m)."""
    k = int(min(max(k, 1), D.shape[1]))
    return np.partition(D, k - 1, axis=1)[:, k - 1]


def intrinsic_dimension(D_rr: np.ndarray, k: int = 10) -> float:
    """Levina-Bickel maximum-likelihood intrinsic dimension (MacKay-Ghahramani average of the inverse
    per-point estimates) from the (n, n) distances of a reference set to itself (diagonal: inf).
    Returns NaN when fewer than 3 images or no spread."""
    n = D_rr.shape[0]
    k = int(min(k, n - 1))
    if k < 2:
        return float("nan")
    T = np.sort(D_rr, axis=1)[:, :k]  # (n, k) nearest distances, self excluded (inf)
    T = np.maximum(T, _floor(D_rr))
    inv = np.log(T[:, -1:] / T[:, :-1]).sum(axis=1) / (k - 1)  # (n,) inverse per-point estimates
    mean_inv = float(inv.mean())
    return 1.0 / mean_inv if mean_inv > 0 else float("nan")


def knn_log_ratio(d_g: np.ndarray, m: int, D_qref: np.ndarray, k: int, dim: float) -> np.ndarray:
    """kNN density ratio. ``d_g`` (q, j): each query's distances to its j nearest generated images (any
    order; j >= min(k, m), e.g. a search's top-k), ``m`` the number of generated images; ``D_qref`` (q, n):
    queries to the reference set, with inf where a query is that reference image or its sibling. With r
    the distance to the k-th neighbour, p(x) ~ k / (n V_d r^d), so

        log p_G(x) - log p_ref(x) = d (log r_ref - log r_G) + log(k_G / m) - log(k_ref / n_ref)

    with ``dim`` = d (an intrinsic dimension) and n_ref the finite reference distances of the row. Both
    r are at least ``_floor(D_qref)``, a scale read from the distances of the scored images to the
    reference images only (an exact copy in G has r_G = 0). Returns (q,) float64."""
    floor = _floor(D_qref)
    n_ref = np.isfinite(D_qref).sum(axis=1).astype(np.float64)  # (q,)
    k_g = int(min(k, m))
    if d_g.shape[1] < k_g:
        raise ValueError(f"knn_log_ratio: {d_g.shape[1]} generated distances per query, k={k_g} needs as many")
    k_r = np.minimum(k, n_ref)
    r_g = np.maximum(kth_smallest(d_g, k_g), floor)
    r_ref = np.maximum(kth_smallest(D_qref, int(k)), floor)  # inf where a row has fewer than k references
    r_ref = np.where(np.isfinite(r_ref), r_ref, np.maximum(np.max(np.where(np.isfinite(D_qref), D_qref, 0), axis=1), floor))
    return dim * (np.log(r_ref) - np.log(r_g)) + np.log(k_g / m) - np.log(k_r / np.maximum(n_ref, 1.0))


def gan_leaks_cal(d_g: np.ndarray, D_qref: np.ndarray) -> np.ndarray:
    """GAN-Leaks calibrated: ``d_min(x, reals other than x) - d_min(x, G)``, (q,) float64 (the paper's
    calibrated distance with its sign turned so that higher = member), from ``d_g`` (q, j) distances
    to G (the nearest ones suffice) and ``D_qref`` (q, n) as in ``knn_log_ratio``. A query with no
    other real image gets ``-d_min(x, G)``."""
    d_min_g = d_g.min(axis=1)
    d_r = D_qref.min(axis=1)
    return np.where(np.isfinite(d_r), d_r - d_min_g, -d_min_g)


def project(X_ref: np.ndarray, X_g: np.ndarray, n_components: int, random_state: int,
            to_vectors: Callable[[np.ndarray], np.ndarray] = np.asarray) -> Callable[[np.ndarray], np.ndarray]:
    """A whitened PCA fitted label-free on generated + reference images (at most ``PCA_FIT_ROWS`` of
    them and ``PCA_FIT_BYTES`` of their vectors, drawn with ``random_state``), whose vectors are
    ``to_vectors(rows)`` ((k, ...) -> (k, D)); returns ``proj(X (N, ...)) -> (N, c)`` float64.
    ``X_g`` and ``X`` may be arrays or a ``similarity.GeneratedSet`` (rows by slice and by index).
    Vectors are made ``PROJECT_BYTES`` of rows at a time, so the vectors of every generated image (for
    NCC a normalised copy, 2.6 GB at 10,000 images of 256 px) never exist at once."""
    m, n = len(X_g), len(X_g) + len(X_ref)
    row_bytes = 4 * int(np.prod(X_ref.shape[1:]))
    fit_rows = max(2, min(PCA_FIT_ROWS, PCA_FIT_BYTES // row_bytes))
    rng = np.random.default_rng(random_state)
    pick = np.arange(n) if n <= fit_rows else rng.choice(n, fit_rows, replace=False)
    from_g = pick < m
    rows = np.empty(0)
    for mask, X, at in ((from_g, X_g, pick[from_g]), (~from_g, X_ref, pick[~from_g] - m)):
        if len(at):
            V = to_vectors(X[at])  # (k, D): the picked rows, in pick order
            if rows.ndim == 1:
                rows = np.empty((len(pick), V.shape[1]), dtype=V.dtype)
            rows[mask] = V
    c = int(max(1, min(n_components, rows.shape[0] - 1, rows.shape[1])))
    pca = PCA(n_components=c, whiten=True, svd_solver="randomized" if c < min(rows.shape) // 2 else "full",
              random_state=random_state).fit(rows)

    step = max(1, PROJECT_BYTES // row_bytes)

    def proj(X: np.ndarray) -> np.ndarray:
        return np.concatenate([pca.transform(to_vectors(X[i:i + step])) for i in range(0, len(X), step)]
                              ).astype(np.float64)

    return proj


def scott_bandwidth(n: int, d: int) -> float:
    """Scott's rule for whitened (unit-variance) data: ``n ** (-1 / (d + 4))``."""
    return float(n ** (-1.0 / (d + 4)))


def kde_models(Z_ref: np.ndarray, Z_g: np.ndarray, folds: np.ndarray) -> tuple[KernelDensity, list[KernelDensity], float]:
    """Gaussian KDEs with one bandwidth (Scott's rule, n = |G| + |ref|): the generated images' and,
    for each fold f, the reference images outside f. Returns ``(kde_g, [kde_ref_f], bandwidth)``."""
    h = scott_bandwidth(len(Z_ref) + len(Z_g), Z_g.shape[1])
    kde_g = KernelDensity(kernel="gaussian", bandwidth=h).fit(Z_g)
    refs = [KernelDensity(kernel="gaussian", bandwidth=h).fit(Z_ref[folds != f]) for f in range(int(folds.max()) + 1)]
    return kde_g, refs, h


def median_gamma(Z: np.ndarray, random_state: int, rows: int = 1000) -> float:
    """RBF ``gamma`` by the median heuristic: 1 / median squared distance between (at most ``rows``) images."""
    rng = np.random.default_rng(random_state)
    S = Z if len(Z) <= rows else Z[rng.choice(len(Z), rows, replace=False)]
    d2 = ((S[:, None, :] - S[None, :, :]) ** 2).sum(-1)[np.triu_indices(len(S), 1)]
    med = float(np.median(d2)) if d2.size else 1.0
    return 1.0 / med if med > 0 else 1.0


def classifier_models(Z_ref: np.ndarray, Z_g: np.ndarray, folds: np.ndarray, gamma: float, C: float,
                      random_state: int) -> list:
    """For each fold f, a probabilistic classifier of generated (1) vs reference images outside f (0):
    RBF kernel (Nystroem) + logistic regression, classes weighted to equal total weight, so its
    log-odds estimate ``log p_G(x) - log p_ref(x)`` (the density-ratio trick)."""
    models = []
    for f in range(int(folds.max()) + 1):
        X = np.concatenate([Z_g, Z_ref[folds != f]])
        t = np.r_[np.ones(len(Z_g)), np.zeros(int((folds != f).sum()))]
        model = make_pipeline(
            Nystroem(kernel="rbf", gamma=gamma, n_components=int(min(NYSTROEM_COMPONENTS, len(X))),
                     random_state=random_state),
            LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=random_state),
        )
        models.append(model.fit(X, t))
    return models
