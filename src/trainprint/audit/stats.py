"""The statistics of an audit: p-values against known non-members, the global test, and how many
of the audited images were in training.

Every quantity names what it is measured against:

- ``conformal_p_values``: for each audited image, the share of reference (known non-member) scores
  at least as high, ``(1 + #{ref >= s}) / (n_ref + 1)``. Valid (uniform or larger) for an audited
  image that is not a member, when the reference images and the audited non-members come from the
  same population and are scored the same way (Bates et al. 2023, "Testing for outliers with
  conformal p-values"). Their smallest possible value is ``1 / (n_ref + 1)``.
- ``bh_q_values``: Benjamini-Hochberg adjusted p-values; calling "used" every image with q <= 0.05
  keeps the expected share of non-members among those called at or below 5% (conformal p-values
  are positively dependent, for which BH is valid: Bates et al. 2023).
- ``global_test``: does the audited set score higher than the reference? Statistic: the AUC of the
  audited scores against the reference scores (Mann-Whitney U / (n r)). Its p-value comes from a
  permutation test that moves whole sibling groups between the two sets (a group never spans both:
  it is split by set first), so near-duplicate slices of one patient count as one unit, not as
  independent evidence; with every image its own group this is the one-sided Mann-Whitney test by
  permutation. The image-level Mann-Whitney p-value (which assumes independent images) is kept
  beside it for comparison.
- ``storey_members``: Storey's estimate of the number of members, ``n - #{p > lambda} / (1 - lambda)``,
  clipped to [0, n]; it counts only members whose scores stand out, so it is a lower estimate when
  members and non-members overlap. Its interval is a percentile bootstrap that resamples sibling
  groups (images when there are none) of both the audited and the reference images.
- ``rogan_gladen_members``: with a labelled dev set instead, the count called used corrected by the
  method's out-of-fold true and false positive rates, ``(called / n - fpr) / (tpr - fpr)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu, rankdata

STOREY_LAMBDA = 0.5
FDR = 0.05
BOOTSTRAP_REPS = 2000
PERMUTATIONS = 9999
MIN_SEPARATION = 0.05  # tpr - fpr below this: the dev set gives no usable correction


def conformal_p_values(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(n,) p-values of ``scores`` (n,) against ``reference`` (r,) scores; higher score = more
    likely a member. NaN scores get p = 1."""
    ref = np.sort(np.asarray(reference, dtype=np.float64))
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    at_least = len(ref) - np.searchsorted(ref, s, side="left")  # #{ref >= s}
    return (1.0 + at_least) / (len(ref) + 1.0)


def bh_q_values(p: np.ndarray) -> np.ndarray:
    """(n,) Benjamini-Hochberg adjusted p-values of ``p`` (n,)."""
    p = np.asarray(p, dtype=np.float64)
    n = len(p)
    if n == 0:
        return p.copy()
    order = np.argsort(p, kind="stable")
    ranked = p[order] * n / np.arange(1, n + 1)
    q_sorted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(n)
    q[order] = np.minimum(q_sorted, 1.0)
    return q


def units_of(groups: np.ndarray | None, n: int, offset: int = 0) -> np.ndarray:
    """(n,) int unit of each image: its group's index (``groups`` (n,) labels), or its own index."""
    if groups is None:
        return np.arange(n) + offset
    return np.unique(np.asarray(groups).astype(str), return_inverse=True)[1].astype(np.int64) + offset


