"""Official run files for a test folder: every method fitted on the whole dev set.

Files of a submit run folder:

    runs/<method id, '/' -> '__'>.csv   one run file per method
    recommended.csv      the answers of the method with the best strict-CV MCC on the dev set (never a
                         baseline, nor a fraction rule unless asked), chosen as ``evaluate`` chooses it
    recommended.json     that method, its CV mean, the selection-aware estimate with its 95% interval,
                         the null test and the verdict
    vote.csv             the paper's submission 10: the majority of the nine Table 2 runs (written when
                         all nine are submitted)
    vote_all.csv         the majority of every submitted run that is not a baseline (a tie takes the
                         recommended method's answer)
    scores_test.csv      method, id, score, pred of every test real image
    evaluate/            the strict CV made for the recommendation when there is no ``--from``
    fingerprints/all/, extractors/all/   as in an evaluate run
    generated/           streaming runs only (``--engine local|ray``): ``pixels/`` (the generated test
                         images, uint8 shards) and ``<extractor>/`` (their fingerprint shards), the
                         files the search reads (docs/scale.md)

The strict CV behind the recommendation folds exactly as ``evaluate`` does (same groups, seed and
folds); ``--from RUN`` reuses an evaluate run only when its dev folder, preset, seed, size, epochs
and groups are this run's. Every run file is validated before it is renamed into place.

What each kind of method is fitted on:
- classifiers: dev U/NU (and dev G for ``full``), then they score the test real images;
- label-free similarity rules and baselines: the test G and the test real images (no labels);
- similarity and ``mia-`` methods fitted on labels: dev U/NU with dev G, every real image (dev and
  test, unlabelled) as their pool, then they score the test real images;
- extractors: the whole dev set; one that reads no label sees its real images as ``real_unknown``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from trainprint.core import files
from trainprint.core.config import config_from_dict
from trainprint.core.errors import TrainprintError
from trainprint.core.memory import DEFAULT_MEMORY, parse_memory
from trainprint.core.runs import CONFIG_FILE, RunRecord, check_out_dir, check_resume
from trainprint.data.imageset import (GENERATED, REAL_NOT_USED, REAL_UNKNOWN, REAL_USED, ImageSet, labels_of,
                                      patients_of)
from trainprint.data.load import CacheDir, is_volume_folder, load_dev, load_test, open_cache, read_folder
from trainprint.data.shards import ShardStore
from trainprint.data.stream import DEFAULT_CHUNK, GeneratedStream, write_pixel_shards
from trainprint.engine import ENGINES, EmbedSpec, embed_shards, ray_available
from trainprint.evaluation.config import EvalConfig
from trainprint.evaluation.evaluate import evaluate_images
from trainprint.evaluation.fingerprint_cache import fingerprints
from trainprint.evaluation.groups import AUTO, NONE, resolve_groups
from trainprint.evaluation.folds import make_folds, read_groups
from trainprint.scoring.siblings import describe, left_out
from trainprint.evaluation.null import PERMUTATIONS
from trainprint.evaluation.protocol import label_free_view
from trainprint.evaluation.selection import candidates
from trainprint.evaluation.verdict import SELECTION_FILE, selection_of_run
from trainprint.extractors.registry import make_extractor, run_params
from trainprint.similarity.generated import GeneratedSet, SearchPlan
from trainprint.similarity.generated import (DEFAULT_CANDIDATES, DEFAULT_REAL_CANDIDATES, block_bytes_for,
                                             check_search)
from trainprint.methods import BASELINES, DEFAULT_METHODS, TABLE2_METHODS, MethodOptions, MethodSpec, parse_method
from trainprint.scoring import FitView, patient_calls, score_images
from trainprint.submit.runfiles import majority_vote, real_unknown_ids, write_run_file

#: ways to run submit: all in memory (the smaller test sets), or streaming the generated test images
SUBMIT_ENGINES = ("auto", "memory", *ENGINES)
#: generated test images from which ``--engine auto`` streams them (64 px: 80 MB in memory below it)
STREAM_MIN = 20_000

#: settings an evaluate run given as --from must share with this submit
FROM_KEYS = ("dev_dir", "reading", "preset", "seed", "size", "epochs", "groups", "group_space", "group_z", "group_k", "fraction_q",
             "skip_bad")


@dataclass(frozen=True)
class SubmitConfig:
    """Settings of one ``submit`` run (saved as ``config.json``). ``evaluation`` holds what it shares
    with ``evaluate``: the dev folder, the submitted methods, preset, seed, folds and groups of the
    strict CV that picks the recommended method, the null test."""

    test_dir: str  # the test folder (generated/, real_unknown/) the run files answer
    evaluation: EvalConfig  # dev folder, submitted methods (one run file each) and every shared setting
    from_run: str | None = None  # an evaluate run folder (strict) to pick the recommended method
    engine: str = "auto"  # memory | local | ray | auto (memory up to STREAM_MIN generated test images)
    search: str = "auto"  # exhaustive | two-stage | auto (two-stage for ssim/ncc when streaming)
    candidates: int = DEFAULT_CANDIDATES  # two-stage: generated candidates per real image
    real_candidates: int = DEFAULT_REAL_CANDIDATES  # two-stage: real candidates per generated image
    chunk: int = DEFAULT_CHUNK  # generated images decoded and embedded at once when streaming
    workers: int = 2  # Ray actors (--engine ray)
    memory: int = DEFAULT_MEMORY  # bytes the run may hold at its peak (--memory): streamed blocks follow it

    @property
    def methods(self) -> tuple[str, ...]:
        """The submitted methods, one run file each."""
        return self.evaluation.methods

    def eval_config(self) -> EvalConfig:
        """The strict evaluation that picks the recommended method (when there is no ``--from``)."""
        return dataclasses.replace(self.evaluation, protocol="strict",
                                   methods=tuple(m for m in self.methods if m not in BASELINES) + BASELINES)

    def check(self) -> "SubmitConfig":
        """Every setting checked (errors name the value), before anything is read or written."""
        if not self.methods:
            raise TrainprintError("--methods: no method to submit")
        if not candidates(self.methods, include_fraction=self.evaluation.include_fraction):
            raise TrainprintError("--methods: only baselines (or fraction rules); a recommendation needs a method")
        self.eval_config().check()
        if self.engine not in SUBMIT_ENGINES:
            raise TrainprintError(f"--engine {self.engine!r}: expected one of {', '.join(SUBMIT_ENGINES)}")
        check_search(self.search)
        parse_memory(self.memory)
        self.plan("two-stage")  # checks candidates and real_candidates
        if not isinstance(self.chunk, int) or self.chunk < 1:
            raise TrainprintError(f"--chunk {self.chunk!r}: expected a whole number of images >= 1")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise TrainprintError(f"--workers {self.workers!r}: expected a whole number >= 1")
        if self.engine == "ray" and not ray_available():
            raise TrainprintError("--engine ray: Ray is not installed (pip install 'trainprint[distributed]')")
        if self.from_run:
            _from_config(self)
        return self

    def plan(self, search: str) -> SearchPlan:
        """The search plan of the generated test set (``search``: the resolved --search)."""
        return SearchPlan(search=search, candidates=self.candidates, real_candidates=self.real_candidates,
                          block_bytes=block_bytes_for(self.memory))

    def engine_for(self, n_generated: int) -> str:
        """``memory``, ``local`` or ``ray``: ``auto`` streams from ``STREAM_MIN`` generated images."""
        if self.engine != "auto":
            return self.engine
        return "local" if n_generated >= STREAM_MIN else "memory"

    def search_for(self, engine: str) -> str:
        """``exhaustive`` or ``two-stage``: ``auto`` is two-stage when streaming."""
        if self.search != "auto":
            return self.search
        return "exhaustive" if engine == "memory" else "two-stage"


def run_file_name(method_id: str) -> str:
    """``vectornet-12/real/svm-2`` -> ``vectornet-12__real__svm-2.csv``."""
    return method_id.replace("/", "__") + ".csv"


def submit(cfg: SubmitConfig, out: str | Path, *, progress: bool = False,
           cache_dir: CacheDir = None) -> dict[str, Any]:
    """Load the dev and test folders and run ``submit_images`` (``--engine memory``), or stream the
    test folder's generated images (``submit_stream``). ``cache_dir``: the decode cache
    (``trainprint.data``; ``False`` turns it off)."""
    cfg.check()
    check_out_dir(out)
    ev = cfg.evaluation
    gen_dir = Path(cfg.test_dir) / GENERATED
    stream = None
    if is_volume_folder(gen_dir) and cfg.engine != "auto":  # volumes are read whole: the memory engine
        engine = cfg.engine
        if engine != "memory":
            raise TrainprintError(f"--engine {engine}: {gen_dir} holds DICOM or NIfTI volumes, which are read whole, "
                                  "not streamed; expected --engine memory or auto")
    elif is_volume_folder(gen_dir):
        engine = "memory"
    else:
        stream = GeneratedStream(gen_dir, size=ev.size, chunk=cfg.chunk, skip_bad=ev.skip_bad,
                                 cache=open_cache(cache_dir), window=ev.reading.window)
        engine = cfg.engine_for(len(stream))
    kw = dict(size=ev.size, skip_bad=ev.skip_bad, cache_dir=cache_dir, progress=progress, reading=ev.reading)
    dev = load_dev(ev.dev_dir, **kw)  # type: ignore[arg-type]
    if engine == "memory" or stream is None:
        test = load_test(cfg.test_dir, **kw)  # type: ignore[arg-type]
        return submit_images(dev, test, cfg, out, progress=progress)
    test_real, _ = read_folder(cfg.test_dir, "test", splits=(REAL_UNKNOWN,), **kw)  # type: ignore[arg-type]
    return submit_stream(dev, test_real, stream, cfg, out, engine=engine, progress=progress)


def submit_stream(dev: ImageSet, test_real: ImageSet, stream: GeneratedStream, cfg: SubmitConfig, out: str | Path, *,
                  engine: str = "local", progress: bool = False) -> dict[str, Any]:
    """``submit_images`` with the test folder's generated images streamed: decoded a chunk at a time
    into pixel shards (``OUT/generated/pixels``), embedded shard by shard by ``engine`` (``local`` or
    ``ray``) into fingerprint shards (``OUT/generated/<extractor>``), searched a block at a time
    (two-stage for SSIM and NCC unless ``--search exhaustive``). Memory holds the dev set, the test
    real images and per-image results, never the generated pixels; an interrupted run resumes from
    the shards written. Same run files as ``submit_images`` (tests/test_scale.py)."""
    out = check_out_dir(out)
    specs = [parse_method(m) for m in cfg.check().methods]
    expected = real_unknown_ids(cfg.test_dir)
    dev_groups = _dev_groups(dev, cfg)
    if not cfg.from_run:  # the CV that picks recommended.csv must be possible: checked before writing
        make_folds(labels_of(dev.split[dev.mask(REAL_USED, REAL_NOT_USED)]), cfg.evaluation.folds, cfg.evaluation.seed,
                   dev_groups[0])
    if (stream.side, stream.side) != dev.pixels.shape[1:]:
        raise TrainprintError(f"{stream.folder}: generated images are {stream.side}x{stream.side} px, dev images "
                              f"{dev.pixels.shape[1]}x{dev.pixels.shape[2]}; use --size")
    check_resume(out, "submit", cfg)
    with RunRecord(out, command="submit", config=cfg, seed=cfg.evaluation.seed) as record:
        files.write_json(out / CONFIG_FILE, dataclasses.asdict(cfg))
        with record.stage("decode generated"):
            pixels = write_pixel_shards(stream, out / "generated" / "pixels", progress=progress)
        with record.stage("recommend"):
            selection = _selection(dev, cfg, out, progress)
        plan = cfg.plan(cfg.search_for(engine))
        answers, scored = _answer_test_stream(dev, test_real, pixels, plan, cfg, specs, out, record, expected,
                                              engine, progress, dev_groups)
        summary = _write_answers(out, cfg, selection, answers, expected,
                                 _counts(dev, len(pixels), len(test_real)))
        summary.update(scored=scored, engine=engine, search=dataclasses.asdict(plan), n_generated=len(pixels),
                       skipped_generated=len(stream.report.skipped))
        record.finish(**summary)
        return summary


def _answer_test_stream(dev: ImageSet, test_real: ImageSet, pixels: ShardStore, plan: SearchPlan, cfg: SubmitConfig,
                        specs: list[MethodSpec], out: Path, record: RunRecord, expected: list[str], engine: str,
                        progress: bool, dev_groups: tuple[np.ndarray | None, bool]) -> tuple[dict[str, np.ndarray], int]:
    """``_answer_test`` with the generated test images as shard stores."""
    small = ImageSet.concat(dev, test_real)  # (N_dev + N_test_real, H, W); rows of dev first
    source = np.array(["dev"] * len(dev) + ["test"] * len(test_real))
    params = dict(preset=cfg.evaluation.preset, epochs=cfg.evaluation.epochs, device=cfg.evaluation.device, random_state=cfg.evaluation.seed,
                  progress=progress)
    reps: dict[str, np.ndarray] = {}
    gen: dict[str, ShardStore] = {}
    with record.stage("fingerprints"):
        for name in dict.fromkeys(s.extractor for s in specs if s.extractor):
            if name == "raw":
                reps[name] = fingerprints(name, small, dev.pixels, dev.split, None)
                gen[name] = pixels
                continue
            run_dir = out / "extractors" / "all" / name
            ext = make_extractor(name, **run_params(name, run_dir=run_dir, **params))
            ext.fit(dev.pixels, dev.split if ext.uses_labels else label_free_view(dev.split))
            saved = ext.save(run_dir / "extractor.pt")
            reps[name] = np.asarray(ext.transform(small.pixels), dtype=np.float32)
            files.save_npz(out / "fingerprints" / "all" / f"{name}.npz", ids=small.ids, split=small.split,
                           source=source, X=reps[name])
            gen[name] = embed_shards(pixels, EmbedSpec(name, str(saved)), out / "generated" / name, engine=engine,
                                     workers=cfg.workers, progress=progress)
    def g_test(spec: MethodSpec) -> Any:
        return GeneratedSet(gen[spec.extractor], plan) if spec.extractor else np.zeros((len(pixels), 1), np.float32)

    return _answer_methods(specs, _Rows(dev, test_real, dev_groups), reps, len(small), cfg, out, record, expected,
                           g_test)


def submit_images(dev: ImageSet, test: ImageSet, cfg: SubmitConfig, out: str | Path, *,
                  progress: bool = False) -> dict[str, Any]:
    """Fit every method of ``cfg`` on ``dev``, answer ``test``; write the run folder ``out``.
    Returns the summary saved in ``run.json`` (recommended method, estimate, verdict, votes, files)."""
    out = check_out_dir(out)
    specs = [parse_method(m) for m in cfg.check().methods]
    if dev.pixels.shape[1:] != test.pixels.shape[1:]:
        raise TrainprintError(f"{cfg.test_dir}: test images are {test.pixels.shape[1:]} px, dev images "
                              f"{dev.pixels.shape[1:]}; use --size")
    expected = real_unknown_ids(cfg.test_dir)
    dev_groups = _dev_groups(dev, cfg)
    if not cfg.from_run:  # the CV that picks recommended.csv must be possible: checked before writing
        make_folds(labels_of(dev.split[dev.mask(REAL_USED, REAL_NOT_USED)]), cfg.evaluation.folds, cfg.evaluation.seed,
                   dev_groups[0])
    check_resume(out, "submit", cfg)
    with RunRecord(out, command="submit", config=cfg, seed=cfg.evaluation.seed) as record:
        files.write_json(out / CONFIG_FILE, dataclasses.asdict(cfg))
        with record.stage("recommend"):
            selection = _selection(dev, cfg, out, progress)
        answers, scored = _answer_test(dev, test, cfg, specs, out, record, expected, progress, dev_groups)
        summary = _write_answers(out, cfg, selection, answers, expected,
                                 _counts(dev, int(test.mask(GENERATED).sum()), int(test.mask(REAL_UNKNOWN).sum())))
        summary.update(scored=scored, engine="memory")
        record.finish(**summary)
        return summary


def _answer_test(dev: ImageSet, test: ImageSet, cfg: SubmitConfig, specs: list[MethodSpec], out: Path,
                 record: RunRecord, expected: list[str], progress: bool,
                 dev_groups: tuple[np.ndarray | None, bool]) -> tuple[dict[str, np.ndarray], int]:
    """One run file per method; returns each method's answers in sorted-id order."""
    both = ImageSet.concat(dev, test)  # (N_dev + N_test, H, W); rows of dev first
    source = np.array(["dev"] * len(dev) + ["test"] * len(test))
    params = dict(preset=cfg.evaluation.preset, epochs=cfg.evaluation.epochs, device=cfg.evaluation.device, random_state=cfg.evaluation.seed,
                  progress=progress)
    reps: dict[str, np.ndarray] = {}
    with record.stage("fingerprints"):
        for name in dict.fromkeys(s.extractor for s in specs if s.extractor):
            # every extractor is fitted on the whole dev set, then fingerprints dev and test images
            reps[name] = fingerprints(name, both, dev.pixels, dev.split,
                                      out / "fingerprints" / "all" / f"{name}.npz", source=source,
                                      run_dir=out / "extractors" / "all" / name, **params)
    return _answer_methods(specs, _Rows(dev, test, dev_groups), reps, len(both), cfg, out, record, expected)


