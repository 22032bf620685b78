"""``audit``: a verdict for every real image of a folder, with the evidence and the statistics
behind it, written to a run folder (after ``submit`` on the road, before ``report``).

Steps (each timed in ``run.json``):

    load        GENERATED_DIR, REAL_DIR, the reference (known non-members) and the dev set, if given
    evaluate    with a dev set: strict, sibling-aware CV of the candidates (``evaluation``), the
                recommended method, its selection-aware estimate and the label-permutation verdict
                -> ``evaluate/``
    groups      sibling groups (patients) of the audited images and of the reference, each set on its
                own: inferred from the pixels without labels (``--groups auto``) or read from a CSV;
                a real image is never compared with its own group, and a group is one unit of evidence
    scores      the method's score and answer for every audited (and reference) image, sibling-aware
    neighbours  the 5 most similar generated images of every audited image, in the evidence space
    statistics  per image and per patient: p-values against the reference (patients against
                reference patients of the same size), Benjamini-Hochberg q-values, the global test,
                the estimated number of members with its interval (``audit.stats``); without a
                reference or a dev set, a two-component mixture on the patient scores decides
                whether any cut can be justified

Files of an audit run folder:

    audit.csv          one row per audited image, most suspicious first (``CSV_FIELDS``): its own
                       verdict and its patient's
    patients.csv       one row per patient (sibling group), most suspicious first (``PATIENT_FIELDS``)
    groups.csv         set, id, group of every audited and reference image (the groups used)
    audit.json         the summary: mode, method, verdict and its test, estimate, confidence, notes
    audit_images.npz   the audited images and their neighbours, at most 64 px (for audit.html)
    reference_scores.csv  id, score of every reference image (with --reference)
    run.csv            the official run file (1 = its patient is called used), when REAL_DIR is a
                       task test folder's real_unknown/ beside its generated/
    config.json, run.json, evaluate/ (with a dev set)

Which images each kind of method is fitted on: a label-free method on the generated images and
the audited + reference images (no labels; the two sets are scored in one pool, so a reference
image and an audited non-member are scored alike); a method that reads labels on the dev set
(its labelled real images and its generated images), as ``submit`` fits it.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable

import numpy as np

from trainprint.audit.config import DEFAULT_LABEL_FREE_METHOD, AuditConfig, streams
from trainprint.audit.result import AuditSummary, Counts, Folders, PatientSummary
from trainprint.audit.stats import (bh_q_values, conformal_p_values, global_test, mixture_members,
                                    patient_p_values, reference_allows, rogan_gladen_members, storey_members,
                                    storey_patients)
from trainprint.core import files
from trainprint.core.errors import TrainprintError
from trainprint.core.memory import format_bytes, resident_bytes
from trainprint.core.runs import CONFIG_FILE, RunRecord, check_out_dir, check_resume
from trainprint.data.imageset import (GENERATED, REAL_NOT_USED, REAL_UNKNOWN, REAL_USED, ImageSet, labels_of,
                                      patients_of)
from trainprint.data.load import CacheDir, load_dev
from trainprint.data.plain import load_plain_folders, same_size
from trainprint.evaluation.evaluate import evaluate_images
from trainprint.evaluation.fingerprint_cache import fingerprints
from trainprint.evaluation.folds import read_groups
from trainprint.evaluation.groups import AUTO, NONE, GroupRule, resolve_groups
from trainprint.evaluation.protocol import uses_labels
from trainprint.evaluation.null import ALPHA, EVIDENCE, NO_EVIDENCE, NOT_TESTED
from trainprint.evaluation.verdict import SELECTION_FILE
from trainprint.membership.scores import MembershipScores, membership_scores
from trainprint.methods import MethodOptions, MethodSpec, parse_method
from trainprint.scoring import FitView, PatientScores, patient_calls, patient_scores, score_images
from trainprint.scoring.siblings import describe, left_out
from trainprint.similarity import PIXEL_SPACES
from trainprint.similarity.generated import GeneratedSet, SearchPlan, block_bytes_for, resolve_search
from trainprint.submit.runfiles import real_unknown_ids, write_run_file

NEIGHBOURS = 5  # nearest generated images listed per audited image
BORDERLINE_ROWS = 20  # the most suspicious images not called used, shown as borderline
IMAGE_PX = 64  # audit_images.npz keeps images at most this size
USED, BORDERLINE, NOT_FLAGGED = "used", "borderline", "not flagged"
CSV_FIELDS = (["rank", "id", "verdict", "score", "p_value", "q_value", "probability", "method_pred", "group",
               "patient_verdict", "patient_score", "patient_q"]
              + [f"neighbour_{i}" for i in range(1, NEIGHBOURS + 1)]
              + [f"similarity_{i}" for i in range(1, NEIGHBOURS + 1)])
PATIENT_FIELDS = ["rank", "group", "slices", "score", "p_value", "q_value", "verdict", "slices_called", "slice_ids"]
AUDIT_FILE, CSV_FILE, IMAGES_FILE, RUN_FILE_NAME = "audit.json", "audit.csv", "audit_images.npz", "run.csv"
PATIENTS_FILE, GROUPS_FILE = "patients.csv", "groups.csv"
REF_PREFIX = "reference:"  # reference groups are labelled apart from the audited ones
REFERENCE_FILE = "reference_scores.csv"


@dataclasses.dataclass(frozen=True)
class Inputs:
    """The images of one audit: ``gen`` (generated), ``real`` (audited, split real_unknown),
    ``ref`` (known non-members, split real_not_used, or None), ``dev`` (a dev set, or None)."""

    gen: ImageSet
    real: ImageSet
    ref: ImageSet | None
    dev: ImageSet | None


def audit(cfg: AuditConfig, out: str | Path, *, progress: bool = False, cache_dir: CacheDir = None,
          say: Callable[[str], None] | None = None, page: Callable[[Path], Any] | None = None) -> AuditSummary:
    """Load the folders of ``cfg`` and run ``audit_images``; returns the summary (``audit.json``)."""
    cfg.check()
    out = check_out_dir(out)
    check_resume(out, "audit", cfg)
    expected = task_test_ids(cfg)
    kw = dict(size=cfg.evaluation.size, skip_bad=cfg.evaluation.skip_bad, cache_dir=cache_dir, progress=progress,
              reading=cfg.evaluation.reading)
    plain = [(cfg.generated_dir, GENERATED, "GENERATED_DIR"), (cfg.real_dir, REAL_UNKNOWN, "REAL_DIR")]
    if cfg.reference_dir:
        plain.append((cfg.reference_dir, REAL_NOT_USED, "--reference"))
    gen, real, *rest = load_plain_folders(plain, **kw)  # type: ignore[arg-type]  # one scale for the three
    ref = rest[0] if rest else None
    dev = load_dev(cfg.dev_dir, **kw) if cfg.dev_dir else None  # type: ignore[arg-type]
    sets = {"GENERATED_DIR": gen, "REAL_DIR": real, **({"--reference": ref} if ref else {}),
            **({"--dev": dev} if dev else {})}
    same_size(sets)  # type: ignore[arg-type]
    if cfg.evaluation.groups not in (AUTO, NONE):  # a groups CSV must name every image before anything is written
        for images in (real, ref):
            if images is not None:
                read_groups(cfg.evaluation.groups, images.ids)
    return audit_images(Inputs(gen, real, ref, dev), cfg, out, expected=expected, progress=progress, say=say,
                        page=page)


def task_test_ids(cfg: AuditConfig) -> list[str] | None:
    """The ids an official run file must cover when REAL_DIR is ``<test>/real_unknown`` and
    GENERATED_DIR is ``<test>/generated``; None otherwise."""
    real, gen = Path(cfg.real_dir).resolve(), Path(cfg.generated_dir).resolve()
    if real.name == REAL_UNKNOWN and gen == real.parent / GENERATED:
        return real_unknown_ids(real.parent)
    return None


def audit_images(inputs: Inputs, cfg: AuditConfig, out: str | Path, *, expected: list[str] | None = None,
                 progress: bool = False, say: Callable[[str], None] | None = None,
                 page: Callable[[Path], Any] | None = None) -> AuditSummary:
    """Audit ``inputs.real`` and write the run folder ``out`` (see the module docstring); ``say``
    receives the lines stated before scoring (what the reference allows); ``page(out)`` builds the
    page from the files written, as the run's last output before ``run.json`` says finished."""
    cfg = cfg.check()
    out = check_out_dir(out)
    need = check_memory(inputs, cfg)
    with RunRecord(out, command="audit", config=cfg, seed=cfg.evaluation.seed) as record:
        record.data["memory"] = {"budget": cfg.memory, "held_before_scoring": need and need[0],
                                 "scoring_estimate": need and need[1]}  # bytes (run.json)
        files.write_json(out / CONFIG_FILE, dataclasses.asdict(cfg))
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
        ref = _usable_reference(inputs, spec, notes)
        with record.stage("groups"):
            g_real, g_ref, named = _sibling_groups(inputs.real, ref, cfg, notes)
            _write_groups(out / GROUPS_FILE, inputs.real, g_real, ref, g_ref)
        allows = None
        if ref is not None:
            allows = reference_allows(len(set(g_real)), len(set(g_ref)), cfg.fdr)
            notes.append(allows["statement"])
            if say is not None:
                say(("warning: " if not allows["can_call"] else "") + allows["statement"])
        # the space of the evidence: the method's own when it is a pixel space (it reads the same set)
        space = spec.space if spec.extractor == "raw" and spec.space in PIXEL_SPACES else "pixel"
        gen_set = generated_set(inputs, ref, cfg, space, notes)
        with record.stage("scores"):
            s_real, pred, s_ref = _score(spec, inputs, ref, g_real, g_ref, named, cfg, out, progress, notes,
                                         gen_set if streams(spec) else None)
        with record.stage("neighbours"):
            pool = inputs.real.pixels if ref is None else np.concatenate([inputs.real.pixels, ref.pixels])
            pool = pool / np.float32(255.0)  # the audited images are its first rows: one float copy of them
            ms = membership_scores(space, pool[:len(inputs.real)], gen_set, pool,
                                   k=min(NEIGHBOURS, len(inputs.gen)), device=cfg.evaluation.device)
        with record.stage("statistics"):
            stats = _statistics(cfg, out, spec, selection, s_real, pred, s_ref, g_real, g_ref, notes)
            stats["summary"]["reference_allows"] = allows
            stats["patient_verdict"] = _patient_verdicts(stats)  # (g,) used / borderline / not flagged, once
        rows, order = _rows(inputs, s_real, pred, stats, ms, g_real)
        patient_rows = _patient_rows(inputs, stats)
        files.write_csv(out / CSV_FILE, rows, CSV_FIELDS)
        files.write_csv(out / PATIENTS_FILE, patient_rows, PATIENT_FIELDS)
        if ref is not None and s_ref is not None:
            files.write_csv(out / REFERENCE_FILE, [{"id": i, "score": _r(v)} for i, v in zip(ref.ids, s_ref)],
                            ["id", "score"])
        _save_images(out / IMAGES_FILE, inputs, ms, order)
        run_file = None
        if expected is not None:
            used = np.array([1 if r["patient_verdict"] == USED else 0 for r in rows])
            write_run_file(out / RUN_FILE_NAME, [r["id"] for r in rows], used, expected)
            run_file = RUN_FILE_NAME
        summary = AuditSummary(
            mode=cfg.mode, method=method, method_uses_labels=bool(spec.uses_labels),
            method_source=("recommended by the dev set's strict CV" if selection else
                           "the default label-free method" if not cfg.method else "--method"),
            default_label_free_method=DEFAULT_LABEL_FREE_METHOD,
            counts=Counts(generated=len(inputs.gen), audited=len(inputs.real), reference=0 if ref is None else len(ref),
                          dev=None if inputs.dev is None else inputs.dev.counts()),
            called={v: int(sum(r["verdict"] == v for r in rows)) for v in (USED, BORDERLINE, NOT_FLAGGED)},
            patients=PatientSummary(n=len(patient_rows), slices_per_patient=_sizes(stats["patients"]),
                                    called={v: int(sum(r["verdict"] == v for r in patient_rows))
                                            for v in (USED, BORDERLINE, NOT_FLAGGED)},
                                    slices_in_called_patients=int(sum(r["slices"] for r in patient_rows
                                                                      if r["verdict"] == USED)),
                                    rule=stats["patient_rule"], estimate=stats["patient_estimate"]),
            evidence_space=space, neighbours=NEIGHBOURS, borderline_rows=BORDERLINE_ROWS,
            run_file=run_file, notes=notes, **stats["summary"],
            folders=Folders(generated=cfg.generated_dir, real=cfg.real_dir, reference=cfg.reference_dir,
                            dev=cfg.dev_dir),
        )
        files.write_json(out / AUDIT_FILE, dataclasses.asdict(summary))
        if page is not None:
            with record.stage("page"):
                page(out)
        record.finish(mode=summary.mode, method=summary.method, verdict=summary.verdict, called=summary.called,
                      estimate=summary.estimate, patients_called=summary.patients.called)
        return summary


