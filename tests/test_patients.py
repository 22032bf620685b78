"""Membership is a patient's property: patient scores, size-matched patient p-values, what a
reference allows, the mixture cut without a reference, and ``patients.csv`` of an audit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers_eval import blobs
from trainprint.audit.stats import (conformal_p_values, mixture_members, patient_p_values, reference_allows)
from trainprint.cli.main import main
from trainprint.core.files import read_csv, read_json
from trainprint.scoring import patient_scores


def test_patient_scores_are_group_means_in_first_appearance_order() -> None:
    ps = patient_scores(np.array([1.0, 5.0, 3.0, np.nan, 2.0]), np.array(["b", "a", "b", "c", "a"]))
    assert list(ps.groups) == ["b", "a", "c"] and list(ps.size) == [2, 2, 1]
    np.testing.assert_allclose(ps.score[:2], [2.0, 3.5])
    assert np.isnan(ps.score[2]) and list(ps.index) == [0, 1, 0, 2, 1]
    np.testing.assert_allclose(ps.per_image()[[0, 1, 4]], [2.0, 3.5, 3.5])


def test_patient_p_values_of_single_slices_are_the_conformal_ones() -> None:
    rng = np.random.default_rng(0)
    ref, s = np.round(rng.normal(size=30), 1), np.round(rng.normal(size=12), 1)
    np.testing.assert_allclose(patient_p_values(s, np.ones(12, int), ref, None, seed=0), conformal_p_values(s, ref))


def test_patient_p_values_against_brute_force_draws() -> None:
    """Two reference patients of 3 slices, an audited patient of 2: p = (1 + sum_j P_j) / 3, with P_j
    the share of the 3 two-slice subsets of patient j whose mean is at least the score."""
    ref = np.array([0.0, 1.0, 2.0, 10.0, 11.0, 12.0])
    groups = np.array(["a", "a", "a", "b", "b", "b"])
    p = patient_p_values(np.array([1.4]), np.array([2]), ref, groups, seed=0, draws=20000)
    exact = (1 + 1 / 3 + 1.0) / 3  # a: means 0.5, 1, 1.5 -> one of three >= 1.4; b: all
    assert p[0] == pytest.approx(exact, abs=0.01)


def _patients(rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Slice scores of ``n`` patients with 1-8 correlated slices each (a patient effect), shifted."""
    sizes = rng.integers(1, 9, n)
    scores = np.concatenate([rng.normal() + shift + 0.5 * rng.normal(size=k) for k in sizes])
    return scores, np.repeat(np.arange(n), sizes)


def test_patient_p_values_hold_their_level_with_1_to_8_siblings() -> None:
    """Signal-free: audited and reference patients drawn alike, slices correlated within a patient.
    Rejections at 5% stay at or below 5% (plus Monte Carlo slack); a slice-level p-value that treats
    siblings as independent would reject far more often at the patient level."""
    rng = np.random.default_rng(1)
    rejected, n = 0, 0
    for _ in range(150):
        s, g = _patients(rng, 15)
        r, rg = _patients(rng, 30)
        ps = patient_scores(s, g)
        rejected += int((patient_p_values(ps.score, ps.size, r, rg, seed=0, draws=64) <= 0.05).sum())
        n += len(ps.score)
    assert rejected / n <= 0.05 + 0.01


def test_patient_p_values_find_shifted_patients() -> None:
    rng = np.random.default_rng(2)
    s, g = _patients(rng, 10, shift=4.0)
    r, rg = _patients(rng, 60)
    ps = patient_scores(s, g)
    assert np.median(patient_p_values(ps.score, ps.size, r, rg, seed=0)) < 0.05


def test_reference_allows_states_the_smallest_p_and_the_fewest_calls() -> None:
    small = reference_allows(47, 10, 0.05)
    assert small["smallest_p"] == pytest.approx(1 / 11) and not small["can_call"]
    assert small["fewest_to_call"] == 86 and "no patient can be called" in small["statement"]
    big = reference_allows(40, 99, 0.05)
    assert big["can_call"] and big["fewest_to_call"] == 8 and "at least 8 patients" in big["statement"]


