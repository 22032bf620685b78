"""``audit``: a verdict for every real image of a folder, with the evidence and the statistics
behind it, written to a run folder (after ``submit`` on the road, before ``report``).

Steps (each timed in ``run.json``):

    load        GENERATED_DIR, REAL_DIR, the reference (known non-members) and the dev set, if given
    evaluate    with a dev set: strict, sibling-aware CV of the candidates (``evaluation``), the
                recommended method, its selection-aware estimate and the label-permutation verdict
                -> ``evaluate/``
    scores      the method's score and answer for every audited (and reference) image
    neighbours  the 5 most similar generated images of every audited image, in the evidence space
    groups      with a reference: sibling groups of the audited and reference images, inferred from
                the pixels without labels (``--groups``), so near-duplicate slices count as one unit
    statistics  p-values against the reference, Benjamini-Hochberg q-values, the global test, the
                estimated number of members with its interval (``audit.stats``)

Files of an audit run folder:

    audit.csv          one row per audited image, most suspicious first (``CSV_FIELDS``)
    audit.json         the summary: mode, method, verdict and its test, estimate, confidence, notes
    audit_images.npz   the audited images and their neighbours, at most 64 px (for audit.html)
    reference_scores.csv  id, score of every reference image (with --reference)
    run.csv            the official run file (1 = used), when REAL_DIR is a task test folder's
                       real_unknown/ beside its generated/
    config.json, run.json, evaluate/ (with a dev set)

Which images each kind of method is fitted on: a label-free method on the generated images and
the audited + reference images (no labels; the two sets are scored in one pool, so a reference
image and an audited non-member are scored alike); a method that reads labels on the dev set
(its labelled real images and its generated images), as ``submit`` fits it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from trainprint.audit.config import DEFAULT_LABEL_FREE_METHOD, AuditConfig
from trainprint.audit.folders import load_image_folder, same_size
from trainprint.audit.stats import (bh_q_values, conformal_p_values, global_test, rogan_gladen_members,
                                    storey_members)
from trainprint.core import files
from trainprint.core.errors import TrainprintError
from trainprint.core.runs import RunRecord, check_out_dir
from trainprint.data.imageset import (GENERATED, REAL_NOT_USED, REAL_UNKNOWN, REAL_USED, ImageSet, labels_of,
                                      patients_of)
from trainprint.data.load import CacheDir, load_dev
from trainprint.evaluation.evaluate import evaluate_images
from trainprint.evaluation.fingerprint_cache import fingerprints
from trainprint.evaluation.groups import GroupRule, resolve_groups
from trainprint.evaluation.protocol import uses_labels
from trainprint.evaluation.null import ALPHA, EVIDENCE, NO_EVIDENCE, NOT_TESTED
from trainprint.evaluation.verdict import SELECTION_FILE
from trainprint.membership.scores import MembershipScores, membership_scores
from trainprint.methods import MethodOptions, MethodSpec, parse_method
from trainprint.similarity import PIXEL_SPACES
from trainprint.submit.runfiles import real_unknown_ids, write_run_file

NEIGHBOURS = 5  # nearest generated images listed per audited image
BORDERLINE_ROWS = 20  # the most suspicious images not called used, shown as borderline
IMAGE_PX = 64  # audit_images.npz keeps images at most this size
USED, BORDERLINE, NOT_FLAGGED = "used", "borderline", "not flagged"
CSV_FIELDS = (["rank", "id", "verdict", "score", "p_value", "q_value", "probability", "method_pred", "group"]
              + [f"neighbour_{i}" for i in range(1, NEIGHBOURS + 1)]
              + [f"similarity_{i}" for i in range(1, NEIGHBOURS + 1)])
AUDIT_FILE, CSV_FILE, IMAGES_FILE, RUN_FILE_NAME = "audit.json", "audit.csv", "audit_images.npz", "run.csv"
REFERENCE_FILE = "reference_scores.csv"


@dataclasses.dataclass(frozen=True)
class Inputs:
    """The images of one audit: ``gen`` (generated), ``real`` (audited, split real_unknown),
    ``ref`` (known non-members, split real_not_used, or None), ``dev`` (a dev set, or None)."""

    gen: ImageSet
    real: ImageSet
    ref: ImageSet | None
    dev: ImageSet | None


def audit(cfg: AuditConfig, out: str | Path, *, progress: bool = False, cache_dir: CacheDir = None) -> dict[str, Any]:
    """Load the folders of ``cfg`` and run ``audit_images``; returns the summary (``audit.json``)."""
    cfg.check()
    out = check_out_dir(out)
    _check_resume(cfg, out)
    expected = task_test_ids(cfg)
    kw = dict(size=cfg.size, skip_bad=cfg.skip_bad, cache_dir=cache_dir, progress=progress)
    gen = load_image_folder(cfg.generated_dir, GENERATED, "GENERATED_DIR", **kw)
    real = load_image_folder(cfg.real_dir, REAL_UNKNOWN, "REAL_DIR", **kw)
    ref = load_image_folder(cfg.reference_dir, REAL_NOT_USED, "--reference", **kw) if cfg.reference_dir else None
    dev = load_dev(cfg.dev_dir, **kw) if cfg.dev_dir else None
    sets = {"GENERATED_DIR": gen, "REAL_DIR": real, **({"--reference": ref} if ref else {}),
            **({"--dev": dev} if dev else {})}
    same_size(sets)  # type: ignore[arg-type]
    return audit_images(Inputs(gen, real, ref, dev), cfg, out, expected=expected, progress=progress)


def task_test_ids(cfg: AuditConfig) -> list[str] | None:
    """The ids an official run file must cover when REAL_DIR is ``<test>/real_unknown`` and
    GENERATED_DIR is ``<test>/generated``; None otherwise."""
    real, gen = Path(cfg.real_dir).resolve(), Path(cfg.generated_dir).resolve()
    if real.name == REAL_UNKNOWN and gen == real.parent / GENERATED:
        return real_unknown_ids(real.parent)
    return None


def audit_images(inputs: Inputs, cfg: AuditConfig, out: str | Path, *, expected: list[str] | None = None,
                 progress: bool = False) -> dict[str, Any]:
    """Audit ``inputs.real`` and write the run folder ``out`` (see the module docstring)."""
    cfg = cfg.check()
    out = check_out_dir(out)
    with RunRecord(out, command="audit", config=cfg, seed=cfg.seed) as record:
        files.write_json(out / "config.json", dataclasses.asdict(cfg))
        notes: list[str] = []
        selection = None
        if inputs.dev is not None:
            with record.stage("evaluate"):
                evaluate_images(inputs.dev, cfg.eval_config(), out / "evaluate", progress=progress)
                selection = files.read_json(out / "evaluate" / SELECTION_FILE)
            if not selection.get("recommended"):
                raise TrainprintError(f"--dev {cfg.dev_dir}: no method could be recommended "
                                      f"({selection.get('excluded') or 'only baselines'})")
            method = str(selection["recommended"]["method"])
        else:
            method = cfg.method or DEFAULT_LABEL_FREE_METHOD
        spec = parse_method(method)
        with record.stage("scores"):
            ref = _usable_reference(inputs, spec, notes)
            s_real, pred, s_ref = _score(spec, inputs, ref, cfg, out, progress, notes)
        with record.stage("neighbours"):
            space = spec.space if spec.kind == "similarity" and spec.space in PIXEL_SPACES else "pixel"
            pool = inputs.real.pixels if ref is None else np.concatenate([inputs.real.pixels, ref.pixels])
            ms = membership_scores(space, inputs.real.pixels / np.float32(255.0), inputs.gen.pixels / np.float32(255.0),
                                   pool / np.float32(255.0), k=min(NEIGHBOURS, len(inputs.gen)), device=cfg.device)
        groups = None
        if ref is not None:
            with record.stage("groups"):
                groups = _sibling_groups(inputs.real, ref, cfg, notes)
        with record.stage("statistics"):
            stats = _statistics(cfg, out, spec, selection, s_real, pred, s_ref, groups, notes)
        rows, order = _rows(inputs, s_real, pred, stats, ms, None if groups is None else groups[:len(inputs.real)])
        files.write_csv(out / CSV_FILE, rows, CSV_FIELDS)
        if ref is not None and s_ref is not None:
            files.write_csv(out / REFERENCE_FILE, [{"id": i, "score": _r(v)} for i, v in zip(ref.ids, s_ref)],
                            ["id", "score"])
        _save_images(out / IMAGES_FILE, inputs, ms, order)
        run_file = None
        if expected is not None:
            used = np.array([1 if r["verdict"] == USED else 0 for r in rows])
            write_run_file(out / RUN_FILE_NAME, [r["id"] for r in rows], used, expected)
            run_file = RUN_FILE_NAME
        summary = {
            "mode": cfg.mode, "method": method, "method_uses_labels": bool(spec.uses_labels),
            "method_source": ("recommended by the dev set's strict CV" if selection else
                              "the default label-free method" if not cfg.method else "--method"),
            "default_label_free_method": DEFAULT_LABEL_FREE_METHOD,
            "counts": {"generated": len(inputs.gen), "audited": len(inputs.real),
                       "reference": 0 if ref is None else len(ref),
                       "dev": None if inputs.dev is None else inputs.dev.counts()},
            "called": {v: int(sum(r["verdict"] == v for r in rows)) for v in (USED, BORDERLINE, NOT_FLAGGED)},
            "evidence_space": space, "neighbours": NEIGHBOURS, "borderline_rows": BORDERLINE_ROWS,
            "run_file": run_file, "notes": notes, **stats["summary"],
            "folders": {"generated": cfg.generated_dir, "real": cfg.real_dir, "reference": cfg.reference_dir,
                        "dev": cfg.dev_dir},
        }
        files.write_json(out / AUDIT_FILE, summary)
        record.finish(**{k: summary[k] for k in ("mode", "method", "verdict", "called", "estimate")})
        return summary


# ---------------------------------------------------------------------------------------- steps
def _check_resume(cfg: AuditConfig, out: Path) -> None:
    """A run folder holding another audit's settings is refused (its files would be mixed)."""
    path = out / "config.json"
    if not path.exists():
        return
    old = files.read_json(path)
    mine = dataclasses.asdict(cfg)
    differ = [k for k in mine if (tuple(old[k]) if isinstance(old.get(k), list) else old.get(k)) != mine[k]]
    if "generated_dir" not in old:
        raise TrainprintError(f"--out {out}: holds a run of another command (its config.json is not an audit's); "
                              "use another --out")
    if differ:
        k = differ[0]
        raise TrainprintError(f"--out {out}: holds an audit with {k}={old.get(k)!r}, not {mine[k]!r}; use another "
                              "--out or the same settings")


