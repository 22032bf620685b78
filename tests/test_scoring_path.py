"""One scoring path: ``evaluate``, ``submit`` and ``audit`` fit and read every membership method
through ``trainprint.scoring`` and nowhere else (a spy on the one fit, and the source itself)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import trainprint.scoring.fit as scoring_fit
from helpers_eval import make_images, write_task
from trainprint.audit.config import AuditConfig
from trainprint.audit.pipeline import audit
from trainprint.evaluation.config import EvalConfig
from trainprint.evaluation.evaluate import evaluate
from trainprint.methods import BASELINES
from trainprint.submit.pipeline import SubmitConfig, submit

SRC = Path(__file__).resolve().parents[1] / "src" / "trainprint"
METHODS = ("sim-pixel/calibrated", "sim-ncc/threshold", "mia-pixel/gan-leaks-cal")


@pytest.fixture()
def spy(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Every ``fit_method`` call, as (method id, the FitView it was given)."""
    calls: list[tuple[str, Any]] = []
    real = scoring_fit.fit_method

    def recording(spec: Any, X: np.ndarray, view: Any, **kw: Any) -> Any:
        calls.append((spec.id, view))
        return real(spec, X, view, **kw)

    monkeypatch.setattr(scoring_fit, "fit_method", recording)
    return calls


def _task(tmp_path: Path) -> tuple[Path, Path]:
    dev, _ = make_images(8, 8, 24, seed=1, source="d")
    test, _ = make_images(6, 6, 24, seed=2, source="t", unknown=True)
    return write_task(tmp_path / "dev", dev), write_task(tmp_path / "test", test)


def test_evaluate_submit_and_audit_all_score_through_the_one_path(tmp_path: Path, spy: list) -> None:
    dev, test = _task(tmp_path)
    shared = EvalConfig(dev_dir=str(dev), methods=METHODS + BASELINES, folds=2, permutations=0, groups="none")

    evaluate(shared, tmp_path / "ev", cache_dir=False)
    assert sorted({m for m, _ in spy}) == sorted(METHODS + BASELINES)
    assert len(spy) == 2 * len(METHODS + BASELINES)  # every method on each of the 2 folds
    assert all(v.y is not None for _, v in spy)  # CV fits read only training-fold labels
    spy.clear()

    submit(SubmitConfig(test_dir=str(test), evaluation=shared, from_run=str(tmp_path / "ev")), tmp_path / "sub",
           cache_dir=False)
    assert sorted(m for m, _ in spy) == sorted(METHODS + BASELINES)  # one fit per submitted method
    label_free = {m: v for m, v in spy if m == "sim-pixel/calibrated"}
    assert label_free["sim-pixel/calibrated"].y is None  # label-free: fitted on the test folder, no labels
    spy.clear()

    audit(AuditConfig(generated_dir=str(test / "generated"), real_dir=str(test / "real_unknown"),
                      reference_dir=str(dev / "real_not_used")), tmp_path / "aud", cache_dir=False)
    assert [m for m, _ in spy] == ["sim-ssim/calibrated"]
    assert spy[0][1].y is None


def _calls(path: Path) -> set[str]:
    """Names of the attributes called in a module (``x.fit(...)`` -> ``fit``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}


def test_no_command_fits_or_reads_a_method_outside_the_scoring_path() -> None:
    """Only scoring/ builds a method (``spec.factory``) and reads its answers (``decision_function``,
    ``predict``, ``label_refitter``); the commands' stages only build the view."""
    offenders = []
    for folder in ("evaluation", "submit", "audit", "report", "demo", "cli"):
        for path in sorted((SRC / folder).rglob("*.py")):
            used = _calls(path) & {"factory", "decision_function", "predict", "label_refitter"}
            if used:
                offenders.append(f"{path.relative_to(SRC)}: {sorted(used)}")
    assert not offenders, "methods fitted or read outside trainprint.scoring:\n" + "\n".join(offenders)
