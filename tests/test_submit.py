"""submit folds as evaluate does, refuses an --from run made otherwise, writes the paper's vote and
Table 2; the fingerprint cache never serves stale fingerprints."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_eval import SpyExtractor, make_images, register_spies, write_task
from helpers_data import run_cli as run
from trainprint.cli.main import main
from trainprint.core import files
from trainprint.evaluation.fingerprint_cache import fingerprints
from trainprint.methods import TABLE2_METHODS, expand_methods


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("subtask")
    dev, _ = make_images(n_used=8, n_not=8, n_gen=16, seed=1, source="dev")
    test, key = make_images(n_used=5, n_not=5, n_gen=12, seed=2, source="test", unknown=True)
    write_task(root / "dev", dev)
    write_task(root / "test", test)
    real = test.ids[test.split == "real_unknown"]
    (root / "key.csv").write_text("".join(f"{i},{k}\n" for i, k in zip(real, key)))
    return root


@pytest.fixture(scope="module")
def evaluated(task, tmp_path_factory):
    out = tmp_path_factory.mktemp("ev") / "run"
    try:
        main(["evaluate", str(task / "dev"), "--out", str(out), "--methods", "sim-pixel/realmax,sim-ncc/threshold",
              "--folds", "3", "--permutations", "30", "--device", "cpu", "--no-progress"])
    except SystemExit as e:
        assert e.code == 0
    return out


@pytest.mark.parametrize("option,value,setting", [("--seed", "1", "seed"), ("--preset", "smoke", "preset"),
                                                  ("--groups", "none", "groups"), ("--size", "128", "size"),
                                                  ("--epochs", "2", "epochs")])
def test_from_run_with_other_settings_is_refused(task, evaluated, tmp_path, capsys, option, value, setting) -> None:
    code, _, err = run(capsys, "submit", task / "dev", task / "test", "--out", tmp_path / "s", "--methods",
                       "sim-pixel/realmax", "--from", evaluated, option, value, "--device", "cpu")
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(f"error: --from {evaluated}: its {setting} is")
    assert not (tmp_path / "s").exists()


def test_from_run_recommends_among_the_submitted_with_its_estimate(task, evaluated, tmp_path, capsys) -> None:
    code, out, err = run(capsys, "submit", task / "dev", task / "test", "--out", tmp_path / "s", "--methods",
                         "sim-pixel/realmax,sim-ssim/nn", "--from", evaluated, "--permutations", "30",
                         "--device", "cpu", "--no-progress")
    assert code == 0, err
    rec = files.read_json(tmp_path / "s" / "recommended.json")
    assert rec["recommended"]["method"] == "sim-pixel/realmax"  # the only submitted method evaluated there
    assert rec["selection_aware"]["method_per_fold"] == ["sim-pixel/realmax"] * 3
    assert rec["verdict"] in ("evidence of membership", "no evidence of membership")
    assert files.read_json(tmp_path / "s" / "run.json")["not_evaluated"] == ["sim-ssim/nn"]
    assert "verdict: " in out and "selection-aware estimate" in out


def test_own_cv_folds_like_evaluate(task, evaluated, tmp_path, capsys) -> None:
    """Without --from, submit's strict CV is an evaluate run with the same folds and groups."""
    code, _, err = run(capsys, "submit", task / "dev", task / "test", "--out", tmp_path / "s", "--methods",
                       "sim-pixel/realmax,sim-ncc/threshold", "--folds", "3", "--permutations", "30",
                       "--device", "cpu", "--no-progress")
    assert code == 0, err
    own = tmp_path / "s" / "evaluate"
    for name in ("groups.csv", "folds.csv", "scores.csv"):
        assert (own / name).read_text() == (evaluated / name).read_text(), name
    assert files.read_json(own / "selection.json") == files.read_json(evaluated / "selection.json")


