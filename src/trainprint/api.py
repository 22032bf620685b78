"""The Python API: the three commands a notebook or a script calls, with typed results.

    import trainprint
    result = trainprint.audit("gen/", "real/", reference="known_non_members/")
    print(result.verdict.label, result.estimate.line()); result.images.head()

``audit(generated, real, ...)``, ``evaluate(dev, ...)`` and ``submit(dev, test, ...)`` take what
the commands take (folders; for ``audit`` and ``evaluate`` also uint8 arrays), run the same library
functions, and return ``AuditResult``, ``EvaluateResult`` and ``SubmitResult``: the typed summary,
the verdict and the estimate as dataclasses, the tables as pandas DataFrames (lists of dicts, one
per row, without pandas) and ``to_html(path)``. With ``out=None`` (the default) the run folder is a
temporary folder removed before the call returns, and the decode cache is off unless ``cache_dir``
is given: nothing is left on disk but what ``to_html`` is asked to write. With ``out=FOLDER`` the
folder is the command's run folder (resumable, as on the command line).

Bad input raises ``TrainprintError`` (a ``ValueError``) with the message the command prints after
``error:``. ``trainprint.audit`` and ``trainprint.submit`` are these functions (the package root
makes those two subpackages callable); docs/api.md.

This module sits above the library like ``cli/`` (it imports downward only) and imports nothing
heavy until a function is called, so ``import trainprint`` stays light.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Union

from trainprint.core.errors import TrainprintError
from trainprint.core.memory import parse_memory

if TYPE_CHECKING:
    import numpy as np

    from trainprint.audit.config import AuditConfig
    from trainprint.audit.result import AuditSummary, MemberEstimate
    from trainprint.data.imageset import ImageSet
    from trainprint.evaluation.config import EvalConfig
    from trainprint.evaluation.summary import EvaluationSummary, SelectionEstimate, Verdict
    from trainprint.submit.pipeline import SubmitConfig
    from trainprint.submit.summary import SubmitSummary

#: a folder of images, or its pixels: (N, H, W) uint8 or a sequence of (H, W) uint8 arrays of one size
Images = Union[str, "os.PathLike[str]", "np.ndarray", Sequence["np.ndarray"]]
#: a table of results: a pandas DataFrame when pandas is installed, else a list of dicts (one per row)
Table = Any
PathLike = Union[str, "os.PathLike[str]"]
#: the name ``Folders`` shows for images handed over as an array
ARRAY = "(array)"
#: the dev set's splits when it is handed over as arrays
DEV_SPLITS = ("generated", "real_used", "real_not_used")


# ---------------------------------------------------------------------------------------- results
@dataclass(frozen=True)
class _RunResult:
    """What every result has: ``out``, the run folder (None when it was temporary), and its page."""

    out: Path | None
    html: str | None = field(repr=False)  # the page, kept when the run folder was temporary (else built from out)
    _page: ClassVar[Literal["audit", "report"]] = "report"

    def to_html(self, path: PathLike) -> Path:
        """Write the run's page to ``path``: ``audit.html`` for an audit (self-contained, embeds image
        thumbnails), else the report of ``trainprint report`` (results, ROC, scores, gallery; for a
        submit run also the test set)."""
        return _to_html(path, self.html, self.out, self._page)


@dataclass(frozen=True)
class AuditResult(_RunResult):
    """What ``audit`` returns.

    ``summary``: ``AuditSummary`` (audit.json); ``verdict``: the overall verdict and its test;
    ``estimate``: the estimated number of members with its interval; ``images``: one row per audited
    image, most suspicious first (audit.csv's columns); ``patients``: one row per patient (sibling
    group, patients.csv's columns); ``out``: the run folder, or None when it was temporary."""

    summary: AuditSummary
    verdict: Verdict
    estimate: MemberEstimate
    images: Table = field(repr=False)
    patients: Table = field(repr=False)
    _page: ClassVar[Literal["audit", "report"]] = "audit"


@dataclass(frozen=True)
class EvaluateResult(_RunResult):
    """What ``evaluate`` returns.

    ``summary``: ``EvaluationSummary`` (selection.json and the groups); ``verdict``: the null test's
    verdict; ``estimate``: the recommended method's selection-aware estimate (None when only baselines
    were evaluated); ``results``: one row per method (results.csv's columns); ``out``: the run folder,
    or None when it was temporary."""

    summary: EvaluationSummary
    verdict: Verdict
    estimate: SelectionEstimate | None
    results: Table = field(repr=False)


@dataclass(frozen=True)
class SubmitResult(_RunResult):
    """What ``submit`` returns.

    ``summary``: ``SubmitSummary``; ``verdict`` and ``estimate``: those of the selection that picked
    the recommended method; ``answers``: one row per test image (``id``) with a 0/1 column per method
    and ``recommended`` (the official run files' content); ``out``: the run folder, or None when it
    was temporary."""

    summary: SubmitSummary
    verdict: Verdict
    estimate: SelectionEstimate | None
    answers: Table = field(repr=False)


# ---------------------------------------------------------------------------------------- audit
def audit(generated: Images, real: Images, *, reference: Images | None = None, dev: PathLike | None = None,
          out: PathLike | None = None, method: str | None = None, methods: str | Sequence[str] | None = None,
          folds: int = 10, permutations: int = 200, groups: PathLike = "auto", siblings: Literal["leave-out", "named", "keep"] = "leave-out",
          fdr: float = 0.05, preset: Literal["paper", "fast", "smoke"] = "fast", seed: int = 0,
          device: Literal["auto", "cpu", "cuda"] = "auto", size: int | None = None, skip_bad: bool = False,
          search: Literal["auto", "exhaustive", "two-stage"] = "auto", memory: str | int = "2GB",
          cache_dir: PathLike | bool | None = None, progress: bool = False) -> AuditResult:
    """Audit the real images ``real`` against the generator's images ``generated`` (as
    ``trainprint audit``; docs/audit.md): a verdict for every real image and for every patient, the
    overall verdict and the estimated number of members.

    ``generated``, ``real``, ``reference``: folders, or uint8 arrays (N, H, W) (ids ``generated-0``,
    ``real-0``, ``reference-0``, ... in array order); ``dev``: a labelled dev folder. ``method``: the
    label-free method without ``dev``; ``methods``: the candidates ``dev``'s strict CV chooses among
    (needs ``dev``). ``memory``: the peak the run may reach (``"2GB"``, ``"1.5GiB"`` or bytes; it
    says before it starts when the images cannot fit). The other options are the command's
    (``--folds`` ...). ``out``: the run folder to write, or None (a temporary one, removed)."""
    cfg = audit_config(_name(generated), _name(real), reference=None if reference is None else _name(reference),
                       dev=None if dev is None else str(dev), method=method, methods=methods, folds=folds,
                       permutations=permutations, groups=groups, siblings=siblings, fdr=fdr, preset=preset, seed=seed,
                       device=device, size=size, skip_bad=skip_bad, search=search, memory=memory).check()
    from trainprint.audit.pipeline import CSV_FIELDS, PATIENT_FIELDS, audit as run_audit
    from trainprint.report.audit_page import build_audit_page

    cache = _cache(cache_dir, out)
    with _run_folder(out, "audit") as folder:
        if all(_is_folder(v) for v in (generated, real, reference) if v is not None):
            summary = run_audit(cfg, folder, progress=progress, cache_dir=cache, page=build_audit_page)
        else:
            summary = _audit_arrays(generated, real, reference, cfg, folder, cache, progress, build_audit_page)
        from trainprint.core.files import read_csv

        return AuditResult(summary=summary, verdict=summary.verdict_of(), estimate=summary.members(),
                           images=_table(read_csv(folder / "audit.csv"), CSV_FIELDS, AUDIT_TEXT),
                           patients=_table(read_csv(folder / "patients.csv"), PATIENT_FIELDS, AUDIT_TEXT),
                           out=None if out is None else Path(out),
                           html=None if out is not None else (folder / "audit.html").read_text("utf-8"))


def audit_config(generated_dir: str, real_dir: str, *, reference: str | None = None, dev: str | None = None,
                 method: str | None = None, methods: str | Sequence[str] | None = None, folds: int = 10,
                 permutations: int = 200, groups: PathLike = "auto", siblings: str = "leave-out", fdr: float = 0.05,
                 preset: str = "fast", seed: int = 0, device: str = "auto", size: int | None = None,
                 skip_bad: bool = False, search: str = "auto", memory: str | int = "2GB") -> AuditConfig:
    """The ``AuditConfig`` of ``trainprint audit``'s options (the command and ``audit`` both build it
    here). ``--method`` is the one method scored without ``--dev``; ``--methods`` the candidates a
    dev set's CV chooses among, so it needs ``--dev`` (and ``--method`` refuses ``--dev``:
    ``AuditConfig.check``); ``--memory`` a size such as ``2GB`` (``core.memory.parse_memory``)."""
    from trainprint.audit.config import DEV_METHODS, AuditConfig
    from trainprint.evaluation.config import EvalConfig
    from trainprint.methods import BASELINES

    if methods is not None and not dev:
        raise TrainprintError(f"--methods {_joined(methods)}: the candidates of a dev set's CV; without --dev give "
                              "the one label-free method with --method")
    shared = EvalConfig(dev_dir=dev or "", protocol="strict",
                        methods=(_expand(methods) if methods is not None else DEV_METHODS) + BASELINES, folds=folds,
                        permutations=permutations, groups=str(groups), siblings=siblings, preset=preset, seed=seed,
                        device=device, size=size, skip_bad=skip_bad)
    return AuditConfig(generated_dir=generated_dir, real_dir=real_dir, evaluation=shared, reference_dir=reference,
                       method=method, fdr=fdr, search=search, memory=parse_memory(memory))


def _audit_arrays(generated: Images, real: Images, reference: Images | None, cfg: AuditConfig, out: Path,
                  cache: PathLike | bool | None, progress: bool, page: Any) -> AuditSummary:
    """``audit_images`` on inputs of which at least one is an array; the folders among them are read
    together with one scale, as the command reads its three folders (``data.plain``)."""
    from trainprint.audit.pipeline import Inputs, audit_images
    from trainprint.core.runs import check_out_dir, check_resume
    from trainprint.data.imageset import GENERATED, REAL_NOT_USED, REAL_UNKNOWN
    from trainprint.data.load import load_dev
    from trainprint.data.plain import load_plain_folders, same_size

    check_out_dir(out)
    check_resume(out, "audit", cfg)
    ev = cfg.evaluation
    kw = dict(size=ev.size, skip_bad=ev.skip_bad, cache_dir=cache, progress=progress, reading=ev.reading)
    given = [(generated, GENERATED, "GENERATED_DIR", "generated"), (real, REAL_UNKNOWN, "REAL_DIR", "real")]
    if reference is not None:
        given.append((reference, REAL_NOT_USED, "--reference", "reference"))
    folders = [(str(v), split, what) for v, split, what, _ in given if _is_folder(v)]
    read = iter(load_plain_folders(folders, **kw))  # type: ignore[arg-type]
    sets = {what: next(read) if _is_folder(v) else _array_set(v, split, what, prefix, ev.size)  # type: ignore[arg-type]
            for v, split, what, prefix in given}
    dev = load_dev(cfg.dev_dir, **kw) if cfg.dev_dir else None  # type: ignore[arg-type]
    same_size({**sets, **({"--dev": dev} if dev else {})})  # type: ignore[dict-item]
    return audit_images(Inputs(sets["GENERATED_DIR"], sets["REAL_DIR"], sets.get("--reference"), dev), cfg, out,
                        progress=progress, page=page)


# ---------------------------------------------------------------------------------------- evaluate
def evaluate(dev: PathLike | Mapping[str, Images], *, out: PathLike | None = None,
             methods: str | Sequence[str] | None = None, protocol: Literal["strict", "paper"] = "strict",
             folds: int = 10, groups: PathLike = "auto", siblings: Literal["leave-out", "named", "keep"] = "leave-out", permutations: int = 200,
             null_refits: int = 0, preset: Literal["paper", "fast", "smoke"] = "fast", epochs: int | None = None, seed: int = 0,
             device: Literal["auto", "cpu", "cuda"] = "auto", size: int | None = None, skip_bad: bool = False,
             keep_checkpoints: bool = False, group_space: str = "pixel", group_z: float | None = None,
             group_k: int = 2, recommend_fraction: bool = False, fraction_q: float = 0.5,
             cache_dir: PathLike | bool | None = None, progress: bool = False) -> EvaluateResult:
    """Cross-validate membership methods on a labelled dev set (as ``trainprint evaluate``;
    docs/evaluation.md): every method's CV metrics, the recommended method, its selection-aware
    estimate and the null test's verdict.

    ``dev``: a dev folder (generated/, real_used/, real_not_used/), or a mapping of those three split
    names to uint8 arrays (N, H, W) (ids ``<split>-0``, ...). ``methods``: ids, globs or list names, a
    comma-separated string or a sequence (default: the ``default`` list)."""
    name = str(dev) if _is_folder(dev) else ARRAY
    cfg = evaluate_config(name, methods=methods, protocol=protocol, folds=folds, groups=groups, siblings=siblings,
                          permutations=permutations, null_refits=null_refits, preset=preset, epochs=epochs, seed=seed,
                          device=device, size=size, skip_bad=skip_bad, keep_checkpoints=keep_checkpoints,
                          group_space=group_space, group_z=group_z, group_k=group_k,
                          recommend_fraction=recommend_fraction, fraction_q=fraction_q).check()
    from trainprint.core.files import read_csv
    from trainprint.evaluation.evaluate import evaluate as run_evaluate, evaluate_images
    from trainprint.evaluation.results import RESULT_FIELDS
    from trainprint.evaluation.summary import EvaluationSummary, SelectionEstimate

    cache = _cache(cache_dir, out)
    with _run_folder(out, "evaluate") as folder:
        if _is_folder(dev):
            run_evaluate(cfg, folder, progress=progress, cache_dir=cache)
        else:
            evaluate_images(_dev_arrays(dev, size), cfg, folder, progress=progress)  # type: ignore[arg-type]
        summary = EvaluationSummary.of_run(folder)
        return EvaluateResult(summary=summary, verdict=summary.verdict_of(),
                              estimate=SelectionEstimate.of(summary.selection_aware),
                              results=_table(read_csv(folder / "results.csv"), RESULT_FIELDS, RESULT_TEXT),
                              out=None if out is None else Path(out), html=_report(folder, out))


def evaluate_config(dev_dir: str, *, methods: str | Sequence[str] | None = None, protocol: str = "strict",
                    folds: int = 10, groups: PathLike = "auto", siblings: str = "leave-out", permutations: int = 200,
                    null_refits: int = 0, preset: str = "fast", epochs: int | None = None, seed: int = 0, device: str = "auto",
                    size: int | None = None, skip_bad: bool = False, keep_checkpoints: bool = False,
                    group_space: str = "pixel", group_z: float | None = None, group_k: int = 2,
                    recommend_fraction: bool = False, fraction_q: float = 0.5) -> EvalConfig:
    """The ``EvalConfig`` of ``trainprint evaluate``'s options (the command and ``evaluate`` both
    build it here); the baselines are always evaluated."""
    from trainprint.evaluation.config import EvalConfig
    from trainprint.methods import BASELINES

    ids = list(_expand(methods))
    ids += [b for b in BASELINES if b not in ids]
    return EvalConfig(dev_dir=dev_dir, protocol=protocol, preset=preset, methods=tuple(ids), folds=folds, seed=seed,
                      epochs=epochs, device=device, size=size, keep_checkpoints=keep_checkpoints, groups=str(groups),
                      siblings=siblings, group_space=group_space, group_z=group_z, group_k=group_k, skip_bad=skip_bad,
                      permutations=permutations, null_refits=null_refits, include_fraction=recommend_fraction,
                      fraction_q=fraction_q)


# ---------------------------------------------------------------------------------------- submit
def submit(dev: PathLike, test: PathLike, *, out: PathLike | None = None, methods: str | Sequence[str] | None = None,
           from_run: PathLike | None = None, folds: int = 10, groups: PathLike = "auto",
           siblings: Literal["leave-out", "named", "keep"] = "leave-out", permutations: int = 200, null_refits: int = 0, preset: Literal["paper", "fast", "smoke"] = "fast", epochs: int | None = None,
           seed: int = 0, device: Literal["auto", "cpu", "cuda"] = "auto", size: int | None = None,
           skip_bad: bool = False, group_space: str = "pixel", group_z: float | None = None, group_k: int = 2,
           recommend_fraction: bool = False, fraction_q: float = 0.5,
           engine: Literal["auto", "memory", "local", "ray"] = "auto",
           search: Literal["auto", "exhaustive", "two-stage"] = "auto", candidates: int = 64,
           real_candidates: int = 4, chunk: int = 4096, workers: int = 2, memory: str | int = "2GB",
           cache_dir: PathLike | bool | None = None, progress: bool = False) -> SubmitResult:
    """Fit every method on the dev folder ``dev`` and answer the task test folder ``test`` (as
    ``trainprint submit``; official run files, votes, the recommended run). Folders only: the run
    files must cover the ids of ``test/real_unknown/``."""
    if not (_is_folder(dev) and _is_folder(test)):
        raise TrainprintError("submit: DEV_DIR and TEST_DIR must be folders (the official run files cover the ids of "
                              "TEST_DIR/real_unknown/); evaluate and audit take arrays")
    cfg = submit_config(str(dev), str(test), methods=methods, from_run=from_run, folds=folds, groups=groups,
                        siblings=siblings,
                        permutations=permutations, null_refits=null_refits, preset=preset, epochs=epochs, seed=seed,
                        device=device, size=size, skip_bad=skip_bad, group_space=group_space, group_z=group_z,
                        group_k=group_k, recommend_fraction=recommend_fraction, fraction_q=fraction_q, engine=engine,
                        search=search, candidates=candidates, real_candidates=real_candidates, chunk=chunk,
                        workers=workers, memory=memory).check()
    from trainprint.evaluation.summary import SelectionEstimate
    from trainprint.submit.pipeline import submit as run_submit
    from trainprint.submit.summary import SubmitSummary

    cache = _cache(cache_dir, out)
    with _run_folder(out, "submit") as folder:
        summary = SubmitSummary.from_dict(run_submit(cfg, folder, progress=progress, cache_dir=cache))
        return SubmitResult(summary=summary, verdict=summary.verdict_of(),
                            estimate=SelectionEstimate.of(summary.selection_aware),
                            answers=_answers(folder, summary), out=None if out is None else Path(out),
                            html=_report(folder, out))


def submit_config(dev_dir: str, test_dir: str, *, methods: str | Sequence[str] | None = None,
                  from_run: PathLike | None = None, folds: int = 10, groups: PathLike = "auto",
                  siblings: str = "leave-out", permutations: int = 200, null_refits: int = 0, preset: str = "fast", epochs: int | None = None,
                  seed: int = 0, device: str = "auto", size: int | None = None, skip_bad: bool = False,
                  group_space: str = "pixel", group_z: float | None = None, group_k: int = 2,
                  recommend_fraction: bool = False, fraction_q: float = 0.5, engine: str = "auto", search: str = "auto",
                  candidates: int = 64, real_candidates: int = 4, chunk: int = 4096, workers: int = 2,
                  memory: str | int = "2GB") -> SubmitConfig:
    """The ``SubmitConfig`` of ``trainprint submit``'s options (the command and ``submit`` both build it here)."""
    from trainprint.evaluation.config import EvalConfig
    from trainprint.submit.pipeline import SubmitConfig

    shared = EvalConfig(dev_dir=dev_dir, protocol="strict", methods=_expand(methods), preset=preset, epochs=epochs,
                        folds=folds, seed=seed, device=device, size=size, skip_bad=skip_bad, groups=str(groups),
                        siblings=siblings, group_space=group_space, group_z=group_z, group_k=group_k, permutations=permutations,
                        null_refits=null_refits, include_fraction=recommend_fraction, fraction_q=fraction_q)
    return SubmitConfig(test_dir=test_dir, evaluation=shared, from_run=str(from_run) if from_run else None,
                        engine=engine, search=search, candidates=candidates, real_candidates=real_candidates,
                        chunk=chunk, workers=workers, memory=parse_memory(memory))


def _answers(run: Path, summary: SubmitSummary) -> Table:
    """One row per test image: ``id``, the answer of every method (its run file) and ``recommended``."""
    from trainprint.submit.runfiles import read_run_file

    columns = {m: read_run_file(run / path) for m, path in summary.runs.items()}
    columns["recommended"] = read_run_file(run / "recommended.csv")
    ids = sorted(columns["recommended"])
    return _table([{"id": i, **{m: col[i] for m, col in columns.items()}} for i in ids], ["id", *columns], {"id"})


# ---------------------------------------------------------------------------------------- helpers
def _is_folder(value: object) -> bool:
    return isinstance(value, (str, os.PathLike))


def _name(value: Images) -> str:
    """The name ``config.json`` and ``audit.json`` keep for an input: its folder, or ``(array)``."""
    return str(value) if _is_folder(value) else ARRAY


def _joined(methods: str | Sequence[str]) -> str:
    return methods if isinstance(methods, str) else ",".join(methods)


def _expand(methods: str | Sequence[str] | None) -> tuple[str, ...]:
    """Method ids from ids, globs and list names (a comma-separated string or a sequence); None: the default list."""
    from trainprint.methods import expand_methods

    return tuple(expand_methods(None if methods is None else _joined(methods)))


def _cache(cache_dir: PathLike | bool | None, out: PathLike | None) -> Path | bool | None:
    """The data layer's ``cache_dir``: the one given; else the default cache with an ``out`` folder,
    none without one (``out=None`` leaves nothing on disk)."""
    if cache_dir is None:
        return None if out is not None else False
    return cache_dir if isinstance(cache_dir, bool) else Path(cache_dir)


@contextmanager
def _run_folder(out: PathLike | None, name: str) -> Iterator[Path]:
    """``out`` as a Path, or ``<a new temporary folder>/<name>``, removed with everything in it on exit."""
    if out is not None:
        yield Path(out)
        return
    tmp = Path(tempfile.mkdtemp(prefix="trainprint-"))
    try:
        yield tmp / name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _report(folder: Path, out: PathLike | None) -> str | None:
    """The report of a temporary run folder, as text (None for the user's ``out``: ``to_html`` builds it from there)."""
    if out is not None:
        return None
    from trainprint.report.build import build_report

    return build_report(folder).read_text("utf-8")


def _to_html(path: PathLike, html: str | None, out: Path | None, page: Literal["audit", "report"]) -> Path:
    """Write ``html`` to ``path`` (atomically), or build the page of the run folder ``out`` there."""
    target = Path(path)
    if target.is_dir():
        raise TrainprintError(f"to_html {target}: is a folder; expected the HTML file to write")
    if html is None:
        assert out is not None  # a result keeps its page unless its run folder is the user's
        if page == "audit":
            from trainprint.report.audit_page import build_audit_page

            return build_audit_page(out, target)
        from trainprint.report.build import build_report

        return build_report(out, target)
    from trainprint.core.files import write_text
    from trainprint.core.runs import check_out_dir

    check_out_dir(target.parent, "to_html")
    write_text(target, html)
    return target


def _array_set(value: np.ndarray | Sequence[np.ndarray], split: str, what: str, prefix: str,
               size: int | None) -> ImageSet:
    """(N, H, W) uint8 pixels (or a sequence of (H, W)) as an ``ImageSet``; square, at least
    ``MIN_SIDE`` px, resized to ``size`` x ``size`` when given, as the folder readers require."""
    import numpy as np

    from trainprint.data.decode import MIN_SIDE, resize_square
    from trainprint.data.imageset import ImageSet

    try:
        pixels = np.asarray(value)
    except ValueError as e:  # a ragged sequence of images of different sizes
        raise TrainprintError(f"{what}: the images differ in size ({e}); pass arrays of one size") from None
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or len(pixels) == 0:
        raise TrainprintError(f"{what}: expected a folder, or uint8 images as an (N, H, W) array with N >= 1; got "
                              f"{pixels.dtype} of shape {pixels.shape}")
    n, h, w = pixels.shape
    if size is not None:
        if size < MIN_SIDE:
            raise TrainprintError(f"--size {size}: expected a whole number of pixels >= {MIN_SIDE}")
        pixels = np.stack([resize_square(p, size) for p in pixels]).astype(np.uint8)
    elif h != w:
        raise TrainprintError(f"{what}: images are {w}x{h} px, not square; pass size=N to resize them to N x N")
    if min(pixels.shape[1:]) < MIN_SIDE:
        raise TrainprintError(f"{what}: images are {pixels.shape[2]}x{pixels.shape[1]} px; expected at least "
                              f"{MIN_SIDE} px on each side")
    ids = np.array([f"{prefix}-{i}" for i in range(n)])
    return ImageSet(ids, np.full(n, split), np.ascontiguousarray(pixels), "")


def _dev_arrays(dev: Mapping[str, Images], size: int | None) -> ImageSet:
    """A dev set handed over as arrays: ``{"generated": ..., "real_used": ..., "real_not_used": ...}``."""
    from trainprint.data.imageset import ImageSet

    if not isinstance(dev, Mapping) or sorted(dev) != sorted(DEV_SPLITS):
        keys = sorted(dev) if isinstance(dev, Mapping) else type(dev).__name__
        raise TrainprintError(f"dev: expected a folder or a mapping of {', '.join(DEV_SPLITS)} to uint8 arrays; "
                              f"got {keys}")
    sets = [_array_set(dev[s], s, f"dev[{s!r}]", s, size) for s in DEV_SPLITS]
    if len({s.pixels.shape[1:] for s in sets}) > 1:
        raise TrainprintError(f"dev: the splits' images differ in size ({', '.join(str(s.pixels.shape[1:]) for s in sets)}); "
                              "pass size=N")
    return ImageSet.concat(*sets)


#: columns of text in the tables (ids, verdicts, groups, method names); the others are numbers
AUDIT_TEXT = frozenset({"id", "verdict", "group", "patient_verdict", "slice_ids"} |
                       {f"neighbour_{i}" for i in range(1, 21)})
RESULT_TEXT = frozenset({"method", "extractor", "strategy", "classifier", "protocol", "notes"})
#: number columns read back as whole numbers; the other number columns are floats
_INT_COLUMNS = frozenset({"rank", "method_pred", "slices", "slices_called", "groups"})


def _table(rows: list[dict[str, Any]], columns: Sequence[str], text: frozenset[str] | set[str]) -> Table:
    """CSV rows with their values typed (the ``text`` columns as they are; whole numbers as int,
    other numbers as float, an empty number cell as None), as a pandas DataFrame when pandas is
    installed, else as the list of dicts."""
    typed = [{c: r.get(c, "") if c in text else _number(c, r.get(c, "")) for c in columns} for r in rows]
    try:
        import pandas as pd
    except ImportError:
        return typed
    return pd.DataFrame.from_records(typed, columns=list(columns))


def _number(column: str, cell: Any) -> int | float | None:
    if not isinstance(cell, str):
        return cell
    if cell == "":
        return None
    try:
        return int(cell) if column in _INT_COLUMNS else float(cell)
    except ValueError:
        raise TrainprintError(f"{column}: {cell!r} is not a number; expected the column the run folder's CSV "
                              "files hold") from None
