"""Label-free membership scores of real images against a generator's output (higher = more likely used).

For each real image r, with G the generated images and P the other real images available
(``R_pool``: every real image known, labelled or not; r itself is left out of its own P):

    max         max_g s(r, g)                          distance to closest record (DCR), GAN-Leaks
    topk        mean of the k largest s(r, g)          a smoother DCR (Monte-Carlo-attack flavour)
    nn          #{g : r is g's most similar real}      VCMI's nearest-neighbour rule; authenticity
    calibrated  max_g s(r, g) - max_p s(r, p)          best match in G against best match among reals

With ``ranks=True`` two more (VCMI's ranking rule), over the candidates C = pool + R:

    rank_gen    mean over g of r's rank among C in g's similarity list, / |C|    (low = favoured by G)
    rank_real   mean over other reals p of r's rank among C - p in p's list, / (|C| - 1)
    first_gen   share of G's lists that put r first among C                      (high = favoured by G)
    first_real  share of the other reals' lists that put r first among C - p

A real image is found in the pool by its exact content, so passing the same images as ``R`` and
in ``R_pool`` (as ``evaluate`` does) never matches an image with itself.
"""

from __future__ import annotations

import functools
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.similarity.matrix import check_representation, needs_images, pairwise
from trainprint.similarity.search import NearestStats, faiss_available, nearest_stats, stats_from_matrix

SCORE_NAMES = ("max", "topk", "nn", "calibrated")
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class MembershipScores:
    """Per-real-image scores; every array has n rows, one per real image, in input order."""

    max: np.ndarray  # (n,) float32: best similarity to a generated image
    topk: np.ndarray  # (n,) float32: mean of the k best similarities to generated images
    nn: np.ndarray  # (n,) int64: how many generated images have this image as their nearest real
    calibrated: np.ndarray  # (n,) float32: max - real_max (= max when there is no other real)
    real_max: np.ndarray  # (n,) float32: best similarity to another real image (NaN: none)
    topk_idx: np.ndarray  # (n, k) int64: indices in G of the k best matches, best first
    topk_sim: np.ndarray  # (n, k) float32: their similarities
    rank_gen: np.ndarray | None = None  # (n,) float64 in (0, 1]: mean normalised rank in G's lists
    rank_real: np.ndarray | None = None  # (n,) float64 in (0, 1]: mean normalised rank in other reals' lists
    first_gen: np.ndarray | None = None  # (n,) float64 in [0, 1]: share of G's lists that rank it first
    first_real: np.ndarray | None = None  # (n,) float64 in [0, 1]: share of the other reals' lists that rank it first

    def get(self, name: str) -> np.ndarray:
        """One score by name (``SCORE_NAMES``), as float64."""
        if name not in SCORE_NAMES:
            raise TrainprintError(f"membership score {name!r}: expected one of {', '.join(SCORE_NAMES)}")
        return np.asarray(getattr(self, name), dtype=np.float64)

    def features(self) -> np.ndarray:
        """(n, 4) float64: the four scores as columns, in ``SCORE_NAMES`` order."""
        return np.stack([self.get(s) for s in SCORE_NAMES], axis=1)


#: results of the last few similarity computations (at most ``_CACHE_SIZE`` of them): evaluate fits one
#: method per fold and rule, and every one of them compares the same real images with the same
#: generated images
_CACHE: "OrderedDict[bytes, Any]" = OrderedDict()
_CACHE_SIZE = 32
#: and at most this many bytes of arrays (the newest result is always kept)
_CACHE_BYTES = 2**31


#: while ``one_pass()`` is active: id -> (array, digest of its content), so that each array is hashed once
_MEMO: list[dict[int, tuple[np.ndarray, bytes]]] = []


@contextmanager
def one_pass() -> Iterator[None]:
    """A block in which the arrays given to the cached functions are not modified (one ``fit`` or
    ``decision_function``): each one's content is hashed once, not at every cache look-up (10,000
    generated images of 256 px are 2.6 GB, about 4 s of hashing here). Re-entrant."""
    if _MEMO:
        yield
        return
    _MEMO.append({})
    try:
        yield
    finally:
        _MEMO.clear()