def _digests(pixels: np.ndarray) -> list[bytes]:
    return [p.tobytes() for p in np.ascontiguousarray(pixels)]


def _usable_reference(inputs: Inputs, spec: MethodSpec, notes: list[str]) -> ImageSet | None:
    """The reference images a p-value may be computed against: those a label-reading method saw
    in the dev set (by content) are dropped, because their scores would be in-sample."""
    ref, dev = inputs.ref, inputs.dev
    if dev is not None:
        dev_real = set(_digests(dev.pixels[dev.mask(REAL_USED, REAL_NOT_USED)]))
        seen = [d in dev_real for d in _digests(inputs.real.pixels)]
        if any(seen):
            notes.append(f"{sum(seen)} audited images are also dev images (same pixels): "
                         + ("their scores are in-sample (the method was fitted on their labels)"
                            if spec.uses_labels else "the method read no labels, so this does not bias them"))
    if ref is None or dev is None or not (spec.uses_labels or _extractor_reads_labels(spec)):
        return ref
    dev_real = set(_digests(dev.pixels[dev.mask(REAL_USED, REAL_NOT_USED)]))
    keep = np.array([d not in dev_real for d in _digests(ref.pixels)])
    if keep.all():
        return ref
    notes.append(f"{int((~keep).sum())} of the {len(ref)} reference images are dev images whose labels the method "
                 "was fitted on; they were left out of the reference (their scores are in-sample)")
    if keep.sum() < 2:
        notes.append("fewer than 2 reference images are left: no p-values")
        return None
    return ref.take(np.flatnonzero(keep))