# ---------------------------------------------------------------------------------------- steps
#: bytes per pixel of each real image (audited and reference) held while scoring: float32 copies of
#: the representation and of the pool (8), SSIM's local moments of the image (about 12), and slack
REAL_BYTES_PER_PIXEL = 24
#: generated blocks (``SearchPlan.block_bytes`` each) alive at once while searching: the block, its
#: float conversion, the space's copy of it and the moments of its images
LIVE_BLOCKS = 4
#: and what the scoring holds besides (rules, caches, torch's buffers): with it the estimate was above
#: the measured peak on the demo (0.64 vs 0.55 GB) and at 10,000 x 256 px (1.96 vs 1.93 GB, cold)
SLACK_BYTES = 128 * 10**6


def memory_needed(inputs: Inputs, cfg: AuditConfig) -> tuple[int, int] | None:
    """(bytes held now, bytes the scoring adds at its peak) of this audit when its method reads the
    generated images a block at a time (``streams``; a method fitted on a dev set that does not
    holds them as float32 rows, 4x their uint8 bytes, on top); None where the process's memory
    cannot be read. Measured against ``trainprint audit`` at 10,000 x 256 px (docs/scale.md)."""
    held = resident_bytes()
    if held is None:
        return None
    pixels = int(np.prod(inputs.gen.pixels.shape[1:]))
    n_real = len(inputs.real) + (0 if inputs.ref is None else len(inputs.ref))
    block = min(block_bytes_for(cfg.memory), 4 * pixels * len(inputs.gen))
    return held, n_real * pixels * REAL_BYTES_PER_PIXEL + LIVE_BLOCKS * block + SLACK_BYTES


