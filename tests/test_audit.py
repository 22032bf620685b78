"""``trainprint audit``: the statistics against brute force, the run folder, the modes, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from helpers_data import tree
from helpers_eval import make_images, write_task
from trainprint.audit.config import DEFAULT_LABEL_FREE_METHOD, AuditConfig
from trainprint.audit.pipeline import audit
from trainprint.audit.pipeline import CSV_FIELDS
from trainprint.audit.stats import (bh_q_values, conformal_p_values, global_test, rogan_gladen_members,
                                    storey_count, storey_members)
from trainprint.cli.main import main
from trainprint.core.files import read_csv, read_json
from trainprint.data.imageset import ImageSet
from trainprint.methods import parse_method


# ------------------------------------------------------------------------------------ statistics
def test_conformal_p_values_equal_brute_force() -> None:
    rng = np.random.default_rng(0)
    ref = np.round(rng.normal(size=40), 1)  # ties on purpose
    s = np.concatenate([np.round(rng.normal(size=30), 1), [np.nan, ref.max() + 1, ref.min() - 1]])
    brute = np.array([(1 + np.sum(ref >= v)) / (len(ref) + 1) if np.isfinite(v) else 1.0 for v in s])
    np.testing.assert_allclose(conformal_p_values(s, ref), brute)
    assert conformal_p_values(np.array([ref.max() + 1]), ref)[0] == pytest.approx(1 / 41)


def test_conformal_p_values_are_valid_under_exchangeability() -> None:
    """A non-member scored like the reference gets P(p <= a) <= a (here: within noise of a)."""
    rng = np.random.default_rng(1)
    p = np.array([conformal_p_values(rng.normal(size=1), rng.normal(size=19))[0] for _ in range(4000)])
    for a in (0.05, 0.1, 0.5):
        assert np.mean(p <= a) <= a + 0.02


def test_bh_q_values_equal_their_definition() -> None:
    rng = np.random.default_rng(2)
    p = np.round(rng.uniform(size=25) ** 2, 3)
    n = len(p)
    order = np.argsort(p, kind="stable")
    rank = np.empty(n, int)
    rank[order] = np.arange(1, n + 1)
    brute = np.array([min(1.0, min(p[j] * n / rank[j] for j in range(n) if p[j] >= p[i])) for i in range(n)])
    np.testing.assert_allclose(bh_q_values(p), brute)


def test_storey_and_global_test() -> None:
    assert storey_count(np.array([0.01] * 10 + [0.6, 0.8] * 5)) == pytest.approx(20 - 10 / 0.5)
    assert storey_count(np.linspace(0.51, 1, 10)) == 0.0  # pi0 clipped at 1
    rng = np.random.default_rng(3)
    s, r = rng.normal(0.5, 1, 60), rng.normal(0, 1, 50)
    gt = global_test(s, r)
    mw = mannwhitneyu(s, r, alternative="greater")
    assert gt["p_value"] == pytest.approx(mw.pvalue, abs=0.003)  # by permutation, every image its own unit
    assert gt["auc_audited_vs_reference"] == pytest.approx(mw.statistic / (60 * 50), abs=1e-6)
    est = storey_members(s, r, seed=0, reps=200)
    assert est["ci95"][0] <= est["members"] <= est["ci95"][1] and 0 <= est["members"] <= 60


def test_global_test_counts_sibling_groups_as_one_unit() -> None:
    """Five near-identical siblings per patient: treated as independent images the test rejects
    signal-free data far too often; moving whole groups keeps the level."""
    rng = np.random.default_rng(4)
    groups_s, groups_r = np.repeat(np.arange(12), 5), np.repeat(np.arange(8), 5)
    p_img, p_grp = [], []
    for _ in range(200):
        s = np.repeat(rng.normal(size=12), 5) + rng.normal(scale=0.05, size=60)
        r = np.repeat(rng.normal(size=8), 5) + rng.normal(scale=0.05, size=40)
        p_img.append(global_test(s, r, permutations=199)["p_value"])
        p_grp.append(global_test(s, r, groups_s, groups_r, permutations=199)["p_value"])
    assert np.mean(np.array(p_img) < 0.05) > 0.15  # the image-level test is invalid here
    assert np.mean(np.array(p_grp) < 0.05) <= 0.05 + 0.03


def test_rogan_gladen_corrects_the_count_and_refuses_without_separation() -> None:
    y = np.array([1] * 50 + [0] * 50)
    pred = np.array([1] * 40 + [0] * 10 + [1] * 10 + [0] * 40)  # tpr 0.8, fpr 0.2
    called = np.array([1] * 50 + [0] * 50)  # 50% called
    est = rogan_gladen_members(called, y, pred, seed=0, reps=200)
    assert est["members"] == pytest.approx((0.5 - 0.2) / 0.6 * 100)
    flat = rogan_gladen_members(called, y, np.ones(100, int), seed=0, reps=10)
    assert flat["members"] is None and "does not separate" in flat["why"]


# ------------------------------------------------------------------------------------ run folders
def _split(images: ImageSet, split: str) -> ImageSet:
    return images.take(np.flatnonzero(images.split == split))


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A test folder whose generator copied its used images (key: first 12 used), a reference of
    80 unrelated images, a dev set of the same kind, and a test folder of a generator that copied
    nothing."""
    root = tmp_path_factory.mktemp("audit")
    test, _ = make_images(12, 12, 40, seed=11, source="t", unknown=True)
    write_task(root / "test", test)
    ref, _ = make_images(2, 80, 2, seed=12, source="ref")
    write_task(root / "ref", _split(ref, "real_not_used"))
    dev, _ = make_images(12, 12, 24, seed=13, source="dev")
    write_task(root / "dev", dev)
    blank, _ = make_images(12, 12, 2, seed=14, source="b", unknown=True)
    fresh, _ = make_images(2, 2, 40, seed=15, source="f")  # its "generated" half copies its own used images
    write_task(root / "blank", _split(blank, "real_unknown"))
    write_task(root / "blank", _split(fresh, "generated"))
    return {"root": root, "test": root / "test", "ref": root / "ref" / "real_not_used", "dev": root / "dev",
            "blank": root / "blank"}