def _answer_methods(specs: list[MethodSpec], rows: "_Rows", reps: dict[str, np.ndarray], n_rows: int,
                    cfg: SubmitConfig, out: Path, record: RunRecord, expected: list[str],
                    g_test: Callable[[MethodSpec], Any] | None = None) -> tuple[dict[str, np.ndarray], int]:
    """Fit and answer every method, one run file each, and ``scores_test.csv``; ``reps``: each
    extractor's (n_rows, ...) representations of dev + test rows; ``g_test(spec)``: the test generated
    images' representations when they are not rows of ``reps`` (streaming). Returns each method's
    answers in sorted-id order and the number of test images answered."""
    answers: dict[str, np.ndarray] = {}
    score_rows: list[dict[str, Any]] = []
    options = cfg.evaluation.options
    with record.stage("groups"):
        groups, named = rows.groups(cfg)  # (n_rows,) sibling groups: dev reals, test reals (each set on its own)
        test_groups = None if groups is None else groups[rows.test_real]
        record.data["groups"] = {"scores": describe(named, cfg.evaluation.siblings, groups is not None)}
        groups = left_out(groups, named, cfg.evaluation.siblings)  # the groups the scores leave out
        files.write_csv(out / "groups_test.csv", [{"id": i, "group": g} for i, g in
                                                  zip(rows.test_ids, rows.test_ids if test_groups is None
                                                      else test_groups)], ["id", "group"])
    with record.stage("methods"):
        for spec in specs:
            X = reps[spec.extractor] if spec.extractor else np.zeros((n_rows, 1), np.float32)
            G = g_test(spec) if g_test is not None else None
            scores, slice_preds = rows.answer(spec, X, cfg.evaluation.seed, cfg.evaluation.device, options, G_test=G,
                                              groups=groups)
            # a label-free method's run file gives each slice its patient's call (at least half its slices)
            preds = slice_preds if spec.uses_labels else patient_calls(slice_preds, test_groups)
            order = np.argsort(rows.test_ids)
            ids, preds, scores, slice_preds = rows.test_ids[order], preds[order], scores[order], slice_preds[order]
            write_run_file(out / "runs" / run_file_name(spec.id), list(ids), preds, expected)
            answers[spec.id] = preds
            score_rows += [dict(method=spec.id, id=i, score=float(s), pred=int(p), slice_pred=int(q))
                           for i, s, p, q in zip(ids, scores, preds, slice_preds)]
        files.write_csv(out / "scores_test.csv", score_rows, ["method", "id", "score", "pred", "slice_pred"])
    return answers, len(rows.test_ids)