def global_test(scores: np.ndarray, reference: np.ndarray, groups: np.ndarray | None = None,
                ref_groups: np.ndarray | None = None, *, seed: int = 0,
                permutations: int = PERMUTATIONS) -> dict[str, Any]:
    """Do the audited ``scores`` (n,) run higher than the ``reference`` scores (r,)? The AUC of one
    against the other, and its p-value by permuting whole sibling groups (``groups`` (n,),
    ``ref_groups`` (r,) labels; None: every image its own unit) between the two sets."""
    s, r = np.asarray(scores, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    ok_s, ok_r = np.isfinite(s), np.isfinite(r)
    s, r = s[ok_s], r[ok_r]
    u_s = units_of(None if groups is None else np.asarray(groups)[ok_s], len(s))
    u_r = units_of(None if ref_groups is None else np.asarray(ref_groups)[ok_r], len(r), int(u_s.max()) + 1)
    units = np.concatenate([u_s, u_r])
    n_units = int(units.max()) + 1
    ranks = rankdata(np.concatenate([s, r]))  # mid-ranks: ties count one half, as in U
    rank_sum = np.bincount(units, weights=ranks, minlength=n_units)  # (units,)
    size = np.bincount(units, minlength=n_units).astype(np.float64)
    audited = np.zeros(n_units, dtype=bool)
    audited[np.unique(u_s)] = True

    def auc(mask: np.ndarray) -> np.ndarray:
        """(P,) AUC of the images of the units in ``mask`` (P, units) against the others."""
        n1 = mask @ size
        n0 = len(ranks) - n1
        u = mask @ rank_sum - n1 * (n1 + 1) / 2.0
        return u / np.maximum(n1 * n0, 1.0)

    observed = float(auc(audited[None, :].astype(np.float64))[0])
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x61D7]))
    null = np.empty(permutations)
    for start in range(0, permutations, 1000):
        k = min(1000, permutations - start)
        perm = rng.permuted(np.broadcast_to(audited, (k, n_units)), axis=1).astype(np.float64)
        null[start:start + k] = auc(perm)
    p = (1.0 + float(np.sum(null >= observed - 1e-12))) / (1.0 + permutations)
    mw = mannwhitneyu(s, r, alternative="greater")
    return {"test": "one-sided permutation test of the AUC of audited against reference scores, whole sibling "
                    "groups moved between the sets",
            "null": "the audited images score no higher than known non-members (no detectable member)",
            "auc_audited_vs_reference": round(observed, 6), "p_value": round(p, 6), "permutations": permutations,
            "units": {"audited": int(len(np.unique(u_s))), "reference": int(len(np.unique(u_r)))},
            "mann_whitney_p_images": float(mw.pvalue), "n_audited": int(len(s)), "n_reference": int(len(r))}


def storey_count(p: np.ndarray, lam: float = STOREY_LAMBDA) -> float:
    """Storey's estimate of the number of non-null p-values among ``p`` (n,), in [0, n]."""
    n = len(p)
    pi0 = min(1.0, float(np.sum(np.asarray(p) > lam)) / ((1.0 - lam) * n)) if n else 1.0
    return n * (1.0 - pi0)


