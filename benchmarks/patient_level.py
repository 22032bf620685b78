"""Label-free membership scores at image and patient level, sibling-aware and not, with 95% intervals
bootstrapped over patients (docs/membership.md, "Patients").

    python benchmarks/patient_level.py [--benchmarks ../shared/benchmarks] [--sim-seeds 5] [--reps 1000]
                                       [--demo DEMO_DATA ...]

Each data set is audited as ``trainprint audit`` would: the audited images are one set of real
images, the reference another (known non-members), both pooled; AUC of audited members against
non-members. Groups are inferred from the pixels without labels, each set on its own (as ``audit
--groups auto``); where a set's patients are known (the simulation) the known patients are used
for the patient-level figures and the inferred ones for the sibling-aware scores.

- benchmark dev sets: ``real_used`` (members) against ``real_not_used`` (non-members), the dev
  folder's generated images. The dev sets hold about 47 (ctmem64) to 80 patients: intervals are wide.
- simulation: the demo's phantom patients (``make-demo``'s renderer, fast preset's slices, 140
  patients), and a generator that memorised a known share of them: for each of 40 member patients
  a noisy copy of some of its slices (1-2), beside fresh slices of 60 unseen patients; the audited
  pool is the 40 members and 40 non-members. Seeds vary the patients, the copies and the noise.

- simulation with near-duplicate siblings (``--dup-seeds``): the same, with every slice of a patient
  its first slice plus noise, as neighbouring thin CT slices are: a memorised slice's best real
  match is then its own sibling.

- demo: ``make-demo`` task folders (``--demo``, any number of seeds): the test folder's real images
  (members and non-members, 24 + 24 patients of 4 slices) audited against its generated images,
  labels from ``test_key.csv``, the patients from ``patients.csv`` (known), groups inferred.

Scores (higher = more likely used): ``max`` (best SSIM to a generated image: ``realmax``'s score), ``calibrated`` in
SSIM, NCC and pixel space (best to G minus best to another real image), blind (siblings included,
as before) and sibling-aware (own group left out), and ``fused``: the rank average of the three
sibling-aware calibrated scores. Patient level: the mean of a patient's slice scores (what
``audit`` uses), and for the two SSIM calibrated scores two alternatives (rows ``... / max``,
``... / fisher``): the patient's best slice, and Fisher's combination of its slices' p-values, each
slice's p being its upper-tail rank among all audited slices ((1 + #{j: s_j >= s_i}) / (n + 1)),
the patient's score -log10 of the chi-square(2k) tail of -2 sum log p over its k slices (so a
patient of 1 slice and one of 8 are on one scale). Writes nothing; prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.stats import chi2, rankdata
from sklearn.metrics import roc_auc_score

from trainprint.data import load_dev
from trainprint.evaluation.groups import infer_groups
from trainprint.membership.scores import clear_cache
from trainprint.membership.similarity_method import make_rule_method
from trainprint.scoring import patient_scores

SCORES = ("ssim max", "ssim calibrated (blind)", "ssim calibrated", "ssim calibrated (true groups)",
          "ncc calibrated", "pixel calibrated", "fused")
#: patient aggregations measured beside the mean, for these scores
ALTERNATIVES = {"ssim calibrated (blind)": ("max", "fisher"), "ssim calibrated": ("max", "fisher")}


def patient_level(s: np.ndarray, patients: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """(patient index of each slice (n,), patient scores (g,)) of slice scores ``s`` (n,): ``mean``,
    ``max`` or ``fisher`` (see the module docstring)."""
    ps = patient_scores(s, patients)
    if how == "mean":
        return ps.index, ps.score
    if how == "max":
        out = np.full(len(ps.groups), -np.inf)
        np.maximum.at(out, ps.index, s)
        return ps.index, out
    if how == "fisher":
        p = (1 + len(s) - rankdata(s, method="min") + 1) / (len(s) + 1)  # (1 + #{s_j >= s_i}) / (n + 1)
        stat = np.bincount(ps.index, weights=-2 * np.log(p), minlength=len(ps.groups))
        return ps.index, -np.log10(np.maximum(chi2.sf(stat, 2 * ps.size), 1e-300))
    raise ValueError(how)


def scores_of(R: np.ndarray, G: np.ndarray, groups: np.ndarray, truth: np.ndarray | None) -> dict[str, np.ndarray]:
    """Every score of ``SCORES`` for the real images ``R`` (n, s, s) in [0, 1], pooled, against ``G``;
    sibling-aware with the inferred ``groups`` (n,), and with the known patients ``truth`` where given."""
    out: dict[str, np.ndarray] = {}
    if truth is not None:
        out["ssim calibrated (true groups)"] = np.asarray(
            make_rule_method("ssim", "calibrated").fit(R, None, G, R, pool_groups=truth).decision_function(R),
            dtype=np.float64)
    for space in ("ssim", "ncc", "pixel"):
        aware = make_rule_method(space, "calibrated").fit(R, None, G, R, pool_groups=groups).decision_function(R)
        out[f"{space} calibrated"] = np.asarray(aware, dtype=np.float64)
        if space == "ssim":
            blind = make_rule_method(space, "calibrated").fit(R, None, G, R).decision_function(R)
            out["ssim calibrated (blind)"] = np.asarray(blind, dtype=np.float64)
            out["ssim max"] = np.asarray(make_rule_method(space, "realmax").fit(R, None, G, R).decision_function(R),
                                         dtype=np.float64)
    out["fused"] = np.mean([rankdata(out[f"{s} calibrated"]) for s in ("ssim", "ncc", "pixel")], axis=0)
    clear_cache()
    order = {k: out[k] for k in SCORES if k in out}
    return order


def aucs(y: np.ndarray, s: np.ndarray, patients: np.ndarray, rng: np.random.Generator,
         reps: int, how: str = "mean") -> tuple[float, tuple[float, float], float, tuple[float, float]]:
    """Image and patient AUC of ``s`` (n,) for labels ``y`` (n,), each with a 95% percentile interval
    from ``reps`` bootstraps that resample patients (their slices together); ``how``: the patient score."""
    index, score = patient_level(s, patients, how)
    n_p = len(score)
    y_p = np.bincount(index, weights=y, minlength=n_p) / np.bincount(index, minlength=n_p) >= 0.5
    members = [np.flatnonzero(index == g) for g in range(n_p)]
    img = roc_auc_score(y, s)
    pat = roc_auc_score(y_p, score)
    b_img, b_pat = [], []
    for _ in range(reps):
        pick = rng.integers(0, len(members), len(members))
        if len(np.unique(y_p[pick])) < 2:
            continue
        rows = np.concatenate([members[g] for g in pick])
        b_img.append(roc_auc_score(y[rows], s[rows]))
        b_pat.append(roc_auc_score(y_p[pick], score[pick]))
    ci = lambda v: tuple(np.percentile(v, [2.5, 97.5]))  # noqa: E731
    return img, ci(b_img), pat, ci(b_pat)


def dev_set(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(R (n, s, s), y (n,), G (m, s, s), inferred patients (n,)) of a benchmark dev folder."""
    dev = load_dev(folder, cache_dir=False)
    used, not_used, gen = (dev.split == "real_used"), (dev.split == "real_not_used"), (dev.split == "generated")
    R = np.concatenate([dev.pixels[used], dev.pixels[not_used]]).astype(np.float32) / 255.0
    y = np.array([1] * int(used.sum()) + [0] * int(not_used.sum()))
    groups = np.concatenate([np.char.add("u", infer_groups(dev.pixels[used]).astype(str)),
                             np.char.add("n", infer_groups(dev.pixels[not_used]).astype(str))])
    return R, y, dev.pixels[gen].astype(np.float32) / 255.0, groups