def _write_answers(out: Path, cfg: SubmitConfig, selection: dict[str, Any], answers: dict[str, np.ndarray],
                   expected: list[str], counts: dict[str, int]) -> dict[str, Any]:
    """recommended.csv / .json, vote.csv (Table 2's nine runs), vote_all.csv; the summary for run.json.
    ``counts``: generated and real images of dev and test (``transfer_check``)."""
    ids = sorted(expected)
    rec = selection["recommended"]
    best = answers[rec["method"]]
    transfer = transfer_check(parse_method(rec["method"]), counts, float(best.mean()))
    write_run_file(out / "recommended.csv", ids, best, expected)
    files.write_json(out / "recommended.json", {**{k: selection[k] for k in
                                                   ("recommended", "selection_aware", "null_test", "verdict")},
                                                "transfer": transfer})
    voters = [m for m in answers if m not in BASELINES]
    stacked = np.stack([answers[m] for m in voters])
    write_run_file(out / "vote_all.csv", ids, majority_vote(stacked, tie_break=best), expected)
    votes: dict[str, Any] = {"vote_all.csv": {"methods": voters,
                                              "ties": int(np.sum(2 * stacked.sum(0) == len(voters))),
                                              "tie_rule": "a tie takes the recommended method's answer"}}
    if all(m in answers for m in TABLE2_METHODS):
        write_run_file(out / "vote.csv", ids, majority_vote(np.stack([answers[m] for m in TABLE2_METHODS])), expected)
        votes["vote.csv"] = {"methods": list(TABLE2_METHODS), "ties": 0,
                             "rule": "the paper's submission 10: majority of its nine Table 2 runs"}
    return {**selection, "votes": votes, "runs": {m: f"runs/{run_file_name(m)}" for m in answers},
            "n_test": len(ids), "transfer": transfer}