def _resample(units: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices of a bootstrap sample that draws whole units (``units`` (n,) ints) with replacement."""
    labels, inverse = np.unique(units, return_inverse=True)
    members = [np.flatnonzero(inverse == u) for u in range(len(labels))]
    pick = rng.integers(0, len(labels), len(labels))
    return np.concatenate([members[u] for u in pick])


def storey_members(scores: np.ndarray, reference: np.ndarray, groups: np.ndarray | None = None,
                   ref_groups: np.ndarray | None = None, *, seed: int, reps: int = BOOTSTRAP_REPS,
                   lam: float = STOREY_LAMBDA) -> dict[str, Any]:
    """Storey's estimate of how many audited images are members, scaled to the audited count, with
    a 95% percentile bootstrap interval (sibling groups of the audited and the reference images
    resampled, p-values recomputed each time)."""
    s, r = np.asarray(scores, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    point = storey_count(conformal_p_values(s, r), lam)
    u_s, u_r = units_of(groups, len(s)), units_of(ref_groups, len(r))
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5703]))
    boot = np.empty(reps)
    for b in range(reps):
        sb = s[_resample(u_s, rng)]
        rb = r[_resample(u_r, rng)]
        boot[b] = storey_count(conformal_p_values(sb, rb), lam) * len(s) / len(sb)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"method": f"Storey (lambda {lam}) on the conformal p-values; a lower estimate when members and "
                      "non-members overlap", "members": round(point, 3), "ci95": [round(float(lo), 3),
                                                                               round(float(hi), 3)],
            "n": int(len(s)), "share": round(point / len(s), 6) if len(s) else None,
            "bootstrap": {"reps": reps, "resampled": "sibling groups (or images) of the audited and reference sets",
                          "units": [int(len(np.unique(u_s))), int(len(np.unique(u_r)))]}}


def rogan_gladen_members(called: np.ndarray, y_dev: np.ndarray, pred_dev: np.ndarray, *, seed: int,
                         reps: int = BOOTSTRAP_REPS) -> dict[str, Any]:
    """How many of the audited images are members, from the count the method calls used
    (``called`` (n,) 0/1) and its out-of-fold answers on the dev set (``y_dev``, ``pred_dev`` (d,)),
    with a 95% bootstrap interval over the audited and the dev images. Not estimable (``members``
    None) when the method barely separates used from not used on the dev set."""
    called = np.asarray(called, dtype=np.float64)
    y, pred = np.asarray(y_dev, dtype=np.int64), np.asarray(pred_dev, dtype=np.int64)

    def estimate(c: np.ndarray, yy: np.ndarray, pp: np.ndarray) -> float:
        tpr = pp[yy == 1].mean() if (yy == 1).any() else np.nan
        fpr = pp[yy == 0].mean() if (yy == 0).any() else np.nan
        if not np.isfinite(tpr - fpr) or tpr - fpr < MIN_SEPARATION:
            return np.nan
        return float(np.clip((c.mean() - fpr) / (tpr - fpr), 0.0, 1.0)) * len(c)

    tpr, fpr = float(pred[y == 1].mean()), float(pred[y == 0].mean())
    base = {"method": "Rogan-Gladen: the share called used corrected by the method's out-of-fold TPR and FPR "
                      "on the dev set", "tpr_dev": round(tpr, 6), "fpr_dev": round(fpr, 6), "n": int(len(called)),
            "called_used": int(called.sum())}
    point = estimate(called, y, pred)
    if not np.isfinite(point):
        return {**base, "members": None, "ci95": None,
                "why": f"TPR - FPR on the dev set is {tpr - fpr:.3f} (< {MIN_SEPARATION}): the method does not "
                       "separate used from not used there, so its count cannot be corrected"}
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x26C6]))
    boot = []
    for _ in range(reps):
        i = rng.integers(0, len(called), len(called))
        j = rng.integers(0, len(y), len(y))
        v = estimate(called[i], y[j], pred[j])
        if np.isfinite(v):
            boot.append(v)
    lo, hi = np.percentile(boot, [2.5, 97.5]) if boot else (np.nan, np.nan)
    return {**base, "members": round(point, 3), "ci95": [round(float(lo), 3), round(float(hi), 3)],
            "share": round(point / len(called), 6),
            "bootstrap": {"reps": reps, "kept": len(boot), "resampled": "audited and dev images"}}


# ------------------------------------------------------------------------------------ patients
PATIENT_DRAWS = 256  # size-matched draws per reference patient (see ``patient_p_values``)


def patient_p_values(scores: np.ndarray, sizes: np.ndarray, ref_scores: np.ndarray, ref_groups: np.ndarray | None,
                     *, seed: int, draws: int = PATIENT_DRAWS) -> np.ndarray:
    """(g,) p-values of audited patients against the reference patients, valid for any group size.

    ``scores`` (g,): each audited patient's score, the mean of its ``sizes`` (g,) slice scores;
    ``ref_scores`` (r,) the reference slices' scores, ``ref_groups`` (r,) their patients (None:
    every slice its own patient). A patient of ``s`` slices is compared with reference patients
    brought to the same size: each reference patient ``j`` (``m_j`` slices) gives the mean of ``s``
    of its slice scores, drawn without replacement when ``m_j >= s`` (a random ``s``-slice patient
    of the same kind) and with replacement when ``m_j < s`` (fewer distinct slices: a wider null,
    so the p-value errs high). With ``P_j`` the share of ``draws`` such means at least the audited
    score, ``p = (1 + sum_j P_j) / (R + 1)`` over the ``R`` reference patients: the conformal
    p-value with reference patients as units, averaged over the draws. For ``s = 1`` and single-slice
    reference patients it is ``conformal_p_values``. Smallest value ``1 / (R + 1)``. NaN scores: p = 1;
    NaN reference slices are left out. Its level is checked by ``benchmarks/null_level.py``."""
    s = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=np.inf)  # NaN -> p = 1 below
    sizes = np.asarray(sizes, dtype=np.int64)
    r = np.asarray(ref_scores, dtype=np.float64)
    ok = np.isfinite(r)
    units = units_of(None if ref_groups is None else np.asarray(ref_groups)[ok], int(ok.sum()))
    r = r[ok]
    members = [r[units == u] for u in np.unique(units)]
    R = len(members)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x9A71]))
    p = np.ones(len(s))
    for size in np.unique(sizes):
        null = np.empty((R, draws))  # (R, draws) size-matched means of each reference patient
        for j, v in enumerate(members):
            if len(v) == 1 or size == 1:
                null[j] = v[rng.integers(0, len(v), draws)] if size == 1 else v[0]
                continue
            if len(v) >= size:
                pick = np.argsort(rng.random((draws, len(v))), axis=1)[:, :size]
            else:
                pick = rng.integers(0, len(v), (draws, int(size)))
            null[j] = v[pick].mean(axis=1)
        rows = np.flatnonzero(sizes == size)
        t = s[rows]
        finite = np.isfinite(t)
        exceed = (null[None, :, :] >= t[finite, None, None] - 1e-12).mean(axis=2).sum(axis=1)  # (k,)
        p[rows[finite]] = (1.0 + exceed) / (R + 1.0)
    return p


def reference_allows(n_patients: int, n_ref_patients: int, fdr: float) -> dict[str, Any]:
    """What a reference of ``n_ref_patients`` patients allows at ``fdr`` among ``n_patients`` audited
    patients, before any score: the smallest possible p-value ``1 / (R + 1)``, and the fewest patients
    that must share it for Benjamini-Hochberg to call any (``ceil(n p_min / fdr)``; none can be called
    when that exceeds ``n``)."""
    p_min = 1.0 / (n_ref_patients + 1.0)
    fewest = int(np.ceil(n_patients * p_min / fdr - 1e-12)) if n_patients else 0
    callable_ = bool(n_patients) and fewest <= n_patients
    line = (f"the reference holds {n_ref_patients} patients: the smallest possible p-value is 1/{n_ref_patients + 1} "
            f"= {p_min:.4f}; at --fdr {fdr} among {n_patients} audited patients, "
            + (f"a call needs at least {fewest} patients that all beat every reference patient"
               if callable_ else "no patient can be called used, however strong the evidence "
                                 f"(it would take {fewest} patients; give a larger reference)"))
    return {"reference_patients": int(n_ref_patients), "audited_patients": int(n_patients),
            "smallest_p": round(p_min, 6), "fewest_to_call": fewest, "can_call": callable_, "fdr": fdr,
            "statement": line}


MIXTURE_MIN_BIC_GAIN = 10.0  # BIC(1 component) - BIC(2 components) needed ("very strong", Kass & Raftery)
MIXTURE_MIN_SEPARATION = 2.0  # Ashman's D of the two components needed (clearly bimodal)
MIXTURE_REPS = 200


def _two_components(x: np.ndarray, seed: int, n_init: int = 3) -> tuple[float, float, np.ndarray] | None:
    """A two-component Gaussian mixture on ``x`` (g,): (BIC gain over one component, Ashman's D,
    (g,) posterior of the higher component), or None when there are too few distinct values."""
    from sklearn.mixture import GaussianMixture

    if len(np.unique(x)) < 4:
        return None
    z = (x - x.mean()) / (x.std() or 1.0)
    X = z.reshape(-1, 1)
    one = GaussianMixture(1, random_state=seed).fit(X)
    two = GaussianMixture(2, random_state=seed, n_init=n_init, reg_covar=1e-4).fit(X)
    mu, sd = two.means_.ravel(), np.sqrt(two.covariances_.ravel())
    d = float(np.sqrt(2.0) * abs(mu[0] - mu[1]) / np.sqrt(sd[0] ** 2 + sd[1] ** 2))
    post = two.predict_proba(X)[:, int(np.argmax(mu))]
    return float(one.bic(X) - two.bic(X)), d, post


def mixture_members(patient_scores: np.ndarray, *, seed: int, reps: int = MIXTURE_REPS) -> dict[str, Any]:
    """Without a reference or a dev set: how many audited patients are members, from the shape of
    their scores alone. A two-component Gaussian mixture on the patient scores; a cut is justified
    only when two components beat one by ``MIXTURE_MIN_BIC_GAIN`` in BIC and are separated (Ashman's
    D >= ``MIXTURE_MIN_SEPARATION``). Then the members are the patients whose posterior of the
    higher component is > 0.5, their count the estimate, with a 95% bootstrap interval over patients;
    otherwise ``members`` is None and nothing is called."""
    full = np.asarray(patient_scores, dtype=np.float64)
    finite = np.isfinite(full)
    x = full[finite]
    base = {"method": "two-component Gaussian mixture on the patient scores (no reference, no dev set)",
            "n": int(len(x)), "unit": "patients", "min_bic_gain": MIXTURE_MIN_BIC_GAIN, "min_separation": MIXTURE_MIN_SEPARATION}
    fit = _two_components(x, seed) if len(x) >= 8 else None
    if fit is None:
        return {**base, "members": None, "ci95": None, "called": None,
                "why": f"{len(x)} patient scores: too few to tell one population from two; no cut can be justified"}
    gain, d, post = fit
    base.update(bic_gain=round(gain, 3), separation=round(d, 3))
    if gain < MIXTURE_MIN_BIC_GAIN or d < MIXTURE_MIN_SEPARATION:
        return {**base, "members": None, "ci95": None, "called": None,
                "why": f"the patient scores do not split into two clear populations (BIC gain {gain:.1f}, needed "
                       f"{MIXTURE_MIN_BIC_GAIN}; separation {d:.2f}, needed {MIXTURE_MIN_SEPARATION}): no cut can "
                       "be justified without known non-members (--reference) or a labelled dev set (--dev)"}
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x3C1E]))
    boot = []
    for _ in range(reps):
        xb = x[rng.integers(0, len(x), len(x))]
        fb = _two_components(xb, seed, n_init=1)
        boot.append(float((fb[2] > 0.5).sum()) if fb is not None else 0.0)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    called = np.zeros(len(full), dtype=bool)
    called[finite] = post > 0.5
    return {**base, "members": int(called.sum()), "ci95": [round(float(lo), 3), round(float(hi), 3)],
            "called": called.tolist(), "bootstrap": {"reps": reps, "resampled": "patients"}}


def storey_patients(p: np.ndarray, *, seed: int, reps: int = BOOTSTRAP_REPS, lam: float = STOREY_LAMBDA) -> dict[str, Any]:
    """Storey's estimate of how many audited patients are members, from their patient p-values
    ``p`` (g,), with a 95% percentile bootstrap interval over the audited patients (the reference's
    sampling is not resampled, so the interval is narrower than the truth by that part)."""
    p = np.asarray(p, dtype=np.float64)
    point = storey_count(p, lam)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x57A7]))
    boot = np.array([storey_count(p[rng.integers(0, len(p), len(p))], lam) for _ in range(reps)]) if len(p) else [0.0]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"method": f"Storey (lambda {lam}) on the patient p-values; a lower estimate when members and non-members "
                      "overlap", "members": round(point, 3), "ci95": [round(float(lo), 3), round(float(hi), 3)],
            "n": int(len(p)), "unit": "patients",
            "bootstrap": {"reps": reps, "resampled": "audited patients (p-values held fixed)"}}