def in_one_pass(fn: F) -> F:
    """Decorator: ``fn`` runs inside ``one_pass()`` (for a method's ``fit`` / ``decision_function``)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with one_pass():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _array_digest(a: np.ndarray) -> bytes:
    memo = _MEMO[0] if _MEMO else None
    if memo is not None and id(a) in memo and memo[id(a)][0] is a:
        return memo[id(a)][1]
    h = hashlib.sha1(str((a.shape, a.dtype.str)).encode())
    h.update(np.ascontiguousarray(a).data)  # the buffer itself: no copy of a 2.6 GB G
    d = h.digest()
    if memo is not None:
        memo[id(a)] = (a, d)  # the reference keeps the id from being reused inside the block
    return d


def _digest(*parts: Any) -> bytes:
    h = hashlib.sha1()
    for p in parts:
        h.update(_array_digest(p) if isinstance(p, np.ndarray) else repr(p).encode())
    return h.digest()


def _nbytes(value: Any) -> int:
    """Bytes of the arrays in a cached value (an array, a tuple of them, or a dataclass of them)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    if hasattr(value, "__dataclass_fields__"):
        return sum(_nbytes(getattr(value, f)) for f in value.__dataclass_fields__)
    return 0


def _cached(key: bytes, compute: Any) -> Any:
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    value = compute()
    _CACHE[key] = value
    while len(_CACHE) > 1 and (len(_CACHE) > _CACHE_SIZE or sum(_nbytes(v) for v in _CACHE.values()) > _CACHE_BYTES):
        _CACHE.popitem(last=False)
    return value


def clear_cache() -> None:
    """Forget cached similarity results (tests; memory)."""
    _CACHE.clear()


def cached_pairwise(space: str, A: np.ndarray, B: np.ndarray, **opts: Any) -> np.ndarray:
    """``similarity.pairwise(space, A, B)`` (n, m) float32, kept in the cache of recent results
    (every fold of an evaluation compares the same pool with the same generated images)."""
    return _cached(_digest("pairwise", space, A, B, sorted(opts.items())), lambda: pairwise(space, A, B, **opts))


#: largest candidates x generated similarity matrix (entries; float32, so 256 MB) that
#: ``membership_scores`` computes whole and keeps in the cache, so that the nearest-neighbour search,
#: the VCMI ranks and rules, and the ``mia-*`` distances of one fit all read one similarity pass.
#: Larger in-memory sets, and generated sets on disk (streaming ``submit``), stream over G as before.
MATRIX_MAX_ENTRIES = 2**26


def shares_matrix(space: str, C: np.ndarray, G: Any, backend: str = "auto") -> bool:
    """Whether ``membership_scores`` reads its nearest-neighbour statistics from the cached full
    ``C x G`` matrix (``search.stats_from_matrix``, the same numbers as streaming): G an array in
    memory, the torch search (not FAISS), at most ``MATRIX_MAX_ENTRIES`` similarities."""
    if not isinstance(G, np.ndarray) or C.shape[0] * G.shape[0] > MATRIX_MAX_ENTRIES:
        return False
    return not (backend == "faiss" or (backend == "auto" and not needs_images(space) and faiss_available()))


#: neighbours a search keeps at least (``membership_scores``' default k): the ``mia-*`` distance scores
#: ask for this many too (they read k, 1 by default), so that they, the membership scores and the
#: audit's neighbour list are served by one search of G
NEAREST_K = 5


def cached_nearest(space: str, C: np.ndarray, G: Any, *, k: int = NEAREST_K, backend: str = "auto",
                   **opts: Any) -> NearestStats:
    """``search.nearest_stats(space, C, G, k=k, backend=backend, **opts)``, kept in the cache of recent
    results: read from the cached full ``C x G`` matrix where ``shares_matrix`` (the same numbers),
    else one streamed search of G (a ``GeneratedSet``: its plan, e.g. two-stage). ``k`` is capped at |G|."""
    k = max(1, min(int(k), len(G)))
    if shares_matrix(space, C, G, backend):  # one similarity pass serves the search and every full-matrix use
        nearest = lambda: stats_from_matrix(space, C, G, cached_pairwise(space, C, G, **opts), k=k, **opts)  # noqa: E731
    else:  # generated images on disk, FAISS, or a matrix too large to keep: stream over G
        nearest = lambda: nearest_stats(space, C, G, k=k, backend=backend, **opts)  # noqa: E731
    return _cached(_digest("nearest", space, C, G, k, backend, sorted(opts.items())), nearest)


def siblings_of(c_groups: np.ndarray | None, c: int) -> np.ndarray:
    """(c, c) bool: candidates i and j are one image or siblings (same group); the identity when
    ``c_groups`` is None (every image its own group)."""
    if c_groups is None:
        return np.eye(c, dtype=bool)
    g = np.asarray(c_groups)
    return g[:, None] == g[None, :]