def check_memory(inputs: Inputs, cfg: AuditConfig) -> tuple[int, int] | None:
    """``memory_needed``; a TrainprintError, before anything is written, when this audit cannot keep
    within ``--memory``, naming what takes the memory."""
    need = memory_needed(inputs, cfg)
    if need is None or sum(need) <= cfg.memory:
        return need
    held, work = need
    gen = inputs.gen.pixels
    raise TrainprintError(
        f"--memory {format_bytes(cfg.memory)}: this audit needs about {format_bytes(held + work)} (the images read "
        f"and the program hold {format_bytes(held)}, of which the {len(gen):,} generated images "
        f"{format_bytes(gen.nbytes)}; scoring adds about {format_bytes(work)}); give --memory "
        f"{math.ceil((held + work) / 1e8) / 10:.1f}GB or more, or fewer images")


def _digests(pixels: np.ndarray) -> list[bytes]:
    return [p.tobytes() for p in np.ascontiguousarray(pixels)]


def generated_set(inputs: Inputs, ref: ImageSet | None, cfg: AuditConfig, space: str,
                  notes: list[str]) -> GeneratedSet:
    """The generated images as a ``GeneratedSet``: their uint8 pixels, divided by 255 a block at a
    time (the float32 copy of all of them, 2.6 GB for 10,000 at 256 px, is never made), searched as
    ``--search`` says (``similarity.generated.resolve_search``); a note says so when ``space`` (the
    one the audit searches them in) is then searched in two stages."""
    n_real = len(inputs.real) + (0 if ref is None else len(ref))
    search = resolve_search(cfg.search, n_real, len(inputs.gen), inputs.gen.pixels.shape[1:])
    plan = SearchPlan(search=search, block_bytes=block_bytes_for(cfg.memory))
    if plan.two_stage(space):
        notes.append(f"{space} against the {len(inputs.gen)} generated images: two-stage search (--search "
                     f"{cfg.search}; {plan.candidates} generated candidates per real image, {plan.real_candidates} "
                     "real candidates per generated image, then the exact similarity of those pairs)")
    return GeneratedSet(inputs.gen.pixels, plan, divisor=255.0)


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