def _extractor_reads_labels(spec: MethodSpec) -> bool:
    return bool(spec.extractor) and uses_labels(str(spec.extractor))


def _score(spec: MethodSpec, inputs: Inputs, ref: ImageSet | None, cfg: AuditConfig, out: Path, progress: bool,
           notes: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(scores (n,), answers (n,) 0/1 of the audited images, scores (r,) of the reference or None)."""
    parts = [p for p in (inputs.dev, inputs.gen, inputs.real, ref) if p is not None]
    both = ImageSet.concat(*parts) if len(parts) > 1 else parts[0]
    offsets = np.cumsum([0] + [len(p) for p in parts])
    where = {id(p): np.arange(offsets[i], offsets[i + 1]) for i, p in enumerate(parts)}
    gen_rows, real_rows = where[id(inputs.gen)], where[id(inputs.real)]
    ref_rows = where[id(ref)] if ref is not None else np.zeros(0, dtype=np.int64)
    if inputs.dev is not None:
        fit_pixels, fit_split = inputs.dev.pixels, inputs.dev.split
    else:
        fit_pixels, fit_split = inputs.gen.pixels, inputs.gen.split
    params = dict(preset=cfg.preset, device=cfg.device, random_state=cfg.seed, progress=progress)
    X = fingerprints(str(spec.extractor), both, fit_pixels, fit_split, out / "fingerprints" / f"{spec.extractor}.npz",
                     run_dir=out / "extractors" / str(spec.extractor), **params) if spec.extractor else \
        np.zeros((len(both), 1), np.float32)
    if spec.kind == "classifier":
        X = X.reshape(len(X), -1)
    est = spec.factory(cfg.seed, cfg.device, MethodOptions(preset=cfg.preset))
    if spec.uses_labels:
        dev = inputs.dev
        assert dev is not None  # AuditConfig.check: label-reading methods only come from a dev set
        d_real = where[id(dev)][dev.mask(REAL_USED, REAL_NOT_USED)]
        d_gen = where[id(dev)][dev.mask(GENERATED)]
        est.fit(X[d_real], labels_of(dev.split[d_real - offsets[0]]), X[d_gen],
                X[d_real] if spec.kind == "similarity" else None)
        notes.append(f"{spec.id} read labels: fitted on the dev set's {len(d_real)} labelled real images and its "
                     f"{len(d_gen)} generated images" + (" (its scores compare with the dev generated images)"
                                                          if spec.kind == "similarity" else ""))
    else:
        pool = np.concatenate([real_rows, ref_rows])
        est.fit(X[pool], None, X[gen_rows], X[pool])
    notes += [n for n in est.notes_ if n not in notes]
    s_real = np.asarray(est.decision_function(X[real_rows]), dtype=np.float64)
    pred = np.asarray(est.predict(X[real_rows]), dtype=np.int64)
    s_ref = np.asarray(est.decision_function(X[ref_rows]), dtype=np.float64) if ref is not None else None
    return s_real, pred, s_ref


def _sibling_groups(real: ImageSet, ref: ImageSet, cfg: AuditConfig, notes: list[str]) -> np.ndarray | None:
    """(n + r,) sibling-group labels of the audited then the reference images (``--groups``: auto
    infers them from the pixels, without labels, as ``evaluate`` does; none: every image alone)."""
    both = ImageSet.concat(real, ref)
    groups, info = resolve_groups(cfg.groups, both.ids, both.pixels, GroupRule(), device=cfg.device,
                                  patients=patients_of(both))
    if groups is None:
        notes.append("sibling groups: none (--groups none): every image counts as independent in the global test "
                      "and the bootstrap")
        return None
    labels = np.asarray(groups).astype(str)
    n = len(real)
    spanning = len(set(labels[:n]) & set(labels[n:]))
    notes.append(f"sibling groups ({info.get('source')}): {info.get('n_groups')} among {len(both)} audited and "
                 f"reference images; the global test moves whole groups and the bootstrap resamples them"
                 + (f"; {spanning} groups span both sets and are split by set" if spanning else ""))
    return labels


def _statistics(cfg: AuditConfig, out: Path, spec: MethodSpec, selection: dict[str, Any] | None,
                s_real: np.ndarray, pred: np.ndarray, s_ref: np.ndarray | None, groups: np.ndarray | None,
                notes: list[str]) -> dict[str, Any]:
    """Per-image p / q / probability / verdict and the summary (verdict, estimate, confidence)."""
    n = len(s_real)
    p = q = prob = None
    summary: dict[str, Any] = {}
    if s_ref is not None:
        p = conformal_p_values(s_real, s_ref)
        q = bh_q_values(p)
        used = q <= cfg.fdr
        g_real, g_ref = (None, None) if groups is None else (groups[:n], groups[n:])
        gt = global_test(s_real, s_ref, g_real, g_ref, seed=cfg.seed)
        verdict = EVIDENCE if gt["p_value"] < ALPHA else NO_EVIDENCE
        summary["verdict"] = verdict
        summary["test"] = {**gt, "alpha": ALPHA, "kind": "reference"}
        summary["estimate"] = storey_members(s_real, s_ref, g_real, g_ref, seed=cfg.seed)
        summary["per_image"] = (f"called used at Benjamini-Hochberg q <= {cfg.fdr} on p-values against {len(s_ref)} reference "
                                f"images (smallest possible p = 1/{len(s_ref) + 1} = {1 / (len(s_ref) + 1):.4f})")
    else:
        used = pred == 1
        summary["per_image"] = f"called used when {spec.id} says used (its own rule; no error rate known without a dev set)" \
            if selection is None else f"called used when {spec.id} says used (fitted as the notes say)"
    if selection is not None:
        rec = selection["recommended"]
        summary["confidence"] = {k: selection.get(k) for k in ("recommended", "selection_aware", "null_test",
                                                               "verdict", "excluded")}
        y_dev, pred_dev, s_dev = _out_of_fold(out / "evaluate", rec["method"])
        prob = _platt(s_dev, y_dev, s_real)
        notes.append("probability: logistic calibration of the method's out-of-fold dev scores (fold models; the "
                     "final model is fitted on the whole dev set, so read it as approximate)")
        if s_ref is None:
            summary["estimate"] = rogan_gladen_members(used.astype(int), y_dev, pred_dev, seed=cfg.seed)
            null = selection.get("null_test") or {}
            summary["verdict"] = selection["verdict"]
            summary["test"] = {"kind": "dev", "test": null.get("test", ""), "p_value": null.get("p_value"),
                               "alpha": null.get("alpha", ALPHA),
                               "null": "the dev set's used / not-used labels carry no information about its images "
                                       "(it speaks for the audited images when the dev set's generator is theirs)"}
    if "verdict" not in summary:
        summary["verdict"] = NOT_TESTED
        summary["test"] = {"kind": "none", "p_value": None,
                           "why": "no reference (known non-members) and no labelled dev set: there is no sample of "
                                  "the null to test against. The ranking still orders the images from most to least "
                                  "like the generated ones, and the rule's calls are listed, but neither their "
                                  "error rate nor the number of members can be estimated."}
        summary["estimate"] = {"members": None, "ci95": None, "called_used": int(used.sum()), "n": n,
                               "why": "needs a reference (--reference) or a labelled dev set (--dev)"}
    if selection is None:
        summary["confidence"] = None
    return {"summary": summary, "p": p, "q": q, "prob": prob, "used": used}


def _out_of_fold(run: Path, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, answers, scores) of ``method``'s held-out dev images (scores.csv of evaluate)."""
    rows = [r for r in files.read_csv(run / "scores.csv") if r["method"] == method]
    return (np.array([int(r["label"]) for r in rows]), np.array([int(r["pred"]) for r in rows]),
            np.array([files.csv_float(r["score"]) for r in rows]))


def _platt(s_dev: np.ndarray, y_dev: np.ndarray, s: np.ndarray) -> np.ndarray:
    """P(used | score): a logistic regression of the dev labels on the dev scores, applied to ``s``."""
    from sklearn.linear_model import LogisticRegression

    ok = np.isfinite(s_dev)
    lr = LogisticRegression().fit(s_dev[ok].reshape(-1, 1), y_dev[ok])
    return lr.predict_proba(np.nan_to_num(s, nan=float(np.nanmedian(s_dev))).reshape(-1, 1))[:, 1]


def _rows(inputs: Inputs, s_real: np.ndarray, pred: np.ndarray, stats: dict[str, Any],
          ms: MembershipScores, groups: np.ndarray | None) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The audit.csv rows, most suspicious first (highest score; ties by id), and that order."""
    ids = inputs.real.ids
    order = np.lexsort((ids, -np.nan_to_num(s_real, nan=-np.inf)))
    used = stats["used"]
    borderline = np.zeros(len(ids), dtype=bool)
    borderline[[i for i in order if not used[i]][:BORDERLINE_ROWS]] = True
    gen_ids = inputs.gen.ids
    rows = []
    for rank, i in enumerate(order, start=1):
        row: dict[str, Any] = {"rank": rank, "id": ids[i],
                               "verdict": USED if used[i] else BORDERLINE if borderline[i] else NOT_FLAGGED,
                               "score": _r(s_real[i]), "method_pred": int(pred[i]),
                               "group": "" if groups is None else groups[i]}
        for key, arr in (("p_value", stats["p"]), ("q_value", stats["q"]), ("probability", stats["prob"])):
            row[key] = "" if arr is None else _r(arr[i])
        for j in range(NEIGHBOURS):
            has = j < ms.topk_idx.shape[1]
            row[f"neighbour_{j + 1}"] = gen_ids[ms.topk_idx[i, j]] if has else ""
            row[f"similarity_{j + 1}"] = _r(ms.topk_sim[i, j]) if has else ""
        rows.append(row)
    return rows, order


def _r(v: float) -> float:
    return float(f"{float(v):.6g}")


def _small(pixels: np.ndarray) -> np.ndarray:
    """(N, H, W) uint8 -> at most ``IMAGE_PX`` px a side (box filter)."""
    if pixels.shape[1] <= IMAGE_PX and pixels.shape[2] <= IMAGE_PX:
        return pixels
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(p).resize((IMAGE_PX, IMAGE_PX), Image.BOX)) for p in pixels])


def _save_images(path: Path, inputs: Inputs, ms: MembershipScores, order: np.ndarray) -> None:
    """The audited images (in audit.csv order) and every generated image that is a neighbour."""
    gen_rows = np.unique(ms.topk_idx)
    files.save_npz(path, real_ids=inputs.real.ids[order], real_pixels=_small(inputs.real.pixels[order]),
                   gen_ids=inputs.gen.ids[gen_rows], gen_pixels=_small(inputs.gen.pixels[gen_rows]))
