"""Sibling groups inferred from the images alone: they recover the demo's patients, leave
independent images alone, and reach evaluate's folds and run folder."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from helpers_eval import blobs, make_images
from trainprint.core import files
from trainprint.core.errors import TrainprintError
from trainprint.demo.make import PRESETS, _render_roles
from trainprint.evaluation.evaluate import EvalConfig, evaluate_images
from trainprint.evaluation.groups import GroupRule, group_summary, infer_groups, resolve_groups, robust_z


def demo_patients(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The demo's dev real slices (fast preset: 48 patients x 4 slices) and their patient numbers,
    rendered as make-demo renders them (no generator needed)."""
    roles = _render_roles(PRESETS["fast"], np.random.default_rng(np.random.SeedSequence(seed).spawn(5)[0]))
    dev = [roles["dev_used"], roles["dev_not_used"]]
    return np.concatenate([r.pixels for r in dev]), np.concatenate([r.patient for r in dev])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_inferred_groups_recover_the_demo_patients(seed: int) -> None:
    pixels, patient = demo_patients(seed)
    groups = infer_groups(pixels)
    ari = adjusted_rand_score(patient, groups)
    print(f"demo seed {seed}: {len(set(groups))} groups for {len(set(patient))} patients, ARI {ari:.3f}")
    assert ari >= 0.8


@pytest.mark.parametrize("n", [60, 300])
def test_independent_images_stay_almost_all_singletons(n: int) -> None:
    """Unrelated images: almost every group a singleton, at small and larger n (the threshold grows with n)."""
    summary = group_summary(infer_groups(blobs(n, np.random.default_rng(5))))
    assert summary["singletons"] >= 0.9 * summary["n_groups"] and summary["largest"] <= 5


def test_cxrmem64_images_stay_almost_all_singletons(benchmark_dir) -> None:
    """One image per patient: the real benchmark with no siblings at all."""
    from trainprint.data import load_dev

    images = load_dev(benchmark_dir("cxrmem64") / "dev", cache_dir=False)
    real = images.mask("real_used", "real_not_used")
    summary = group_summary(infer_groups(images.pixels[real]))
    assert summary["singletons"] >= 0.95 * summary["n_groups"] and summary["largest"] <= 3


def test_robust_z_marks_the_outlying_similarity() -> None:
    S = np.array([[1.0, 0.9, 0.1, 0.12, 0.11, 0.09], [0.9, 1.0, 0.1, 0.1, 0.12, 0.1]] + [[0.1] * 6] * 4)
    z = robust_z(S)
    assert np.isnan(z[0, 0]) and z[0, 1] > 10 and abs(z[0, 3]) < 3


def test_rule_settings_are_checked() -> None:
    with pytest.raises(TrainprintError, match="--group-space"):
        GroupRule(space="vectornet-12").check()
    with pytest.raises(TrainprintError, match="--group-z"):
        GroupRule(z=0).check()
    with pytest.raises(TrainprintError, match="--group-k"):
        GroupRule(k=0).check()


def test_threshold_grows_with_the_number_of_images() -> None:
    rule = GroupRule()
    assert rule.threshold(80) == pytest.approx(2.49, abs=0.01) and rule.threshold(1000) == pytest.approx(3.29, abs=0.01)
    assert GroupRule(z=4.0).threshold(80) == 4.0


def test_evaluate_folds_by_inferred_groups_and_records_them(tmp_path) -> None:
    """Copies of one image (siblings) never straddle a fold; groups.csv and run.json say what was done."""
    images, _ = make_images(n_used=12, n_not=12, n_gen=20, seed=4)
    px = images.pixels.copy()
    real = np.flatnonzero(images.mask("real_used"))
    for a, b in ((real[0], real[1]), (real[2], real[3])):  # two sibling pairs: noisy copies
        px[b] = np.clip(px[a].astype(int) + np.random.default_rng(b).integers(-3, 4, px[a].shape), 0, 255)
    images = dataclasses.replace(images, pixels=px)
    cfg = EvalConfig(dev_dir=str(tmp_path / "dev"), methods=("sim-pixel/realmax", "baseline/chance"), folds=4,
                     permutations=20)
    evaluate_images(images, cfg, tmp_path / "run")
    groups = {r["id"]: r["group"] for r in files.read_csv(tmp_path / "run" / "groups.csv")}
    ids = images.ids
    assert groups[ids[real[0]]] == groups[ids[real[1]]] and groups[ids[real[2]]] == groups[ids[real[3]]]
    fold_of = {r["id"]: r["fold"] for r in files.read_csv(tmp_path / "run" / "scores.csv")}
    assert fold_of[ids[real[0]]] == fold_of[ids[real[1]]] and fold_of[ids[real[2]]] == fold_of[ids[real[3]]]
    info = files.read_json(tmp_path / "run" / "run.json")["groups"]
    assert info["source"] == "auto" and info["sizes"]["2"] >= 2 and info["n_groups"] == sum(info["sizes"].values())
    assert "2 most similar" in info["rule"] and info["z"] == pytest.approx(GroupRule().threshold(24), abs=1e-4)


def test_groups_none_and_file(tmp_path) -> None:
    images, _ = make_images(n_used=4, n_not=4, n_gen=4)
    real = images.mask("real_used", "real_not_used")
    ids, px = images.ids[real], images.pixels[real]
    groups, info = resolve_groups("none", ids, px, GroupRule())
    assert groups is None and info["source"] == "none"
    csv = tmp_path / "g.csv"
    csv.write_text("id,patient\n" + "".join(f"{i},p{k // 2}\n" for k, i in enumerate(ids)))
    groups, info = resolve_groups(str(csv), ids, px, GroupRule())
    assert info["n_groups"] == 4 and list(groups[:2]) == ["p0", "p0"]