#: how far the test set's generated images per real image may stray from dev's (a factor) before
#: ``transfer_check`` cautions that the dev estimate may not hold for a label-free recommendation
RATIO_TOLERANCE = 2.0


def transfer_check(spec: MethodSpec, counts: dict[str, int], test_share_used: float) -> dict[str, Any]:
    """Whether the recommended method meets the test set as strict CV met it.

    A label-free method is fitted on the test folder's own generated and real images; its answers
    depend on how many generated images there are per real image (a count of nearest neighbours, a
    best match over more images, a rank among more lists all grow with it). Strict CV measured it at
    dev's ratio. When the test's ratio differs from dev's by more than ``RATIO_TOLERANCE`` times, the
    result carries a ``caution`` (printed by ``submit``) that the dev estimate may not hold on test.
    A label-using method meets the dev generated images on test as in CV, so no caution.

    ``counts``: ``dev_generated``, ``dev_real``, ``test_generated``, ``test_real``."""
    dev_ratio = counts["dev_generated"] / max(counts["dev_real"], 1)
    # a test folder without generated images is answered against dev's (``_Rows.answer``)
    test_ratio = (counts["test_generated"] or counts["dev_generated"]) / max(counts["test_real"], 1)
    out: dict[str, Any] = {"method": spec.id, "fitted_on": "dev generated images and labels" if spec.uses_labels
                           else "test generated and real images (label-free)",
                           "dev_generated_per_real": round(dev_ratio, 3), "test_generated_per_real": round(test_ratio, 3),
                           "test_share_called_used": round(test_share_used, 4), "caution": None}
    factor = max(dev_ratio, test_ratio) / max(min(dev_ratio, test_ratio), 1e-12)
    if not spec.uses_labels and spec.kind != "baseline" and factor > RATIO_TOLERANCE:
        out["caution"] = (f"the test folder has {test_ratio:.1f} generated images per real image, the dev folder "
                          f"{dev_ratio:.1f}: {spec.id} is label-free and reads the test set at its own ratio, so "
                          f"its dev estimate may not hold on test (it calls {100 * test_share_used:.0f}% of the "
                          "test images used)")
    return out