def _score(spec: MethodSpec, inputs: Inputs, ref: ImageSet | None, g_real: np.ndarray, g_ref: np.ndarray | None,
           named: bool, cfg: AuditConfig, out: Path, progress: bool, notes: list[str],
           gen_set: GeneratedSet | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(scores (n,), answers (n,) 0/1 of the audited images, scores (r,) of the reference or None).
    ``g_real`` (n,) / ``g_ref`` (r,): the sibling groups (``named``: by the files or a CSV); a real
    image's own group is left out of the real images it is compared with as ``--siblings`` says.
    ``gen_set``: the generated images as a ``GeneratedSet`` (``streams(spec)``), else None: they are
    rows of the representation with the real images."""
    gen = inputs.gen if gen_set is None else None
    parts = [p for p in (inputs.dev, gen, inputs.real, ref) if p is not None]
    both = ImageSet.concat(*parts) if len(parts) > 1 else parts[0]
    offsets = np.cumsum([0] + [len(p) for p in parts])
    where = {id(p): np.arange(offsets[i], offsets[i + 1]) for i, p in enumerate(parts)}
    gen_rows = where[id(gen)] if gen is not None else np.zeros(0, dtype=np.int64)
    real_rows = where[id(inputs.real)]
    ref_rows = where[id(ref)] if ref is not None else np.zeros(0, dtype=np.int64)
    groups = np.array([f"#{i}" for i in range(len(both))], dtype=object)  # (N,) every other image alone
    groups[real_rows] = g_real
    if ref is not None and g_ref is not None:
        groups[ref_rows] = g_ref
    groups = left_out(groups.astype(str), named, cfg.evaluation.siblings)
    if inputs.dev is not None:
        fit_pixels, fit_split = inputs.dev.pixels, inputs.dev.split
    else:
        fit_pixels, fit_split = inputs.gen.pixels, inputs.gen.split
    params = dict(preset=cfg.evaluation.preset, device=cfg.evaluation.device, random_state=cfg.evaluation.seed, progress=progress)
    X = fingerprints(str(spec.extractor), both, fit_pixels, fit_split, out / "fingerprints" / f"{spec.extractor}.npz",
                     run_dir=out / "extractors" / str(spec.extractor), **params) if spec.extractor else \
        np.zeros((len(both), 1), np.float32)
    if spec.uses_labels:
        dev = inputs.dev
        assert dev is not None  # AuditConfig.check: label-reading methods only come from a dev set
        d_real = where[id(dev)][dev.mask(REAL_USED, REAL_NOT_USED)]
        d_gen = where[id(dev)][dev.mask(GENERATED)]
        # as submit fits it: the dev labels and generated images, every real image known as the pool
        view = FitView(real=d_real, y=labels_of(dev.split[d_real - offsets[0]]), gen=d_gen,
                       pool=np.concatenate([d_real, real_rows, ref_rows]), groups=groups)
        notes.append(f"{spec.id} read labels: fitted on the dev set's {len(d_real)} labelled real images and its "
                     f"{len(d_gen)} generated images" + (" (its scores compare with the dev generated images)"
                                                          if spec.kind == "similarity" else ""))
    else:
        pool = np.concatenate([real_rows, ref_rows])
        view = FitView(real=pool, y=None, gen=gen_rows, pool=pool, groups=groups)
    scored = score_images(spec, X, view, [real_rows] + ([ref_rows] if ref is not None else []), seed=cfg.evaluation.seed,
                          device=cfg.evaluation.device, options=MethodOptions(preset=cfg.evaluation.preset), G=gen_set)
    notes += [n for n in scored.notes if n not in notes]
    return scored.scores[0], scored.preds[0], scored.scores[1] if ref is not None else None


def _sibling_groups(real: ImageSet, ref: ImageSet | None, cfg: AuditConfig,
                    notes: list[str]) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Sibling groups (patients) of the audited images (n,) and of the reference (r,) or None, each set
    on its own (``--groups``: auto infers them from the pixels without labels, as ``evaluate`` does; a
    CSV names them; none: every image alone), and whether every set's groups are named (files or a
    CSV: ``scoring.siblings``). Reference groups are labelled ``reference:<group>``."""
    out: list[np.ndarray] = []
    sources: list[str] = []
    for images, prefix in ((real, ""), (ref, REF_PREFIX)):
        if images is None:
            continue
        groups, info = resolve_groups(cfg.evaluation.groups, images.ids, images.pixels, GroupRule(),
                                      device=cfg.evaluation.device, patients=patients_of(images))
        sources.append(str(info.get("source")))
        labels = np.asarray(images.ids if groups is None else groups).astype(str)
        out.append(np.char.add(prefix, labels) if prefix else labels)
        what = "reference" if prefix else "audited"
        notes.append(f"sibling groups of the {len(images)} {what} images: "
                     + (f"none (--groups none): every image is its own patient" if groups is None else
                        f"{info.get('n_groups')} ({info.get('source')}; {info.get('rule')})"))
    named = all(src not in (AUTO, NONE) for src in sources)
    notes.append(describe(named, cfg.evaluation.siblings, cfg.evaluation.groups != NONE))
    return out[0], (out[1] if len(out) > 1 else None), named


def _write_groups(path: Path, real: ImageSet, g_real: np.ndarray, ref: ImageSet | None,
                  g_ref: np.ndarray | None) -> None:
    """``groups.csv``: set (audited / reference), id, group of every image the audit grouped."""
    rows = [{"set": "audited", "id": i, "group": g} for i, g in zip(real.ids, g_real)]
    if ref is not None and g_ref is not None:
        rows += [{"set": "reference", "id": i, "group": g} for i, g in zip(ref.ids, g_ref)]
    files.write_csv(path, rows, ["set", "id", "group"])


def _statistics(cfg: AuditConfig, out: Path, spec: MethodSpec, selection: dict[str, Any] | None,
                s_real: np.ndarray, pred: np.ndarray, s_ref: np.ndarray | None, g_real: np.ndarray,
                g_ref: np.ndarray | None, notes: list[str]) -> dict[str, Any]:
    """Per-image and per-patient p / q / verdict, the probability, and the summary (verdict, test,
    estimate, confidence). A patient (sibling group) is called used: with a reference, at BH q <= fdr
    over patients; with a dev set and no reference, when at least half of its slices are; with
    neither, when a two-component mixture on the patient scores justifies a cut and puts it above."""
    n = len(s_real)
    p = q = prob = None
    summary: dict[str, Any] = {}
    seed = cfg.evaluation.seed
    pats = patient_scores(s_real, g_real)
    pat_p = pat_q = None
    pat_estimate: dict[str, Any] | None = None
    if s_ref is not None:
        p = conformal_p_values(s_real, s_ref)
        q = bh_q_values(p)
        used = q <= cfg.fdr
        pat_p = patient_p_values(pats.score, pats.size, s_ref, g_ref, seed=seed)
        pat_q = bh_q_values(pat_p)
        pat_used = pat_q <= cfg.fdr
        pat_rule = (f"called used at Benjamini-Hochberg q <= {cfg.fdr} over patients; a patient's p-value compares "
                    "its mean slice score with the reference patients brought to its number of slices (size-matched "
                    "draws, audit.stats.patient_p_values)")
        pat_estimate = storey_patients(pat_p, seed=seed)
        gt = global_test(s_real, s_ref, g_real, g_ref, seed=cfg.evaluation.seed)
        verdict = EVIDENCE if gt["p_value"] < ALPHA else NO_EVIDENCE
        summary["verdict"] = verdict
        summary["test"] = {**gt, "alpha": ALPHA, "kind": "reference"}
        summary["estimate"] = storey_members(s_real, s_ref, g_real, g_ref, seed=seed)
        summary["per_image"] = (f"called used at Benjamini-Hochberg q <= {cfg.fdr} on p-values against {len(s_ref)} reference "
                                f"images (smallest possible p = 1/{len(s_ref) + 1} = {1 / (len(s_ref) + 1):.4f})")
    elif selection is not None:
        used = pred == 1
        summary["per_image"] = f"called used when {spec.id} says used (fitted as the notes say)"
        pat_used = np.zeros(len(pats.groups), dtype=bool)
        pat_used[pats.index] = patient_calls(used.astype(np.int64), g_real) == 1
        pat_rule = f"called used when at least half of its slices are ({spec.id}'s answers)"
    else:
        mix = mixture_members(pats.score, seed=seed)
        pat_used = np.array(mix.pop("called") or [False] * len(pats.groups), dtype=bool)
        used = pat_used[pats.index]
        pat_estimate = mix
        pat_rule = ("called used only when a two-component mixture on the patient scores justifies a cut and puts "
                    "the patient above it (no reference, no dev set); " + ("it does" if mix["members"] is not None
                                                                           else "it does not: nothing is called"))
        summary["per_image"] = f"its patient's call ({spec.id}'s own cut, kept as method_pred, has no error rate " \
                               "without a reference or a dev set)"
    if selection is not None:
        rec = selection["recommended"]
        summary["confidence"] = {k: selection.get(k) for k in ("recommended", "selection_aware", "null_test",
                                                               "verdict", "excluded")}
        y_dev, pred_dev, s_dev = _out_of_fold(out / "evaluate", rec["method"])
        prob = _platt(s_dev, y_dev, s_real)
        notes.append("probability: logistic calibration of the method's out-of-fold dev scores (fold models; the "
                     "final model is fitted on the whole dev set, so read it as approximate)")
        if s_ref is None:
            summary["estimate"] = rogan_gladen_members(used.astype(int), y_dev, pred_dev, seed=cfg.evaluation.seed)
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
                                  "like the generated ones; patients are called used only where a mixture on their "
                                  "scores justifies a cut (see the estimate)."}
        summary["estimate"] = pat_estimate
    if selection is None:
        summary["confidence"] = None
    return {"summary": summary, "p": p, "q": q, "prob": prob, "used": used, "patients": pats, "patient_p": pat_p,
            "patient_q": pat_q, "patient_used": pat_used, "patient_rule": pat_rule, "patient_estimate": pat_estimate}


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
          ms: MembershipScores, groups: np.ndarray) -> tuple[list[dict[str, Any]], np.ndarray]:
    """The audit.csv rows, most suspicious first (highest score; ties by id), and that order."""
    ids = inputs.real.ids
    order = np.lexsort((ids, -np.nan_to_num(s_real, nan=-np.inf)))
    used = stats["used"]
    borderline = np.zeros(len(ids), dtype=bool)
    borderline[[i for i in order if not used[i]][:BORDERLINE_ROWS]] = True
    gen_ids = inputs.gen.ids
    pats: PatientScores = stats["patients"]
    pat_verdict = stats["patient_verdict"]
    rows = []
    for rank, i in enumerate(order, start=1):
        row: dict[str, Any] = {"rank": rank, "id": ids[i],
                               "verdict": USED if used[i] else BORDERLINE if borderline[i] else NOT_FLAGGED,
                               "score": _r(s_real[i]), "method_pred": int(pred[i]),
                               "group": groups[i], "patient_verdict": pat_verdict[pats.index[i]],
                               "patient_score": _r(pats.score[pats.index[i]]),
                               "patient_q": "" if stats["patient_q"] is None else _r(stats["patient_q"][pats.index[i]])}
        for key, arr in (("p_value", stats["p"]), ("q_value", stats["q"]), ("probability", stats["prob"])):
            row[key] = "" if arr is None else _r(arr[i])
        for j in range(NEIGHBOURS):
            has = j < ms.topk_idx.shape[1]
            row[f"neighbour_{j + 1}"] = gen_ids[ms.topk_idx[i, j]] if has else ""
            row[f"similarity_{j + 1}"] = _r(ms.topk_sim[i, j]) if has else ""
        rows.append(row)
    return rows, order