def simulation(seed: int, near_duplicates: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                                   np.ndarray]:
    """(R, y, G, inferred groups, true patients) of the memorising-generator simulation; with
    ``near_duplicates`` every slice of a patient is its first slice plus noise (+-6 gray levels), as
    neighbouring thin CT slices are."""
    import dataclasses

    from trainprint.demo.make import PRESETS, _render_roles

    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x51A1]))
    cfg = dataclasses.replace(PRESETS["fast"], dev_used_patients=35, dev_not_used_patients=35, test_used_patients=35,
                              test_not_used_patients=35)  # 140 phantom patients, drawn as make-demo draws them
    roles = _render_roles(cfg, np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[0]))
    pix = np.concatenate([roles[k].pixels for k in roles])
    pat = np.concatenate([roles[k].patient for k in roles]).astype(str)
    if near_duplicates:
        first = {p: pix[np.flatnonzero(pat == p)[0]].astype(int) for p in np.unique(pat)}
        pix = np.stack([np.clip(first[p] + rng.integers(-6, 7, first[p].shape), 0, 255) for p in pat]).astype(np.uint8)
    ids = np.unique(pat)
    rng.shuffle(ids)
    if len(ids) < 140:
        raise SystemExit(f"simulation: {len(ids)} demo patients, need 140")
    members, non, unseen = ids[:40], ids[40:80], ids[80:140]
    copies = []
    for p in members:
        rows = np.flatnonzero(pat == p)
        for r in rng.choice(rows, size=min(len(rows), int(rng.integers(1, 3))), replace=False):
            copies.append(np.clip(pix[r].astype(int) + rng.integers(-10, 11, pix[r].shape), 0, 255))
    fresh = pix[np.isin(pat, unseen)]
    G = np.concatenate([np.asarray(copies, dtype=np.uint8), fresh]).astype(np.float32) / 255.0
    keep_m, keep_n = np.isin(pat, members), np.isin(pat, non)
    R = np.concatenate([pix[keep_m], pix[keep_n]]).astype(np.float32) / 255.0
    y = np.array([1] * int(keep_m.sum()) + [0] * int(keep_n.sum()))
    truth = np.concatenate([pat[keep_m], pat[keep_n]])
    groups = np.concatenate([np.char.add("u", infer_groups(pix[keep_m]).astype(str)),
                             np.char.add("n", infer_groups(pix[keep_n]).astype(str))])
    return R, y, G, groups, truth


