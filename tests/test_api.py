"""The Python API: ``trainprint.audit / evaluate / submit`` on folders and arrays, typed results,
``out=None`` leaving nothing on disk, errors as ``TrainprintError``, ``trainprint.audit`` callable
whatever was imported first, a light ``import trainprint``, and the README's and docs/api.md's
example run as written."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers_eval import make_images, write_task
from trainprint.core.errors import TrainprintError
from trainprint.core.files import read_json
from trainprint.data.imageset import ImageSet

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}


def _split(images: ImageSet, split: str) -> np.ndarray:
    return images.pixels[images.split == split]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Arrays and folders: a generator that copied 9 of its 12 used images (test set t: 40 generated,
    24 audited, ids t040-t051 the members), 80 known non-members, a small dev and test task."""
    root = tmp_path_factory.mktemp("api")
    copied, _ = make_images(12, 12, 40, seed=11, source="t", unknown=True)
    write_task(root / "copied", copied)
    ref, _ = make_images(2, 80, 2, seed=12, source="ref")
    write_task(root / "ref", ref.take(np.flatnonzero(ref.split == "real_not_used")))
    dev, _ = make_images(8, 8, 16, seed=1, source="dev")
    write_task(root / "dev", dev)
    test, _ = make_images(6, 6, 16, seed=2, source="test", unknown=True)
    write_task(root / "test", test)
    return {"root": root, "gen": _split(copied, "generated"), "real": _split(copied, "real_unknown"),
            "ref": _split(ref, "real_not_used"), "dev_images": dev, "copied": root / "copied",
            "ref_dir": root / "ref" / "real_not_used", "dev": root / "dev", "test": root / "test"}