def _run(folders: dict[str, Path], out: Path, *args: str) -> int:
    with pytest.raises(SystemExit) as e:
        main(["audit", str(args[0]), str(args[1]), "--out", str(out), "--no-progress", "--no-cache", *args[2:]])
    return int(e.value.code)


def test_audit_with_reference_finds_the_copied_images(folders: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    t = folders["test"]
    assert _run(folders, out, t / "generated", t / "real_unknown", "--reference", str(folders["ref"]),
                "--method", "sim-pixel/realmax") == 0
    s = read_json(out / "audit.json")
    assert s["verdict"] == "evidence of membership" and s["test"]["p_value"] < 1e-3
    assert s["mode"] == "reference" and s["method"] == "sim-pixel/realmax"
    rows = read_csv(out / "audit.csv")
    assert list(rows[0]) == CSV_FIELDS and [int(r["rank"]) for r in rows] == list(range(1, 25))
    used = {r["id"] for r in rows if r["verdict"] == "used"}
    members = {f"t{i:03d}" for i in range(40, 52)}  # make_images: 40 generated, then 12 used, 12 not used
    assert len(used & members) >= 8 and len(used - members) <= 1  # 9 of the 12 were copied; FDR 5%
    lo, hi = s["estimate"]["ci95"]
    assert lo <= 12 <= hi + 1e-9 and s["estimate"]["members"] >= 8
    gen_ids = {p.stem for p in (t / "generated").iterdir()}
    assert all(r[f"neighbour_{k}"] in gen_ids for r in rows for k in range(1, 6))
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True)
    assert (out / "run.csv").read_text().count("\n") == 24  # a task test folder: the official run file
    assert len(read_csv(out / "reference_scores.csv")) == 80
    html = (out / "audit.html").read_text()
    assert "evidence of membership" in html and "id='g-used'" in html


def test_audit_without_reference_or_dev_calls_only_what_a_mixture_justifies(folders: dict[str, Path],
                                                                            tmp_path: Path) -> None:
    """No reference, no dev set: no test, and patients are called used only where a two-component
    mixture on the patient scores justifies a cut: here (copies of 9 of the 12 members) it does, and
    every call is a member; the rule's own cut stays in method_pred."""
    out = tmp_path / "run"
    t = folders["test"]
    assert _run(folders, out, t / "generated", t / "real_unknown", "--method", "sim-pixel/realmax") == 0
    s = read_json(out / "audit.json")
    assert s["verdict"] == "not tested" and s["test"]["p_value"] is None
    est = s["estimate"]
    assert est["unit"] == "patients" and est["members"] == s["patients"]["called"]["used"] > 0
    assert est["ci95"][0] <= est["members"] <= est["ci95"][1]
    rows = read_csv(out / "audit.csv")
    assert all(r["p_value"] == "" and r["probability"] == "" for r in rows)
    members = {f"t{i:03d}" for i in range(40, 52)}
    used = {r["id"] for r in rows if r["verdict"] == "used"}
    assert used and used <= members
    assert all(r["verdict"] == "used" for r in rows if r["patient_verdict"] == "used")  # a slice has its patient's call
    assert sum(int(r["method_pred"]) for r in rows) > 0  # the rule's own cut is kept beside it
    assert "Read these calls with care" in (out / "audit.html").read_text()  # untested calls carry a warning