def demo_set(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(R, y, G, inferred groups, true patients) of a make-demo folder's test set."""
    from trainprint.core.files import read_csv
    from trainprint.data.load import read_folder

    test, _ = read_folder(folder / "test", "test", cache_dir=False)
    real, gen = test.split == "real_unknown", test.split == "generated"
    key = {r[0]: int(r[1]) for r in (line.split(",") for line in (folder / "test_key.csv").read_text().split())}
    patient = {r["id"]: r["patient"] for r in read_csv(folder / "patients.csv")}
    ids = test.ids[real]
    return (test.pixels[real].astype(np.float32) / 255.0, np.array([key[i] for i in ids]),
            test.pixels[gen].astype(np.float32) / 255.0, infer_groups(test.pixels[real]).astype(str),
            np.array([patient[i] for i in ids]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--benchmarks", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "benchmarks")
    ap.add_argument("--sim-seeds", type=int, default=5)
    ap.add_argument("--dup-seeds", type=int, default=0, help="seeds of the near-duplicate-siblings simulation")
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--demo", type=Path, nargs="*", default=[], help="make-demo data folders (e.g. one per seed)")
    ap.add_argument("--no-benchmarks", action="store_true")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print("| data | score | image AUC [95%] | patient AUC [95%] | images / patients | seconds |")
    print("|---|---|---|---|---|---|")
    cases: list[tuple[str, object]] = [(f"sim seed {s}", s) for s in range(args.sim_seeds)]
    cases += [(f"sim-dup seed {s}", ("dup", s)) for s in range(args.dup_seeds)]
    cases += [(f"demo {d.name}", d) for d in args.demo]
    cases += [(name, args.benchmarks / name / "dev") for name in ("ctmem64", "cxrmem64", "cxrmem64-small")
              if (args.benchmarks / name / "dev").is_dir() and not args.no_benchmarks]
    pooled: dict[str, list[float]] = {}
    for name, src in cases:
        t0 = time.perf_counter()
        if isinstance(src, int) or isinstance(src, tuple):
            R, y, G, groups, truth = simulation(src[1], True) if isinstance(src, tuple) else simulation(src)
            scores = scores_of(R, G, groups, truth)
        elif name.startswith("demo "):
            R, y, G, groups, truth = demo_set(Path(str(src)))
            scores = scores_of(R, G, groups, truth)
        else:
            R, y, G, groups = dev_set(Path(str(src)))
            truth = groups
            scores = scores_of(R, G, groups, None)
        for k, s in scores.items():
            for how in ("mean", *ALTERNATIVES.get(k, ())):
                label = k if how == "mean" else f"{k} / {how}"
                img, ci_i, pat, ci_p = aucs(y, s, truth, rng, args.reps, how)
                if isinstance(src, (int, tuple)):
                    pooled.setdefault(f"{'sim-dup' if isinstance(src, tuple) else 'sim'}: {label}", []).append(pat)
                print(f"| {name} | {label} | {img:.3f} [{ci_i[0]:.3f}, {ci_i[1]:.3f}] | {pat:.3f} [{ci_p[0]:.3f}, "
                      f"{ci_p[1]:.3f}] | {len(y)} / {len(set(truth))} | {time.perf_counter() - t0:.0f} |", flush=True)
    if args.sim_seeds or args.dup_seeds:
        print("\nsimulations, patient AUC over seeds (mean, min, max):")
        for k, v in pooled.items():
            print(f"  {k}: {np.mean(v):.3f} ({np.min(v):.3f} to {np.max(v):.3f})")


if __name__ == "__main__":
    main()