def everything(root: Path) -> list[str]:
    """Every file and folder under ``root`` (relative, sorted)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def clean_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary folders and the decode cache pointed into ``tmp_path``, to see what a call leaves."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    monkeypatch.setenv("TRAINPRINT_CACHE", str(tmp_path / "cache"))
    return tmp_path


# ------------------------------------------------------------------------------------------ audit
def test_audit_of_arrays_is_typed_and_leaves_nothing_on_disk(data: dict, clean_disk: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import trainprint
    from trainprint.audit.pipeline import CSV_FIELDS, PATIENT_FIELDS
    from trainprint.audit.result import AuditSummary, MemberEstimate
    from trainprint.evaluation.summary import Verdict

    monkeypatch.setitem(sys.modules, "pandas", None)  # without pandas: lists of records
    result = trainprint.audit(data["gen"], data["real"], reference=data["ref"], method="sim-pixel/realmax",
                              device="cpu")
    assert isinstance(result, trainprint.AuditResult) and result.out is None
    assert isinstance(result.summary, AuditSummary) and isinstance(result.verdict, Verdict)
    assert isinstance(result.estimate, MemberEstimate)
    assert result.verdict.label == "evidence of membership" and result.verdict.evidence
    assert result.verdict.kind == "reference" and result.verdict.p_value < 0.01
    assert result.estimate.n == 24 and result.estimate.low <= result.estimate.members <= result.estimate.high
    assert result.summary.folders.generated == "(array)" and result.summary.counts.reference == 80
    assert isinstance(result.images, list) and list(result.images[0]) == CSV_FIELDS
    assert [r["rank"] for r in result.images] == list(range(1, 25))
    assert all(isinstance(r["score"], float) and isinstance(r["id"], str) for r in result.images)
    members = {f"real-{i}" for i in range(12)}  # the array's first 12 images are the used ones
    used = {r["id"] for r in result.images if r["verdict"] == "used"}
    assert len(used & members) >= 8 and len(used - members) <= 1
    assert isinstance(result.patients, list) and list(result.patients[0]) == PATIENT_FIELDS
    assert everything(clean_disk) == ["tmp"]  # no run folder left, no decode cache written
    page = result.to_html(clean_disk / "pages" / "audit.html")
    assert "evidence of membership" in page.read_text() and everything(clean_disk / "pages") == ["audit.html"]


def test_audit_of_folders_with_out_is_the_commands_run_folder(data: dict, tmp_path: Path) -> None:
    import trainprint

    out = tmp_path / "run"
    t = data["copied"]
    result = trainprint.audit(t / "generated", t / "real_unknown", reference=data["ref_dir"], out=out,
                              method="sim-pixel/realmax", device="cpu", cache_dir=False)
    assert result.out == out and dataclasses.asdict(result.summary) == read_json(out / "audit.json")
    assert result.summary.run_file == "run.csv" and (out / "audit.html").is_file()
    assert isinstance(result.images, pd.DataFrame) and len(result.images) == 24
    assert result.images["score"].dtype == np.float64 and result.images["rank"].tolist() == list(range(1, 25))
    assert isinstance(result.patients, pd.DataFrame) and result.patients["slices"].sum() == 24
    page = result.to_html(tmp_path / "copy.html")  # built from the run folder
    assert "trainprint audit: run" in page.read_text()


def test_audit_errors_are_trainprint_errors_with_the_commands_message(data: dict, clean_disk: Path) -> None:
    import trainprint

    cases = [
        (dict(methods="sim-pixel/nn"), "--methods sim-pixel/nn: the candidates of a dev set's CV"),
        (dict(method="sim-pixel/threshold"), "without --dev"),
        (dict(fdr=0.0), "--fdr"),
    ]
    for options, message in cases:
        with pytest.raises(TrainprintError, match=re.escape(message)):
            trainprint.audit(data["gen"], data["real"], **options)
    with pytest.raises(TrainprintError, match="uint8"):
        trainprint.audit(data["gen"].astype(np.float32), data["real"])
    with pytest.raises(TrainprintError, match="at least 64 px"):
        trainprint.audit(data["gen"][:, :32, :32], data["real"][:, :32, :32])
    with pytest.raises(TrainprintError, match="REAL_DIR"):
        trainprint.audit(data["gen"], data["root"] / "nowhere")
    assert issubclass(TrainprintError, ValueError)
    assert everything(clean_disk) == ["tmp"]


# ----------------------------------------------------------------------------- evaluate, submit
def test_evaluate_of_arrays_and_submit_of_folders(data: dict, clean_disk: Path) -> None:
    import trainprint
    from trainprint.evaluation.summary import EvaluationSummary, SelectionEstimate

    dev: ImageSet = data["dev_images"]
    arrays = {s: _split(dev, s) for s in ("generated", "real_used", "real_not_used")}
    methods = ["sim-pixel/realmax", "sim-pixel/calibrated"]
    ev = trainprint.evaluate(arrays, methods=methods, folds=2, permutations=20, device="cpu")
    assert isinstance(ev.summary, EvaluationSummary) and isinstance(ev.estimate, SelectionEstimate)
    assert ev.summary.recommended is not None and ev.summary.recommended.method in methods
    assert ev.verdict.kind == "dev" and ev.verdict.label == ev.summary.verdict
    assert 0.0 <= ev.estimate.accuracy <= 1.0 and ev.estimate.n_images == 16
    assert set(ev.results["method"]) == {*methods, "baseline/all-used", "baseline/chance"}
    assert ev.results["accuracy_mean"].dtype == np.float64

    sub = trainprint.submit(data["dev"], data["test"], methods=methods, folds=2, permutations=20, device="cpu")
    assert sub.summary.n_test == 12 and set(sub.summary.runs) == set(methods)
    assert list(sub.answers.columns) == ["id", *methods, "recommended"]
    assert sorted(sub.answers["id"]) == [f"test{i:03d}" for i in range(16, 28)]
    assert set(sub.answers["recommended"]) <= {0, 1}
    assert sub.verdict.label == sub.summary.verdict
    assert everything(clean_disk) == ["tmp"]
    page = sub.to_html(clean_disk / "report.html")
    assert "Test set" in page.read_text()
    with pytest.raises(TrainprintError, match="must be folders"):
        trainprint.submit(arrays, data["test"])  # type: ignore[arg-type]
    with pytest.raises(TrainprintError, match="real_used"):
        trainprint.evaluate({"generated": arrays["generated"]})


# ---------------------------------------------------------------------------- the package root
def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=ENV,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_trainprint_is_light() -> None:
    heavy = _python("""
        import sys, trainprint
        print(sorted(m for m in ("numpy", "torch", "pandas", "sklearn", "typer", "PIL") if m in sys.modules))
    """)
    assert heavy.strip() == "[]"


def test_trainprint_audit_is_one_callable_object_whatever_is_imported_first() -> None:
    """``trainprint.audit`` is the subpackage made callable: importing a submodule after (or before)
    the root does not swap it for another object, and it stays the package for its submodules."""
    out = _python("""
        import types, trainprint
        first, sub = trainprint.audit, trainprint.submit
        import trainprint.audit.pipeline, trainprint.submit.runfiles
        from trainprint.audit.config import AuditConfig
        from trainprint import audit, submit
        from trainprint.api import audit as api_audit
        assert trainprint.audit is first is audit and trainprint.submit is sub is submit
        assert isinstance(audit, types.ModuleType) and callable(audit) and callable(submit)
        assert type(audit).__call__ is api_audit and audit.pipeline.audit is not None
        import inspect
        assert list(inspect.signature(audit).parameters)[:3] == ["generated", "real", "reference"]
        print("ok")
    """)
    assert out.strip() == "ok"
    out = _python("""
        import trainprint.audit.pipeline  # a submodule first: the root runs first all the same
        import trainprint
        assert callable(trainprint.audit) and trainprint.audit.pipeline is trainprint.audit.pipeline
        try:
            trainprint.audit([[0]], [[0]])
        except trainprint.TrainprintError as e:
            print(e)
    """)
    assert out.startswith("GENERATED_DIR: expected a folder, or uint8 images")


# --------------------------------------------------------------------------------- the examples
def _example(path: Path) -> str:
    """The first ```python block of ``path``."""
    found = re.search(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    assert found, f"{path.name} has no ```python block"
    return found.group(1)


def test_the_readme_and_api_doc_example_runs_as_written(data: dict, tmp_path: Path) -> None:
    readme, doc = _example(ROOT / "README.md"), _example(ROOT / "docs" / "api.md")
    assert readme == doc and len(readme.strip().splitlines()) == 3
    work = tmp_path / "work"
    (work / "generated").mkdir(parents=True)
    for name, folder in (("generated", data["copied"] / "generated"), ("real", data["copied"] / "real_unknown"),
                         ("non_members", data["ref_dir"])):
        (work / name).mkdir(exist_ok=True)
        for f in folder.iterdir():
            (work / name / f.name).write_bytes(f.read_bytes())
    env = {**ENV, "TRAINPRINT_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", readme], cwd=work, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert re.match(r"(evidence of membership|no evidence of membership) ", done.stdout), done.stdout
    assert sorted(p.name for p in work.iterdir()) == ["generated", "non_members", "real"]  # nothing else written