def _counts(dev: ImageSet, test_generated: int, test_real: int) -> dict[str, int]:
    """The image counts ``transfer_check`` compares."""
    return {"dev_generated": int(dev.mask(GENERATED).sum()), "dev_real": int(dev.mask(REAL_USED, REAL_NOT_USED).sum()),
            "test_generated": test_generated, "test_real": test_real}


def _dev_groups(dev: ImageSet, cfg: SubmitConfig) -> tuple[np.ndarray | None, bool]:
    """(dev real images,) the sibling groups of the dev set's real images, as ``evaluate`` makes
    them (None with ``--groups none``), and whether they are named (files or a CSV); made once per
    run, for the fold check and the scores."""
    real = dev.mask(REAL_USED, REAL_NOT_USED)
    ecfg = cfg.eval_config()
    groups, info = resolve_groups(ecfg.groups, dev.ids[real], dev.pixels[real], ecfg.group_rule, device=ecfg.device,
                                  patients=patients_of(dev, real))
    return groups, info["source"] not in (AUTO, NONE)


class _Rows:
    """Where each method reads its inputs in the dev + test arrays (dev rows first)."""

    def __init__(self, dev: ImageSet, test: ImageSet, dev_groups: tuple[np.ndarray | None, bool]) -> None:
        n = len(dev)
        self.dev_groups, self.dev_named = dev_groups  # (dev real images,) their sibling groups (``_dev_groups``)
        self.dev_real = np.flatnonzero(dev.mask(REAL_USED, REAL_NOT_USED))
        self.dev_gen = np.flatnonzero(dev.mask(GENERATED))
        self.test_real = n + np.flatnonzero(test.mask(REAL_UNKNOWN))
        self.test_gen = n + np.flatnonzero(test.mask(GENERATED))
        self.y = labels_of(dev.split[self.dev_real])
        self.test_ids = test.ids[self.test_real - n]
        self.n = n + len(test)
        self.test_pixels = test.pixels[self.test_real - n]
        self.dev_ids = dev.ids[self.dev_real]
        self.test_patients = patients_of(test, self.test_real - n)
        if len(self.test_real) == 0:
            raise TrainprintError("test folder: no real_unknown images")

    def groups(self, cfg: SubmitConfig) -> tuple[np.ndarray | None, bool]:
        """(N,) sibling group of every row: the dev real images' as evaluate makes them, the test real
        images' inferred on their own (or read from the ``--groups`` CSV when it names them), every
        generated image alone; None with ``--groups none``; and whether every set's groups are named
        (files or a CSV: ``scoring.siblings``)."""
        ecfg = cfg.eval_config()
        if ecfg.groups == NONE:
            return None, False
        out = np.array([f"#{i}" for i in range(self.n)], dtype=object)
        dev = self.dev_ids if self.dev_groups is None else self.dev_groups
        choice = ecfg.groups
        if choice != AUTO:
            try:
                read_groups(choice, self.test_ids)
            except TrainprintError:
                choice = AUTO  # the CSV names the dev images only: the test images' groups are inferred
        test, info = resolve_groups(choice, self.test_ids, self.test_pixels, ecfg.group_rule, device=ecfg.device,
                                    patients=self.test_patients)
        out[self.dev_real] = np.char.add("dev:", np.asarray(dev).astype(str))
        out[self.test_real] = np.asarray(test).astype(str)
        return out.astype(str), self.dev_named and info["source"] not in (AUTO, NONE)

    def view(self, spec: MethodSpec, groups: np.ndarray | None = None) -> FitView:
        """What ``spec`` may see. A label-reading method: the dev labels and generated images, and
        every real image known (dev and test, unlabelled) as its pool, as in strict CV, where the
        held-out fold (siblings included) is in the pool. A label-free one: the test folder's
        generated images (dev's where the test folder has none) and its real images as the pool."""
        if spec.uses_labels:
            return FitView(real=self.dev_real, y=self.y, gen=self.dev_gen,
                           pool=np.concatenate([self.dev_real, self.test_real]), groups=groups)
        return FitView(real=self.test_real, y=None, gen=self.test_gen if len(self.test_gen) else self.dev_gen,
                       pool=self.test_real, groups=groups)

    def answer(self, spec: MethodSpec, X: np.ndarray, seed: int, device: str, options: MethodOptions,
               G_test: Any = None, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, preds) of ``spec`` for the test real images, each (n_test,). ``G_test``: the test
        generated images' representations when they are not rows of ``X`` (streaming); ``groups``
        (N,): the sibling group of every row, or None."""
        scored = score_images(spec, X, self.view(spec, groups), [self.test_real], seed=seed, device=device,
                              options=options, G=None if spec.uses_labels else G_test)
        return scored.scores[0], scored.preds[0]


def _from_config(cfg: SubmitConfig) -> EvalConfig:
    """The config of the ``--from`` evaluate run, refused (one line) when it could not have chosen
    this submit's method: another protocol, dev folder, preset, seed, size, epochs or groups."""
    run = Path(str(cfg.from_run))
    path = run / "config.json"
    if not (run / "results.csv").is_file() or not path.is_file():
        raise TrainprintError(f"--from {run}: no results.csv and config.json (expected an evaluate run folder)")
    if not (run / SELECTION_FILE).is_file():
        raise TrainprintError(f"--from {run}: no {SELECTION_FILE} (an unfinished evaluate run, or one made by an "
                              "older trainprint); run evaluate again into that folder to finish it")
    saved = files.read_json(path)
    fields = {f.name for f in dataclasses.fields(EvalConfig)}
    old = config_from_dict(EvalConfig, {k: v for k, v in saved.items() if k in fields})
    if old.protocol != "strict":
        raise TrainprintError(f"--from {run}: its protocol is {old.protocol!r} (optimistic); the recommendation "
                              "needs a strict-protocol evaluate run")
    mine = cfg.eval_config()
    mine = dataclasses.replace(mine, dev_dir=str(Path(mine.dev_dir).resolve()),
                               groups=mine.groups if mine.groups in (AUTO, NONE) else str(Path(mine.groups).resolve()))
    check_resume(run, "evaluate", mine, FROM_KEYS, what="--from")
    return old