def test_mixture_cuts_only_two_clear_populations() -> None:
    rng = np.random.default_rng(3)
    none = mixture_members(rng.normal(size=60), seed=0)
    assert none["members"] is None and "no cut can be justified" in none["why"]
    skewed = mixture_members(rng.gamma(2.0, size=80), seed=0)  # one skewed population: no cut either
    assert skewed["members"] is None
    x = np.concatenate([rng.normal(size=40), rng.normal(6.0, 1.0, size=12)])
    two = mixture_members(x, seed=0)
    assert two["members"] == 12 and two["called"][40:] == [True] * 12 and not any(two["called"][:40])
    assert two["ci95"][0] <= 12 <= two["ci95"][1]


# ----------------------------------------------------------------------------------- an audit
@pytest.fixture(scope="module")
def volumes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Patients of 1-4 near-identical slices (a blob image plus noise per slice): 8 members whose
    slices the generator copies, 8 audited non-members, 80 reference patients; a groups CSV with
    the true patients."""
    rng = np.random.default_rng(5)
    root = tmp_path_factory.mktemp("patients")
    rows, truth, copies = ["id,group"], {}, []

    def patient(folder: Path, name: str) -> list[np.ndarray]:
        base = blobs(1, rng)[0].astype(int)
        slices = [np.clip(base + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8)
                  for _ in range(int(rng.integers(1, 5)))]
        folder.mkdir(parents=True, exist_ok=True)
        for k, sl in enumerate(slices):
            Image.fromarray(sl).save(folder / f"{name}_{k}.png")
            rows.append(f"{name}_{k},{name}")
        return slices

    for i in range(16):
        slices = patient(root / "real", f"p{i:02d}")
        truth[f"p{i:02d}"] = i < 8
        if i < 8:
            copies += [np.clip(sl.astype(int) + rng.integers(-4, 5, sl.shape), 0, 255).astype(np.uint8) for sl in slices]
    for i in range(80):
        patient(root / "ref", f"r{i:02d}")
    (root / "gen").mkdir()
    for k, img in enumerate(copies + list(blobs(20, rng))):
        Image.fromarray(img).save(root / "gen" / f"g{k:03d}.png")
    (root / "groups.csv").write_text("\n".join(rows) + "\n")
    return {"root": root, "truth": truth}  # type: ignore[dict-item]


def _audit(root: Path, out: Path, *args: str) -> int:
    with pytest.raises(SystemExit) as e:
        main(["audit", str(root / "gen"), str(root / "real"), "--out", str(out), "--no-progress", "--no-cache",
              "--method", "sim-pixel/calibrated", *args])
    return int(e.value.code)


@pytest.mark.parametrize("groups", ["file", "auto"])
def test_audit_writes_patient_verdicts_that_match_the_truth(volumes, tmp_path: Path, groups: str, capsys) -> None:
    root = volumes["root"]
    out = tmp_path / "run"
    g = str(root / "groups.csv") if groups == "file" else "auto"
    assert _audit(root, out, "--reference", str(root / "ref"), "--groups", g) == 0
    err = capsys.readouterr().err
    n_ref = 80 if groups == "file" else len({r["group"] for r in read_csv(out / "groups.csv") if r["set"] == "reference"})
    assert f"smallest possible p-value is 1/{n_ref + 1}" in err  # stated before scoring
    s = read_json(out / "audit.json")
    pats = read_csv(out / "patients.csv")
    assert list(pats[0]) == ["rank", "group", "slices", "score", "p_value", "q_value", "verdict", "slices_called",
                             "slice_ids"]
    assert s["patients"]["n"] == len(pats) and sum(int(r["slices"]) for r in pats) == len(read_csv(out / "audit.csv"))
    called = set()
    for r in pats:
        names = {i.split("_")[0] for i in r["slice_ids"].split()}
        assert len(names) == 1 or groups == "auto"  # inference may join two look-alike patients
        if r["verdict"] == "used":
            called |= names
    members = {p for p, member in volumes["truth"].items() if member}
    if groups == "file":
        assert called == members
    else:  # inferred patients: most members called, at most one look-alike non-member joined to one
        assert len(called & members) >= 6 and len(called - members) <= 1
    images = read_csv(out / "audit.csv")
    for r in images:  # every slice carries its patient's verdict beside its own
        assert (r["patient_verdict"] == "used") == (r["id"].split("_")[0] in called)
    grouped = read_csv(out / "groups.csv")
    assert {r["set"] for r in grouped} == {"audited", "reference"}
    assert all(r["group"].startswith("reference:") for r in grouped if r["set"] == "reference")
    html = (out / "audit.html").read_text()
    assert html.index('<section id="patients">') < html.index('<section id="verdict">')  # the patients come first
    assert all(f'"r:{i}"' in html for r in pats[:3] for i in r["slice_ids"].split()[:8])  # their slices are drawn


def test_a_small_reference_is_said_before_scoring(volumes, tmp_path: Path, capsys) -> None:
    root = volumes["root"]
    small = tmp_path / "small"
    small.mkdir()
    for f in sorted((root / "ref").iterdir())[:6]:
        (small / f.name).write_bytes(f.read_bytes())
    assert _audit(root, tmp_path / "run", "--reference", str(small), "--groups", "auto") == 0
    err = capsys.readouterr().err
    assert "warning: the reference holds" in err and "no patient can be called used" in err
    assert read_json(tmp_path / "run" / "audit.json")["patients"]["called"]["used"] == 0


def test_group_metrics_pool_slices_per_patient() -> None:
    from trainprint.evaluation.results import group_metrics

    ids = ["a1", "a2", "b1", "c1", "c2", "c3"]
    groups = {"a1": "A", "a2": "A", "b1": "B", "c1": "C", "c2": "C", "c3": "C"}
    labels = np.array([1, 1, 0, 1, 1, 1])
    scores = np.array([0.9, 0.1, 0.4, 0.3, 0.3, 0.3])  # A mean 0.5 > B 0.4 > ... C 0.3 < B
    preds = np.array([1, 0, 0, 0, 1, 1])  # A: half -> used; B: not; C: 2 of 3 -> used
    m = group_metrics(ids, labels, scores, preds, groups)
    assert m["groups"] == 3 and m["group_accuracy"] == 1.0
    assert m["group_auc"] == pytest.approx(0.5)  # A above B, C below B
    alone = group_metrics(ids, labels, scores, preds, None)
    assert alone["groups"] == 6 and alone["group_auc"] == alone["auc_pooled"]


def test_patient_calls_give_each_slice_its_patients_call() -> None:
    from trainprint.scoring import patient_calls

    preds = np.array([1, 0, 0, 1, 1, 0])
    groups = np.array(["a", "a", "b", "c", "c", "c"])
    assert list(patient_calls(preds, groups)) == [1, 1, 0, 1, 1, 1]  # a: half -> used; c: 2 of 3
    assert list(patient_calls(preds, None)) == list(preds)


def test_a_groups_csv_missing_an_image_stops_before_anything_is_written(volumes, tmp_path: Path, capsys) -> None:
    root = volumes["root"]
    lines = (root / "groups.csv").read_text().splitlines()
    short = tmp_path / "short.csv"
    short.write_text("\n".join(ln for ln in lines if not ln.startswith("r05_")) + "\n")  # a reference patient left out
    out = tmp_path / "run"
    assert _audit(root, out, "--reference", str(root / "ref"), "--groups", str(short)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --groups {short}: no group for ") and "e.g. 'r05_0'" in err and err.count("\n") == 1
    assert not out.exists()


def test_siblings_option_keeps_or_leaves_out_the_own_group(volumes, tmp_path: Path, capsys) -> None:
    """Near-duplicate slices: with the siblings kept, a memorised slice's best real match is its own
    sibling and no patient is called; ``named`` leaves out only named groups (a CSV), so with inferred
    groups it scores as ``keep`` and with the CSV as ``leave-out``."""
    root = volumes["root"]

    def scores(name: str, *args: str) -> dict[str, str]:
        assert _audit(root, tmp_path / name, "--reference", str(root / "ref"), *args) == 0
        return {r["id"]: r["score"] for r in read_csv(tmp_path / name / "audit.csv")}

    keep = scores("keep", "--groups", "auto", "--siblings", "keep")
    assert scores("named-auto", "--groups", "auto", "--siblings", "named") == keep
    leave = scores("leave", "--groups", "auto")  # the default: leave-out
    assert leave != keep
    called = {name: {i.split("_")[0] for r in read_csv(tmp_path / name / "patients.csv") if r["verdict"] == "used"
                     for i in r["slice_ids"].split()} for name in ("keep", "leave")}
    members = {p for p, member in volumes["truth"].items() if member}
    assert len(called["keep"] & members) < len(called["leave"] & members)
    csv = str(root / "groups.csv")
    assert scores("named-csv", "--groups", csv, "--siblings", "named") == scores("leave-csv", "--groups", csv)
    notes = read_json(tmp_path / "named-auto" / "audit.json")["notes"]
    assert "scores: siblings kept in each image's comparison set (--siblings named; groups inferred from the pixels)" in notes