def test_table2_vote_and_table(task, tmp_path, capsys) -> None:
    out = tmp_path / "t2"
    code, _, err = run(capsys, "submit", task / "dev", task / "test", "--out", out, "--methods", "table2,sim-pixel/nn",
                       "--preset", "smoke", "--folds", "2", "--permutations", "10", "--device", "cpu", "--no-progress")
    assert code == 0, err
    answers = np.stack([np.array([int(line.split(",")[1]) for line in (out / "runs" / f"{m.replace('/', '__')}.csv")
                                  .read_text().splitlines()]) for m in TABLE2_METHODS])
    vote = np.array([int(line.split(",")[1]) for line in (out / "vote.csv").read_text().splitlines()])
    np.testing.assert_array_equal(vote, (answers.sum(0) >= 5).astype(int))  # the majority of exactly those nine
    assert files.read_json(out / "run.json")["votes"]["vote.csv"]["methods"] == list(TABLE2_METHODS)
    assert "sim-pixel/nn" in files.read_json(out / "run.json")["votes"]["vote_all.csv"]["methods"]
    code, stdout, err = run(capsys, "score", out, task / "key.csv", "--table2")
    assert code == 0, err
    table = (out / "table2.md").read_text()
    assert "| 10 | vote (submission 10) | 0.5050 |" in table and "| 4 | vectornet-12/full/svm-2 | 0.5150 |" in table
    assert table.count("| - |") == 0
    # a label-free method's run file gives each slice its patient's call; a label-reading one its own answer
    groups = {r["id"]: r["group"] for r in files.read_csv(out / "groups_test.csv")}
    scored = [r for r in files.read_csv(out / "scores_test.csv")]
    for method in ("sim-pixel/nn", TABLE2_METHODS[0]):
        rows = [r for r in scored if r["method"] == method]
        by_group: dict[str, list[int]] = {}
        for r in rows:
            by_group.setdefault(groups[r["id"]], []).append(int(r["slice_pred"]))
        run_file = dict(line.split(",") for line in (out / "runs" / f"{method.replace('/', '__')}.csv")
                        .read_text().splitlines())
        for r in rows:
            share = np.mean(by_group[groups[r["id"]]])
            want = int(share >= 0.5) if method == "sim-pixel/nn" else int(r["slice_pred"])
            assert int(run_file[r["id"]]) == int(r["pred"]) == want


def test_method_lists() -> None:
    assert expand_methods("table2") == list(TABLE2_METHODS) and len(TABLE2_METHODS) == 9
    # the grid, 30 sim-* (10 rules x 3 pixel spaces), 13 mia-* (issue 11: 10 scores, mia-disc, 2 fusions)
    assert len(expand_methods("paper")) == 36 and len(expand_methods(None)) == 36 + 30 + 13
    assert expand_methods("paper,table2")[:36] == expand_methods("paper")


def test_fingerprint_cache_is_keyed_on_settings_images_and_labels(tmp_path, monkeypatch) -> None:
    images, _ = make_images(n_used=4, n_not=4, n_gen=4)
    register_spies(monkeypatch, images)
    cache = tmp_path / "fp.npz"
    args = (images, images.pixels, images.split, cache)
    fingerprints("spy", *args, epochs=1)
    fingerprints("spy", *args, epochs=1, progress=True, run_dir=tmp_path)  # logs and bars: same fingerprints
    assert len(SpyExtractor.calls) == 1
    fingerprints("spy", *args, epochs=2)  # another setting
    assert len(SpyExtractor.calls) == 2
    relabelled = np.where(images.split == "real_used", "real_not_used",
                          np.where(images.split == "real_not_used", "real_used", images.split))
    fingerprints("spy", images, images.pixels, relabelled, cache, epochs=2)  # other labels seen in training
    assert len(SpyExtractor.calls) == 3
    fingerprints("spy", images, images.pixels[:-1], images.split[:-1], cache, epochs=2)  # other training images
    assert len(SpyExtractor.calls) == 4