def _selection(dev: ImageSet, cfg: SubmitConfig, out: Path, progress: bool) -> dict[str, Any]:
    """The recommended method among the submitted ones, with its selection-aware estimate and the
    verdict, from the ``--from`` run or from a strict CV made in ``out/evaluate``."""
    if not cfg.from_run:
        ecfg = cfg.eval_config()
        evaluate_images(dev, ecfg, out / "evaluate", progress=progress)
        return {**files.read_json(out / "evaluate" / SELECTION_FILE), "source": f"{out / 'evaluate'} (strict CV "
                                                                                 "made by submit)"}
    old = _from_config(cfg)
    submitted = [m for m in cfg.methods if m in old.methods and m not in BASELINES]
    if not candidates(submitted, include_fraction=cfg.evaluation.include_fraction):
        raise TrainprintError(f"--from {cfg.from_run}: none of the submitted methods was evaluated there")
    ecfg = dataclasses.replace(old, methods=tuple(submitted), permutations=cfg.evaluation.permutations,
                               null_refits=cfg.evaluation.null_refits, include_fraction=cfg.evaluation.include_fraction)
    selection = selection_of_run(Path(cfg.from_run), dev, ecfg)
    not_evaluated = [m for m in cfg.methods if m not in old.methods and m not in BASELINES]
    return {**selection, "source": str(cfg.from_run),
            "not_evaluated": not_evaluated}  # submitted, but without CV results: never recommended