def _within_group_rank(S: np.ndarray, c_groups: np.ndarray | None) -> np.ndarray:
    """(c, L): for each candidate and list, 1 + how many of its siblings the list puts above it
    (ties averaged): the part of its rank that its own group takes."""
    from scipy.stats import rankdata

    out = np.ones_like(S, dtype=np.float64)
    if c_groups is None:
        return out
    for g in np.unique(c_groups):
        rows = np.flatnonzero(c_groups == g)
        if len(rows) > 1:
            out[rows] = rankdata(-S[rows], axis=0, method="average")
    return out


def mean_ranks(S_cg: np.ndarray, S_cc: np.ndarray, c_groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """VCMI's ranks. ``S_cg`` (c, m): candidates x generated; ``S_cc`` (c, c): candidates x candidates;
    ``c_groups`` (c,): sibling group of each candidate (None: each alone).

    Returns ``(rank_gen, rank_real)``, each (c,) float64: a candidate's mean rank (1 = most similar,
    ties averaged) in the generated images' lists, among itself and the candidates outside its own
    group, divided by their number; and in the other groups' candidates' lists (each list without
    its owner's group), each rank divided by its list's length (NaN when no other group exists).
    With every candidate its own group these are VCMI's ranks (divided by c and by c - 1)."""
    from scipy.stats import rankdata

    c = S_cg.shape[0]
    same = siblings_of(c_groups, c)
    size = same.sum(axis=1)  # (c,) own group's size
    rank_all = rankdata(-S_cg.astype(np.float64), axis=0, method="average")  # (c, m)
    rank_gen = (rank_all - (_within_group_rank(S_cg.astype(np.float64), c_groups) - 1.0)).mean(axis=1) / (c - size + 1)
    if (c - size).max() < 1:
        return rank_gen, np.full(c, np.nan)
    S = S_cc.astype(np.float64).copy()
    S[same] = np.inf  # the list owner's group ranks first ...
    ranks = rankdata(-S, axis=0, method="average") - size[None, :]  # ... and is taken out of its list
    ranks[same] = 0.0
    lengths = (c - size).astype(np.float64)  # list p holds the candidates outside p's group
    with np.errstate(invalid="ignore", divide="ignore"):
        rank_real = (ranks / np.maximum(lengths, 1.0)[None, :]).sum(axis=1) / (c - size)
    rank_real[c - size == 0] = np.nan
    return rank_gen, rank_real


def first_shares(S_cg: np.ndarray, S_cc: np.ndarray, c_groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-of-list shares, the rank statistic of VCMI's ranking rule that a near-copy dominates.
    ``S_cg`` (c, m), ``S_cc`` (c, c), ``c_groups`` (c,) as in ``mean_ranks``.

    Returns ``(first_gen, first_real)``, each (c,) float64: the share of the generated images' lists
    in which the candidate comes before every candidate of the other groups, and the share of the
    other groups' candidates' lists (each without its owner's group) that rank it first (NaN when no
    other group exists). A tied top is shared equally. With every candidate its own group, every
    list hands out exactly 1."""
    c = S_cg.shape[0]
    same = siblings_of(c_groups, c)
    if c_groups is None:
        first_gen = top_counts(S_cg) / S_cg.shape[1]
    else:
        first_gen = np.empty(c)
        for g in np.unique(c_groups):
            own = np.asarray(c_groups) == g
            others = S_cg[~own]
            if others.shape[0] == 0:
                first_gen[own] = 1.0
                continue
            best_other = others.max(axis=0, keepdims=True)  # (1, m)
            ties = (others == best_other).sum(axis=0, keepdims=True)  # (1, m)
            mine = S_cg[own]
            first_gen[own] = (np.where(mine > best_other, 1.0, np.where(mine == best_other, 1.0 / (ties + 1), 0.0))
                              ).mean(axis=1)
    outside = c - same.sum(axis=1)
    if outside.max() < 1:
        return first_gen, np.full(c, np.nan)
    S = S_cc.astype(np.float64).copy()
    S[same] = -np.inf  # the list owner's group is not in its own list
    first_real = top_counts(S) / np.maximum(outside, 1)
    first_real[outside == 0] = np.nan
    return first_gen, first_real


def top_counts(S: np.ndarray) -> np.ndarray:
    """``S`` (c, L): L lists (columns) over c candidates -> (c,) float64: how many lists have the
    candidate's entry as their largest (a tied top shared equally; a list of -inf entries only,
    which has no candidate, gives nothing)."""
    S = np.asarray(S, dtype=np.float64)
    top = (S == S.max(axis=0, keepdims=True)) & np.isfinite(S)
    return (top / np.maximum(top.sum(axis=0, keepdims=True), 1)).sum(axis=1)


def _row_keys(X: np.ndarray) -> list[bytes]:
    """One key per row of ``X``: a 32-byte BLAKE2b digest of its bytes (rows of one array share a
    dtype and shape), so that no copy of the rows is made to find equal ones."""
    if X.shape[0] == 0:
        return []
    X = np.ascontiguousarray(X).reshape(X.shape[0], -1)
    return [hashlib.blake2b(row.data, digest_size=32).digest() for row in X]


def _union_rows(R: np.ndarray, R_pool: np.ndarray | None) -> tuple[list[int], np.ndarray]:
    """(rows of the pool + R, in that order, kept in C; r_to_c): see ``union_of_reals``. Rows are
    numbered as in ``concatenate([R_pool, R])``, which is never made."""
    seen: dict[bytes, int] = {}
    rows: list[int] = []  # rows of (pool, R) kept in C
    offset = 0 if R_pool is None else R_pool.shape[0]
    keys = ([] if R_pool is None else _row_keys(R_pool.astype(R.dtype, copy=False))) + _row_keys(R)
    r_to_c = np.empty(R.shape[0], dtype=np.int64)
    for i, key in enumerate(keys):
        if key not in seen:
            seen[key] = len(rows)
            rows.append(i)
        if i >= offset:
            r_to_c[i - offset] = seen[key]
    return rows, r_to_c


def union_of_reals(R: np.ndarray, R_pool: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Candidates ``C`` = the pool, then R's images not already in it (by exact content; duplicates
    kept once), and for each image of R its row in C. Returns ``(C, r_to_c)``. The pool comes first
    so that every fold of an evaluation, which passes the same pool, gets the same C (and the cache
    of similarity results serves them all). When R adds nothing to a pool without duplicates, C is
    the pool itself (as R's dtype), not a copy: 73 MB for 280 images of 256 px."""
    rows, r_to_c = _union_rows(R, R_pool)
    if R_pool is None:
        return (R if len(rows) == R.shape[0] else R[rows]), r_to_c
    pool = R_pool.astype(R.dtype, copy=False)
    p = pool.shape[0]
    from_pool = [i for i in rows if i < p]
    from_r = [i - p for i in rows if i >= p]
    if len(from_pool) == p and not from_r:
        return pool, r_to_c
    return np.concatenate([pool[from_pool], R[from_r]]), r_to_c


def union_groups(R: np.ndarray, R_pool: np.ndarray | None, pool_groups: np.ndarray | None) -> np.ndarray | None:
    """(c,) str: the sibling group of each candidate of ``union_of_reals(R, R_pool)``: a pool image's
    group from ``pool_groups`` (p,), an image of R outside the pool a group of its own. None when
    ``pool_groups`` is None (every image its own group)."""
    if pool_groups is None:
        return None
    if R_pool is None or len(pool_groups) != len(R_pool):
        raise TrainprintError(f"membership: {0 if pool_groups is None else len(pool_groups)} pool groups for "
                              f"{0 if R_pool is None else len(R_pool)} pool images")
    rows, _ = _union_rows(R, R_pool)
    labels = np.concatenate([np.asarray(pool_groups).astype(str),
                             np.array([f"\x00r{i}" for i in range(R.shape[0])])])  # never a pool label
    return labels[rows]


def lookup_groups(X: np.ndarray, C: np.ndarray, c_groups: np.ndarray | None) -> np.ndarray | None:
    """(len(X),) str: the group of each row of ``X`` found in ``C`` by exact content (``c_groups``
    (len(C),)), a group of its own otherwise; None when ``c_groups`` is None."""
    if c_groups is None:
        return None
    index = {k: i for i, k in enumerate(_row_keys(C))}
    return np.array([str(c_groups[index[k]]) if k in index else f"\x00x{i}" for i, k in enumerate(_row_keys(X))])


def membership_scores(
    space: str,
    R: np.ndarray,
    G: np.ndarray,
    R_pool: np.ndarray | None = None,
    *,
    k: int = 5,
    backend: str = "auto",
    ranks: bool = False,
    pool_groups: np.ndarray | None = None,
    **opts,
) -> MembershipScores:
    """Scores of each real image in ``R`` (n, ...) against generated ``G`` (m, ...).

    ``R_pool`` (p, ...): other real images, the competitors for ``nn`` and the reference for
    ``calibrated``; R's own images always compete too. ``pool_groups`` (p,): the sibling group of
    each pool image (None: each alone); an image's own group is left out of ``real_max`` (so of
    ``calibrated``) and of the rank lists. ``ranks``: also ``rank_gen`` / ``rank_real``
    and ``first_gen`` / ``first_real`` (costs one full candidates x generated matrix). ``opts`` go to
    ``similarity.iter_blocks``.
    """
    R = check_representation(space, R, "real images")
    G = check_representation(space, G, "generated images")
    if R_pool is not None:
        R_pool = check_representation(space, R_pool, "R_pool")
        if R_pool.shape[1:] != R.shape[1:]:
            raise TrainprintError(f"membership: R_pool items are {R_pool.shape[1:]}, R items are {R.shape[1:]}")
    C, r_to_c = union_of_reals(R, R_pool)
    c_groups = union_groups(R, R_pool, pool_groups)
    opt_key = sorted(opts.items())
    st = cached_nearest(space, C, G, k=k, backend=backend, **opts)
    counts = np.bincount(st.nearest_real, minlength=C.shape[0]).astype(np.int64)
    top_sim, top_idx = st.topk_sim[r_to_c], st.topk_idx[r_to_c]
    best = top_sim[:, 0]
    real_max = np.full(R.shape[0], np.nan, dtype=np.float32)
    if C.shape[0] > 1:
        S_cc = cached_pairwise(space, C, C, **opts)
        S_rc = S_cc[r_to_c].copy()  # (n, c)
        S_rc[siblings_of(c_groups, C.shape[0])[r_to_c]] = -np.inf  # never the image itself, nor its siblings
        real_max = S_rc.max(axis=1).astype(np.float32)
        real_max[~np.isfinite(real_max)] = np.nan  # no real image outside its group
    calibrated = np.where(np.isnan(real_max), best, best - real_max).astype(np.float32)
    rank_gen = rank_real = first_gen = first_real = None
    if ranks:
        S_cc = cached_pairwise(space, C, C, **opts) if C.shape[0] > 1 else np.zeros((1, 1), np.float32)
        rg, rr, fg, fr = _cached(_digest("ranks", space, C, G, opt_key, c_groups),
                                 lambda: mean_ranks(cached_pairwise(space, C, G, **opts), S_cc, c_groups)
                                 + first_shares(cached_pairwise(space, C, G, **opts), S_cc, c_groups))
        rank_gen, rank_real, first_gen, first_real = rg[r_to_c], rr[r_to_c], fg[r_to_c], fr[r_to_c]
    return MembershipScores(
        max=best.astype(np.float32),
        topk=top_sim.mean(axis=1).astype(np.float32),
        nn=counts[r_to_c],
        calibrated=calibrated,
        real_max=real_max,
        topk_idx=top_idx,
        topk_sim=top_sim,
        rank_gen=rank_gen,
        rank_real=rank_real,
        first_gen=first_gen,
        first_real=first_real,
    )


def real_real_similarities(space: str, R_pool: np.ndarray, pool_groups: np.ndarray | None = None, **opts) -> np.ndarray:
    """(q,) float64: similarities of every pair of distinct real images of the pool from different
    sibling groups (``pool_groups`` (p,); None: every image alone, so q = p (p - 1) / 2; exact
    duplicates counted once). The calibration data of the label-free rules."""
    S = real_real_matrix(space, R_pool, pool_groups, **opts)
    iu = np.triu_indices(S.shape[0], k=1)
    pairs = S[iu]
    return pairs[np.isfinite(pairs)]


def real_real_matrix(space: str, R_pool: np.ndarray, pool_groups: np.ndarray | None = None, **opts) -> np.ndarray:
    """(c, c) float64: the similarity lists of the pool's distinct real images, -inf for an image
    itself and its siblings (``pool_groups`` (p,)), so that each list holds the other groups only."""
    R_pool = check_representation(space, R_pool, "R_pool")
    C, _ = union_of_reals(R_pool, None)
    if C.shape[0] < 2:
        raise TrainprintError(f"membership: real-real calibration needs at least 2 distinct real images, got {C.shape[0]}")
    groups = None if pool_groups is None else union_groups(R_pool[:0], R_pool, pool_groups)
    S = cached_pairwise(space, C, C, **opts).astype(np.float64)
    S[siblings_of(groups, C.shape[0])] = -np.inf
    if not np.isfinite(S).any():
        raise TrainprintError(f"membership: real-real calibration needs real images of at least 2 sibling groups; "
                              f"all {C.shape[0]} are of one")
    return S