def _patient_verdicts(stats: dict[str, Any]) -> np.ndarray:
    """(g,) verdict of each patient: used, borderline (the most suspicious ``BORDERLINE_ROWS`` patients
    not called used) or not flagged."""
    pats: PatientScores = stats["patients"]
    used = stats["patient_used"]
    order = np.lexsort((pats.groups, -np.nan_to_num(pats.score, nan=-np.inf)))
    verdict = np.full(len(pats.groups), NOT_FLAGGED, dtype=object)
    verdict[[g for g in order if not used[g]][:BORDERLINE_ROWS]] = BORDERLINE
    verdict[used] = USED
    return verdict


def _patient_rows(inputs: Inputs, stats: dict[str, Any]) -> list[dict[str, Any]]:
    """The patients.csv rows, most suspicious first (highest patient score; ties by group)."""
    pats: PatientScores = stats["patients"]
    verdict = stats["patient_verdict"]
    order = np.lexsort((pats.groups, -np.nan_to_num(pats.score, nan=-np.inf)))
    ids = inputs.real.ids
    used = stats["used"]
    rows = []
    for rank, g in enumerate(order, start=1):
        members = np.flatnonzero(pats.index == g)
        rows.append({"rank": rank, "group": pats.groups[g], "slices": int(pats.size[g]), "score": _r(pats.score[g]),
                     "p_value": "" if stats["patient_p"] is None else _r(stats["patient_p"][g]),
                     "q_value": "" if stats["patient_q"] is None else _r(stats["patient_q"][g]),
                     "verdict": verdict[g], "slices_called": int(used[members].sum()),
                     "slice_ids": " ".join(str(ids[i]) for i in members)})
    return rows


def _sizes(pats: PatientScores) -> dict[str, Any]:
    return {"min": int(pats.size.min()), "median": float(np.median(pats.size)), "max": int(pats.size.max())} \
        if len(pats.size) else {}


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
