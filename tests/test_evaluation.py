"""Evaluation: folds, no label leak into extractors or resamplers, resume, results files."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_eval import LabelFreeSpy, SpyExtractor, make_images, register_spies
from trainprint.membership import classifiers
from trainprint.core import files as io
from trainprint.core.errors import TrainprintError
from trainprint.evaluation.evaluate import EvalConfig, evaluate_images
from trainprint.evaluation.folds import make_folds
from trainprint.evaluation.results import FOLD_FIELDS, RESULT_FIELDS, SCORE_FIELDS
from trainprint.data.imageset import REAL_NOT_USED, REAL_UNKNOWN, REAL_USED

K = 3


def _cfg(methods, protocol="strict", **kw):
    return EvalConfig(dev_dir="/nonexistent/dev", protocol=protocol, methods=tuple(methods), folds=K,
                      device="cpu", preset="smoke", **kw)


def _held_out(out, method):
    """fold -> set of held-out ids, read back from scores.csv."""
    folds: dict[int, set[str]] = {}
    for r in io.read_csv(out / "scores.csv"):
        if r["method"] == method:
            folds.setdefault(int(r["fold"]), set()).add(r["id"])
    return folds


def test_make_folds_stratified_and_disjoint():
    y = np.array([1] * 20 + [0] * 20)
    folds = make_folds(y, 10, seed=3)
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(40))  # every image held out exactly once
    for tr, te in folds:
        assert not set(tr) & set(te)
        assert y[te].sum() == 2 and len(te) == 4  # stratified
    assert [te.tolist() for _, te in make_folds(y, 10, 3)] == [te.tolist() for _, te in folds]


def test_make_folds_too_few_images_is_a_clear_error():
    with pytest.raises(TrainprintError, match="at least 10 images of each class"):
        make_folds(np.array([1] * 5 + [0] * 20), 10, 0)


def test_strict_no_held_out_image_reaches_a_label_reading_extractor(tmp_path, monkeypatch):
    images, _ = make_images()
    register_spies(monkeypatch, images)
    out = tmp_path / "run"
    evaluate_images(images, _cfg(["spy/real/svm-linear", "spy/full/knn-5", "spy-free/real/svm-2"]), out)
    held = _held_out(out, "spy/real/svm-linear")
    assert len(SpyExtractor.calls) == K  # one fit per fold, shared by both spy methods
    real_ids = set(images.ids[images.mask(REAL_USED, REAL_NOT_USED)])
    for k, (ids, splits) in enumerate(SpyExtractor.calls):
        assert not set(ids) & held[k], "a held-out image reached a label-reading extractor"
        assert set(ids) | held[k] >= real_ids  # it saw every other real image
        assert REAL_UNKNOWN not in splits
    # the label-free extractor sees every image but no label (every real one as real_unknown), so
    # its fit is the same in every fold: fitted once, its fingerprints serve (and are filed in) each fold
    assert len(LabelFreeSpy.calls) == 1
    ids, splits = LabelFreeSpy.calls[0]
    assert set(ids) == set(images.ids)
    assert all(s == REAL_UNKNOWN for i, s in zip(ids, splits) if i in real_ids)
    assert all((out / "fingerprints" / f"fold-{k}" / "spy-free.npz").exists() for k in range(K))


def test_paper_protocol_fits_once_on_everything_and_says_optimistic(tmp_path, monkeypatch):
    images, _ = make_images()
    register_spies(monkeypatch, images)
    rows = evaluate_images(images, _cfg(["spy/real/svm-linear", "baseline/all-used"], protocol="paper"),
                           tmp_path / "run")
    assert len(SpyExtractor.calls) == 1
    assert set(SpyExtractor.calls[0][0]) == set(images.ids)
    assert (tmp_path / "run" / "fingerprints" / "all" / "spy.npz").exists()
    by = {r["method"]: r for r in rows}
    assert "OPTIMISTIC" in by["spy/real/svm-linear"]["notes"] and by["spy/real/svm-linear"]["protocol"] == "paper"
    assert "OPTIMISTIC" in (tmp_path / "run" / "table1.md").read_text()


def test_adasyn_sees_training_folds_only(tmp_path, monkeypatch):
    images, _ = make_images(n_used=12, n_not=12, n_gen=30)
    register_spies(monkeypatch, images)
    seen: list[np.ndarray] = []

    class RecordingADASYN(classifiers.ADASYN):
        def fit_resample(self, X, y):
            seen.append(np.asarray(X).copy())
            return super().fit_resample(X, y)

    monkeypatch.setattr(classifiers, "ADASYN", RecordingADASYN)
    out = tmp_path / "run"
    evaluate_images(images, _cfg(["spy/full/svm-linear"]), out)
    assert len(seen) == K
    held = _held_out(out, "spy/full/svm-linear")
    for k, X in enumerate(seen):
        fp = io.load_npz(out / "fingerprints" / f"fold-{k}" / "spy.npz")
        rows = {x.tobytes() for x in X.astype(np.float32)}
        real = np.isin(fp["split"], (REAL_USED, REAL_NOT_USED))
        for i, x in zip(fp["ids"][real], fp["X"][real]):
            assert (x.tobytes() in rows) == (i not in held[k])  # training reals in, held-out out


def test_results_files_follow_the_layout(tmp_path):
    images, _ = make_images()
    methods = ["raw/real/svm-linear", "sim-pixel/realmax", "baseline/all-used", "baseline/chance"]
    rows = evaluate_images(images, _cfg(methods), tmp_path / "run")
    out = tmp_path / "run"
    assert [r["method"] for r in rows] == methods
    assert list(io.read_csv(out / "results.csv")[0]) == list(RESULT_FIELDS)
    folds = io.read_csv(out / "folds.csv")
    assert list(folds[0]) == FOLD_FIELDS and len(folds) == K * len(methods)
    scores = io.read_csv(out / "scores.csv")
    assert list(scores[0]) == SCORE_FIELDS and len(scores) == 20 * len(methods)
    z = io.load_npz(out / "images.npz")
    assert z["pixels"].shape == (40, 64, 64) and z["pixels"].dtype == np.uint8
    assert io.read_json(out / "config.json")["protocol"] == "strict"
    assert io.read_json(out / "run.json")["status"] == "finished"
    assert "Vector-Net (1,2)" in (out / "table1.md").read_text()
    by = {r["method"]: r for r in rows}
    # answering "used" for all: recall 1, specificity 0, MCC 0, F1 = 2p / (1 + p) per fold
    base = by["baseline/all-used"]
    assert (base["recall_mean"], base["specificity_mean"], base["mcc_mean"]) == (1.0, 0.0, 0.0)
    p = [float(r["precision"]) for r in folds if r["method"] == "baseline/all-used"]
    assert base["f1_mean"] == pytest.approx(np.mean([2 * q / (1 + q) for q in p]))
    # noisy copies of used images are among the generated: pixel similarity finds them
    assert by["sim-pixel/realmax"]["auc_mean"] > 0.8


def test_resume_skips_finished_folds(tmp_path, monkeypatch):
    images, _ = make_images()
    register_spies(monkeypatch, images)
    out = tmp_path / "run"
    cfg = _cfg(["spy/real/svm-linear"])
    first = evaluate_images(images, cfg, out)
    assert len(SpyExtractor.calls) == K
    # a finished run: nothing is refitted
    again = evaluate_images(images, cfg, out)
    assert len(SpyExtractor.calls) == K and again[0]["accuracy_mean"] == first[0]["accuracy_mean"]
    # an interrupted run: fold 1 lost its rows and its cached fingerprints -> only fold 1 is refitted
    rows = [r for r in io.read_csv(out / "folds.csv") if r["fold"] != "1"]
    io.write_csv(out / "folds.csv", rows, FOLD_FIELDS)
    (out / "fingerprints" / "fold-1" / "spy.npz").unlink()
    SpyExtractor.calls.clear()
    resumed = evaluate_images(images, cfg, out)
    assert len(SpyExtractor.calls) == 1
    assert resumed[0]["accuracy_mean"] == pytest.approx(first[0]["accuracy_mean"])
    assert len(io.read_csv(out / "folds.csv")) == K


def test_resume_with_other_settings_is_refused(tmp_path):
    images, _ = make_images()
    evaluate_images(images, _cfg(["baseline/all-used"]), tmp_path / "run")
    with pytest.raises(TrainprintError, match="seed"):
        evaluate_images(images, _cfg(["baseline/all-used"], seed=5), tmp_path / "run")


def test_checkpoints_dropped_by_default_or_kept_on_request(tmp_path, monkeypatch):
    images, _ = make_images()
    register_spies(monkeypatch, images)
    evaluate_images(images, _cfg(["spy/real/knn-5"], keep_checkpoints=True), tmp_path / "a")
    assert (tmp_path / "a" / "extractors" / "fold-0" / "spy" / "checkpoint.pt").exists()
    evaluate_images(images, _cfg(["spy/real/knn-5"]), tmp_path / "b")
    run_dir = tmp_path / "b" / "extractors" / "fold-0" / "spy"
    assert not (run_dir / "checkpoint.pt").exists() and (run_dir / "train_log.csv").exists()


def test_paper_table1_is_complete_and_laid_out_in_its_order():
    from trainprint.methods import GRID_METHODS
    from trainprint.evaluation.table1 import PAPER_TABLE1, table1_markdown

    assert set(PAPER_TABLE1) == set(GRID_METHODS)
    assert all(0 <= v <= 1 for row in PAPER_TABLE1.values() for v in row.values())
    md = table1_markdown([], "strict", 10)
    grid_lines = [ln for ln in md.splitlines() if ln.startswith("| Vector-Net") or ln.startswith("| DAE")]
    assert len(grid_lines) == 36 and grid_lines[0].startswith("| Vector-Net (1) | FULL | SVM-Linear")
    assert "no held-out label" in md


def test_group_folds_keep_each_group_in_one_fold():
    y = np.array([1] * 30 + [0] * 30)
    groups = np.array([f"p{i // 3}" for i in range(60)])  # 20 patients of 3 slices, 10 per class
    folds = make_folds(y, 5, seed=1, groups=groups)
    seen = np.concatenate([te for _, te in folds])
    assert sorted(seen.tolist()) == list(range(60))
    for tr, te in folds:
        assert not set(groups[tr]) & set(groups[te])  # no patient on both sides
        assert set(y[te]) == {0, 1}
    with pytest.raises(TrainprintError, match="needs at least 11 groups of each class"):
        make_folds(y, 11, 0, groups)


def test_read_groups_errors_name_the_file(tmp_path):
    from trainprint.evaluation.folds import read_groups

    path = tmp_path / "g.csv"
    with pytest.raises(TrainprintError, match="file not found"):
        read_groups(path, np.array(["a"]))
    path.write_text("id,site\na,x\n")
    with pytest.raises(TrainprintError, match="columns id and group"):
        read_groups(path, np.array(["a"]))
    path.write_text("id,patient\na,p1\n")
    assert read_groups(path, np.array(["a"])).tolist() == ["p1"]
    with pytest.raises(TrainprintError, match="no group for 1 image.*'b'"):
        read_groups(path, np.array(["a", "b"]))