def test_fraction_rule_says_what_it_assumes(task, tmp_path, capsys) -> None:
    code, _, err = run(capsys, "evaluate", task / "dev", "--out", tmp_path / "f", "--methods", "sim-pixel/fraction",
                       "--fraction-q", "0.25", "--folds", "2", "--permutations", "0", "--device", "cpu", "--no-progress",
                       "--recommend-fraction")
    assert code == 0, err
    row = next(r for r in files.read_csv(tmp_path / "f" / "results.csv") if r["method"] == "sim-pixel/fraction")
    assert "ASSUMES" in row["notes"] and "25%" in row["notes"]
    assert files.read_json(tmp_path / "f" / "selection.json")["recommended"]["method"] == "sim-pixel/fraction"
    code, _, err = run(capsys, "evaluate", task / "dev", "--out", tmp_path / "g", "--methods", "sim-pixel/fraction",
                       "--folds", "2", "--permutations", "0", "--device", "cpu", "--no-progress")
    assert code == 0, err
    assert files.read_json(tmp_path / "g" / "selection.json")["recommended"] is None  # not without asking


def test_label_using_similarity_methods_see_the_test_reals_in_their_pool() -> None:
    """In strict CV a held-out image and its siblings are in the pool (every real image, unlabelled);
    submit gives a label-using method the same: the dev reals and the test reals."""
    import dataclasses

    from trainprint.data.imageset import ImageSet
    from trainprint.methods import MethodOptions, parse_method
    from trainprint.submit.pipeline import _Rows

    rng = np.random.default_rng(0)
    dev = ImageSet(np.array([f"d{i}" for i in range(7)]),
                   np.array(["generated"] * 3 + ["real_used"] * 2 + ["real_not_used"] * 2),
                   rng.integers(0, 256, (7, 8, 8), dtype=np.uint8), "dev")
    test = ImageSet(np.array([f"t{i}" for i in range(5)]), np.array(["generated"] * 2 + ["real_unknown"] * 3),
                    rng.integers(0, 256, (5, 8, 8), dtype=np.uint8), "test")
    X = np.concatenate([dev.pixels, test.pixels]).astype(np.float32) / 255.0
    seen: dict[str, np.ndarray] = {}

    class Spy:
        notes_: list[str] = []

        def fit(self, R, y, G, R_pool=None, pool_groups=None):
            seen.update(R=R, G=G, pool=R_pool)
            return self

        def decision_function(self, R):
            return np.zeros(len(R))

        def predict(self, R):
            return np.zeros(len(R), dtype=np.int64)

    rows = _Rows(dev, test, (None, False))
    for method_id, labelled in (("sim-pixel/threshold", True), ("sim-pixel/nn", False)):
        spec = dataclasses.replace(parse_method(method_id), factory=lambda seed, device, options: Spy())
        assert spec.uses_labels is labelled
        rows.answer(spec, X, 0, "cpu", MethodOptions())
        if labelled:  # fitted on the dev labels against dev G; pool = dev reals + test reals
            np.testing.assert_array_equal(seen["G"], X[:3])
            np.testing.assert_array_equal(seen["pool"], np.concatenate([X[3:7], X[9:]]))
        else:  # label-free: the test generator's images and the test reals
            np.testing.assert_array_equal(seen["G"], X[7:9])
            np.testing.assert_array_equal(seen["pool"], X[9:])


def test_transfer_check_cautions_when_a_label_free_recommendation_meets_another_ratio() -> None:
    """ImageCLEF's proportions (dev 500 generated for 160 reals, test 10,000 for 200) make a label-free
    rule read the test set at 16x dev's generated-per-real ratio: cautioned; a label-using rule (fitted
    on dev's generated images) and matched proportions are not."""
    from trainprint.methods import parse_method
    from trainprint.submit.pipeline import transfer_check

    task = {"dev_generated": 500, "dev_real": 160, "test_generated": 10_000, "test_real": 200}
    t = transfer_check(parse_method("sim-pixel/nn"), task, 0.9)
    assert t["dev_generated_per_real"] == 3.125 and t["test_generated_per_real"] == 50.0
    assert "50.0 generated images per real image" in t["caution"] and "90%" in t["caution"]
    assert transfer_check(parse_method("sim-ssim/threshold"), task, 0.9)["caution"] is None
    matched = dict(task, test_generated=625)
    assert transfer_check(parse_method("sim-pixel/nn"), matched, 0.5)["caution"] is None
    assert transfer_check(parse_method("sim-pixel/nn"), dict(task, test_generated=0), 0.5)["test_generated_per_real"] == 2.5