def test_audit_without_reference_of_a_generator_that_copied_nothing_calls_nothing(folders: dict[str, Path],
                                                                                   tmp_path: Path) -> None:
    """Signal-free data and no reference: the rule's own cut still calls images (method_pred), but no
    cut can be justified, so nothing is called used."""
    b = folders["blank"]
    out = tmp_path / "run"
    assert _run(folders, out, b / "generated", b / "real_unknown", "--method", "sim-pixel/calibrated") == 0
    s = read_json(out / "audit.json")
    assert s["estimate"]["members"] is None and "no cut can be justified" in s["estimate"]["why"]
    assert s["called"]["used"] == 0 and s["patients"]["called"]["used"] == 0
    assert set((out / "run.csv").read_text().split()) == {f"b{i:03d},0" for i in range(2, 26)}


def test_audit_of_a_generator_that_copied_nothing_finds_no_evidence(folders: dict[str, Path], tmp_path: Path) -> None:
    b = folders["blank"]
    out = tmp_path / "run"
    assert _run(folders, out, b / "generated", b / "real_unknown", "--reference", str(folders["ref"]),
                "--method", "sim-pixel/calibrated") == 0
    s = read_json(out / "audit.json")
    assert s["verdict"] == "no evidence of membership" and s["called"]["used"] == 0
    assert set((out / "run.csv").read_text().split()) == {f"b{i:03d},0" for i in range(2, 26)}


