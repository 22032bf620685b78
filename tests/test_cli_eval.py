"""The evaluate / submit / validate / score commands, end to end on tiny task folders."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers_eval import make_images, write_task
from helpers_data import run_cli as run
from trainprint.core import files as io
from trainprint.methods import GRID_METHODS


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """A dev folder, a test folder (real images unlabelled) and the test key file."""
    root = tmp_path_factory.mktemp("task")
    dev, _ = make_images(n_used=6, n_not=6, n_gen=12, seed=1, source="dev")
    test, key = make_images(n_used=5, n_not=5, n_gen=12, seed=2, source="test", unknown=True)
    write_task(root / "dev", dev)
    write_task(root / "test", test)
    real = test.ids[test.split == "real_unknown"]
    (root / "key.csv").write_text("".join(f"{i},{k}\n" for i, k in zip(real, key)))
    return root


def test_evaluate_subset_prints_summary_and_resumes(task, tmp_path, capsys):
    args = ["evaluate", task / "dev", "--out", tmp_path / "run", "--methods", "raw/real/svm-linear,sim-pixel/realmax",
            "--folds", "2", "--device", "cpu", "--no-progress"]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    assert "baseline/all-used" in out and "sim-pixel/realmax" in out
    rows = io.read_csv(tmp_path / "run" / "results.csv")
    assert [r["method"] for r in rows] == ["raw/real/svm-linear", "sim-pixel/realmax", "baseline/all-used",
                                           "baseline/chance"]
    before = (tmp_path / "run" / "folds.csv").read_text()
    assert run(capsys, *args)[0] == 0
    assert (tmp_path / "run" / "folds.csv").read_text() == before
    assert io.read_json(tmp_path / "run" / "run.json")["resumed"] is True


def test_grid_smoke_through_the_cli(task, tmp_path, capsys):
    """The 36-row grid with every real extractor, one epoch of the smoke preset, 2 folds."""
    code, out, err = run(capsys, "evaluate", task / "dev", "--out", tmp_path / "grid", "--preset", "smoke",
                         "--epochs", "1", "--folds", "2", "--protocol", "paper", "--device", "cpu", "--no-progress",
                         "--methods", "paper")
    assert code == 0, err
    rows = io.read_csv(tmp_path / "grid" / "results.csv")
    assert [r["method"] for r in rows][:36] == list(GRID_METHODS) and len(rows) == 38
    assert all(r["protocol"] == "paper" and np.isfinite(float(r["accuracy_mean"])) for r in rows)
    table = (tmp_path / "grid" / "table1.md").read_text()
    assert "OPTIMISTIC" in table and "| - |" not in table
    for name in ("vectornet-12", "dae-gunu"):
        assert (tmp_path / "grid" / "fingerprints" / "all" / f"{name}.npz").exists()
        assert (tmp_path / "grid" / "extractors" / "all" / name / "train_log.csv").exists()
        assert not (tmp_path / "grid" / "extractors" / "all" / name / "checkpoint.pt").exists()  # dropped by default


def test_submit_validate_and_score(task, tmp_path, capsys):
    out = tmp_path / "sub"
    code, stdout, err = run(capsys, "submit", task / "dev", task / "test", "--out", out, "--methods",
                            "raw/real/knn-5,sim-pixel/realmax,sim-ncc/nn,baseline/all-used", "--folds", "2",
                            "--device", "cpu", "--no-progress")
    assert code == 0, err
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == ["baseline__all-used.csv", "raw__real__knn-5.csv", "sim-ncc__nn.csv", "sim-pixel__realmax.csv"]
    record = io.read_json(out / "run.json")
    assert record["recommended"]["method"] != "baseline/all-used"
    assert record["votes"]["vote_all.csv"]["methods"] == ["raw/real/knn-5", "sim-pixel/realmax", "sim-ncc/nn"]
    assert not (out / "vote.csv").exists()  # the paper's vote needs its nine Table 2 runs
    assert (out / "evaluate" / "results.csv").exists()  # the strict CV made to recommend
    for f in [*(out / "runs").iterdir(), out / "vote_all.csv", out / "recommended.csv"]:
        assert run(capsys, "validate", f, task / "test") == (0, "valid\n", "")
    scores = io.read_csv(out / "scores_test.csv")
    assert len(scores) == 4 * 10 and {"method", "id", "score", "pred", "slice_pred"} == set(scores[0])
    code, stdout, _ = run(capsys, "score", out / "runs" / "baseline__all-used.csv", task / "key.csv", "--json")
    assert code == 0 and round(json.loads(stdout)["f1"], 4) == 0.6667
    code, stdout, _ = run(capsys, "score", out / "recommended.csv", task / "key.csv")
    assert code == 0 and stdout.startswith("accuracy") and "kappa" in stdout
    # --from an evaluate run: no new CV
    code, _, err = run(capsys, "submit", task / "dev", task / "test", "--out", tmp_path / "sub2", "--methods",
                       "sim-pixel/realmax,baseline/all-used", "--from", out / "evaluate", "--no-progress",
                       "--device", "cpu")
    assert code == 0, err
    assert not (tmp_path / "sub2" / "evaluate").exists()
    assert io.read_json(tmp_path / "sub2" / "run.json")["recommended"]["method"] == "sim-pixel/realmax"


def test_validate_lists_every_problem_and_exits_2(task, tmp_path, capsys):
    ids = sorted(p.stem for p in (task / "test" / "real_unknown").iterdir())
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{ids[0]},1\n\n{ids[0]},0\nnope,1\n{ids[1]},2\n")
    code, out, _ = run(capsys, "validate", bad, task / "test")
    lines = out.strip().splitlines()
    assert code == 2
    assert any("empty line" in ln for ln in lines) and any("repeated" in ln for ln in lines)
    assert any("unknown id 'nope'" in ln for ln in lines) and any("not 0 or 1" in ln for ln in lines)
    assert sum("missing id" in ln for ln in lines) == len(ids) - 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["evaluate", "{tmp}/nowhere", "--out", "{tmp}/r"], "error:"),
        (["evaluate", "{dev}", "--out", "{tmp}/r", "--protocol", "loose"], "--protocol 'loose'"),
        (["evaluate", "{dev}", "--out", "{tmp}/r", "--methods", "vectornet-7/real/svm-2"], "unknown extractor"),
        (["evaluate", "{dev}", "--out", "{tmp}/r", "--folds", "9", "--methods", "baseline/chance"], "9-fold CV needs"),
        (["score", "{tmp}/none.csv", "{tmp}/key.csv"], "run file not found"),
        (["submit", "{dev}", "{test}", "--out", "{tmp}/r", "--from", "{tmp}/nowhere"], "no results.csv"),
        (["validate", "{tmp}/none.csv", "{dev}"], "real_unknown"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(task, tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path, dev=task / "dev", test=task / "test") for a in args]
    code, _, err = run(capsys, *args)
    lines = [ln for ln in err.splitlines() if ln.strip()]  # (a loading bar may leave a blank line)
    assert code == 2 and message in err and len(lines) == 1 and lines[0].startswith("error: ")
    assert not (tmp_path / "r").exists()  # nothing half-written