def test_audit_with_dev_reports_the_selection_aware_estimate(folders: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    t = folders["test"]
    assert _run(folders, out, t / "generated", t / "real_unknown", "--dev", str(folders["dev"]), "--folds", "3",
                "--permutations", "20", "--methods", "sim-pixel/threshold,sim-pixel/calibrated") == 0
    s = read_json(out / "audit.json")
    assert s["mode"] == "dev" and s["method"] in ("sim-pixel/threshold", "sim-pixel/calibrated")
    assert s["confidence"]["selection_aware"]["n_images"] == 24
    assert s["test"]["kind"] == "dev" and s["verdict"] == s["confidence"]["verdict"]
    assert (out / "evaluate" / "selection.json").exists()
    rows = read_csv(out / "audit.csv")
    assert all(0.0 <= float(r["probability"]) <= 1.0 for r in rows)
    assert "members" in s["estimate"]


def test_reference_seen_by_a_label_reading_method_is_dropped(folders: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    t, d = folders["test"], folders["dev"]
    assert _run(folders, out, t / "generated", t / "real_unknown", "--dev", str(d), "--reference",
                str(d / "real_not_used"), "--folds", "3", "--permutations", "0", "--methods", "sim-pixel/threshold") == 0
    s = read_json(out / "audit.json")
    assert parse_method(s["method"]).uses_labels
    assert any("left out of the reference" in n for n in s["notes"]) and s["counts"]["reference"] == 0
    assert s["test"]["kind"] == "dev"  # no reference left: the verdict is the dev set's


def test_default_method_is_label_free_and_in_pixel_space() -> None:
    spec = parse_method(DEFAULT_LABEL_FREE_METHOD)
    assert spec.kind == "similarity" and not spec.uses_labels and spec.extractor == "raw"
    assert AuditConfig(generated_dir="g", real_dir="r").check().mode == "label-free"


@pytest.mark.parametrize("args, message", [
    (("missing", "real_unknown"), "GENERATED_DIR"),
    (("generated", "nowhere"), "REAL_DIR"),
    (("generated", "real_unknown", "--method", "sim-pixel/threshold"), "without --dev"),
    (("generated", "real_unknown", "--method", "vectornet-12/real/svm-2"), "without --dev"),
    (("generated", "real_unknown", "--fdr", "0"), "--fdr"),
    (("generated", "real_unknown", "--dev", "DEV", "--method", "sim-pixel/nn"), "--methods"),
    (("generated", "real_unknown", "--method", "mia-fusion+contrastive/rank"), "without --dev"),
    (("generated", "real_unknown", "--method", "mia-fusion/features"), "without --dev"),
    (("generated", "real_unknown", "--memory", "2XB"), "--memory '2XB'"),
    (("generated", "real_unknown", "--memory", "300MB"), "--memory 300 MB: this audit needs about"),
])
def test_bad_input_is_one_line_and_writes_nothing(folders: dict[str, Path], tmp_path: Path, capsys, args,
                                                   message: str) -> None:
    t = folders["test"]
    first = [str(t / a) if a in ("generated", "real_unknown", "missing", "nowhere") else
             str(folders["dev"]) if a == "DEV" else a for a in args]
    out = tmp_path / "run"
    assert _run(folders, out, *first) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]
    assert tree(out) == []


def test_a_folder_of_another_audit_is_refused(folders: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    t = folders["test"]
    assert _run(folders, out, t / "generated", t / "real_unknown", "--method", "sim-pixel/realmax") == 0
    before = (out / "audit.csv").read_bytes()
    assert _run(folders, out, t / "generated", t / "real_unknown", "--method", "sim-pixel/calibrated") == 2
    assert "its method is 'sim-pixel/realmax'" in capsys.readouterr().err
    assert (out / "audit.csv").read_bytes() == before
    # the same settings again: the run is redone in place and gives the same rows
    assert _run(folders, out, t / "generated", t / "real_unknown", "--method", "sim-pixel/realmax") == 0
    assert (out / "audit.csv").read_bytes() == before


def test_bare_folder_rules(tmp_path: Path, capsys) -> None:
    from helpers_data import gray, save

    gen, real = tmp_path / "g", tmp_path / "r"
    for i in range(3):
        save(gen / f"g{i}.png", gray(i))
        save(real / f"r{i}.png", gray(10 + i, 80))  # another size
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(["audit", str(gen), str(real), "--out", str(out), "--no-cache", "--method", "sim-pixel/nn"])
    assert e.value.code == 2 and "--size" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["audit", str(gen), str(real), "--out", str(out), "--no-cache", "--method", "sim-pixel/nn",
              "--size", "64", "--no-progress"])
    assert e.value.code == 0
    s = json.loads((out / "audit.json").read_text())
    assert s["counts"]["audited"] == 3
    assert s["run_file"] is None and not (out / "run.csv").exists()  # not a task test folder's real_unknown/


def test_out_is_a_file_and_a_bad_image_are_one_line(folders: dict[str, Path], tmp_path: Path, capsys) -> None:
    t = folders["test"]
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder\n")
    assert _run(folders, a_file, t / "generated", t / "real_unknown") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file" in err[0]
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "run"
    assert _run(folders, out, t / "generated", bad) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.png" in err[0] and tree(out) == []


def test_audit_two_stage_search_equals_exhaustive_when_the_candidates_hold_every_image(
        folders: dict[str, Path], tmp_path: Path) -> None:
    """40 generated images, 64 candidates per real image: the two-stage search keeps every image, so
    its answer is the exhaustive one (scores equal to float32 rounding: the exact stage computes the
    pairs one by one); it says that it searched in two stages."""
    t = folders["test"]
    runs = {}
    for search in ("exhaustive", "two-stage"):
        out = tmp_path / search
        assert _run(folders, out, t / "generated", t / "real_unknown", "--reference", str(folders["ref"]),
                    "--search", search) == 0
        runs[search] = ({r["id"]: r for r in read_csv(out / "audit.csv")}, read_json(out / "audit.json"))
    (ex, s_ex), (two, s_two) = runs["exhaustive"], runs["two-stage"]
    assert s_ex["method"] == s_two["method"] == DEFAULT_LABEL_FREE_METHOD
    assert sorted(ex) == sorted(two)
    for i in ex:
        assert float(two[i]["score"]) == pytest.approx(float(ex[i]["score"]), abs=1e-5)
        assert two[i]["neighbour_1"] == ex[i]["neighbour_1"]
    assert s_two["verdict"] == s_ex["verdict"]
    assert any("two-stage search" in n for n in s_two["notes"])
    assert not any("two-stage search" in n for n in s_ex["notes"])
    assert read_json(tmp_path / "two-stage" / "config.json")["search"] == "two-stage"


@pytest.mark.parametrize("method", ["mia-pixel/domias-knn", "mia-ncc/gan-leaks-cal", "mia-fusion/rank"])
def test_label_free_mia_methods_audit_without_a_dev_set(folders: dict[str, Path], tmp_path: Path,
                                                        method: str) -> None:
    """The label-free ``mia-`` scores audit a bare folder, reading the generated images a block at a
    time (``streams``), and find the copied images as the similarity rules do."""
    from trainprint.audit.pipeline import streams

    assert streams(parse_method(method))
    out = tmp_path / "run"
    t = folders["test"]
    assert _run(folders, out, t / "generated", t / "real_unknown", "--reference", str(folders["ref"]),
                "--method", method) == 0
    s = read_json(out / "audit.json")
    assert s["method"] == method and s["verdict"] == "evidence of membership"
    rows = read_csv(out / "audit.csv")
    members = {f"t{i:03d}" for i in range(40, 52)}
    top = {r["id"] for r in rows[:12]}
    assert len(top & members) >= 8, (method, sorted(top))


@pytest.mark.parametrize("method", ["mia-ssim/domias-knn", "mia-fusion/rank"])
def test_mia_scores_and_the_neighbour_list_share_one_two_stage_search(folders: dict[str, Path], tmp_path: Path,
                                                                      monkeypatch, method: str) -> None:
    """Under ``--search two-stage`` the ``mia-ssim`` distance scores read their nearest generated images
    from the search that lists each audited image's neighbours: SSIM's two-stage search runs once."""
    from trainprint.membership.scores import clear_cache
    from trainprint.similarity import search

    clear_cache()  # this process's earlier audits of the same folders searched them already
    spaces: list[str] = []
    real_search = search.two_stage_stats
    monkeypatch.setattr(search, "two_stage_stats",
                        lambda space, *a, **kw: spaces.append(space) or real_search(space, *a, **kw))
    t = folders["test"]
    assert _run(folders, tmp_path / "run", t / "generated", t / "real_unknown", "--reference", str(folders["ref"]),
                "--method", method, "--search", "two-stage") == 0
    assert spaces.count("ssim") == 1 and spaces.count("ncc") == (method == "mia-fusion/rank"), spaces
    assert read_json(tmp_path / "run" / "audit.json")["verdict"] == "evidence of membership"


def test_discriminator_audits_without_a_dev_set(folders: dict[str, Path], tmp_path: Path) -> None:
    """``mia-disc/cnn`` is label-free on the pixels: it audits a bare folder, trained on the generated
    images read a batch at a time (the smoke preset: the run, not the discriminator's power)."""
    from trainprint.audit.pipeline import streams

    assert streams(parse_method("mia-disc/cnn"))
    t = folders["test"]
    out = tmp_path / "run"
    assert _run(folders, out, t / "generated", t / "real_unknown", "--reference", str(folders["ref"]),
                "--method", "mia-disc/cnn", "--preset", "smoke") == 0
    s = read_json(out / "audit.json")
    assert s["method"] == "mia-disc/cnn" and s["counts"]["audited"] == 24
    assert all(np.isfinite(float(r["score"])) for r in read_csv(out / "audit.csv"))


def test_memory_budget_sets_the_block_size_and_is_recorded(folders: dict[str, Path], tmp_path: Path) -> None:
    from trainprint.similarity.generated import GeneratedSet, SearchPlan, block_bytes_for

    assert block_bytes_for(2 * 10**9) == 2 * 10**9 // 32 and block_bytes_for(10**7) == 2**20  # at least 1 MiB
    G = np.zeros((100, 64, 64), np.uint8)
    assert GeneratedSet(G, SearchPlan(block_bytes=64 * 64 * 4 * 7), divisor=255.0).block_rows == 7
    out = tmp_path / "run"
    t = folders["test"]
    assert _run(folders, out, t / "generated", t / "real_unknown", "--method", "sim-pixel/realmax",
                "--memory", "3GB") == 0
    run = read_json(out / "run.json")
    assert run["config"]["memory"] == 3 * 10**9 and run["memory"]["budget"] == 3 * 10**9
    assert 0 < run["memory"]["held_before_scoring"] < 3 * 10**9 and run["memory"]["scoring_estimate"] > 0
    assert set(run["peak_rss_mib"]) >= {"groups", "scores", "statistics"}
