"""The HTML report: every section from a fake evaluate run folder laid out as docs/report.md says;
missing inputs are reported, not fatal; the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from trainprint.core import files as io
from trainprint.cli.main import main
from trainprint.report.build import build_report
from trainprint.report.sections import SECTIONS
from trainprint.core.runs import RunRecord
from trainprint.evaluation.config import EvalConfig
from trainprint.evaluation.verdict import select_and_test

METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "mcc", "kappa", "auc")
METHODS = ("vectornet-12/real/svm-2", "sim-ssim/realmax", "baseline/all-used")


def make_eval_run(root: Path, seed: int = 0) -> Path:
    """A small evaluate run folder following the agreed layout (2 folds, 3 methods)."""
    rng = np.random.default_rng(seed)
    run = root / "ev"
    RunRecord(run, command="evaluate", config={"protocol": "strict", "folds": 2}, seed=seed).finish()
    io.write_json(run / "config.json", {"protocol": "strict", "folds": 2, "methods": list(METHODS)})
    n_g, n_r = 40, 12
    split = np.array(["generated"] * n_g + ["real_used"] * n_r + ["real_not_used"] * n_r)
    ids = np.array([f"{s}_{i:03d}" for i, s in enumerate(split)])
    pixels = (rng.random((len(ids), 32, 32)) * 255).astype(np.uint8)
    pixels[:n_r] = pixels[n_g:n_g + n_r]  # generated copies of the used images
    io.save_npz(run / "images.npz", ids=ids, split=split, source=np.full(len(ids), "dev"), pixels=pixels)
    real = np.flatnonzero(split != "generated")
    folds = np.arange(len(real)) % 2
    score_rows, result_rows = [], []
    for m_i, method in enumerate(METHODS):
        for j, r in enumerate(real):
            label = int(split[r] == "real_used")
            score = label + rng.normal(scale=0.7 + m_i)
            score_rows.append(dict(method=method, fold=int(folds[j]), id=ids[r], split=split[r], label=label,
                                   score=score, pred=int(score > 0.5)))
        row = dict(method=method, extractor=method.split("/")[0], strategy="real", classifier="svm-2",
                   protocol="strict", tpr_at_fpr05=0.3, tpr_at_fpr10=0.4, notes="")
        row.update({f"{k}_{s}": rng.random() for k in METRICS for s in ("mean", "std")})
        result_rows.append(row)
    io.write_csv(run / "scores.csv", score_rows, ["method", "fold", "id", "split", "label", "score", "pred"])
    io.write_csv(run / "results.csv", result_rows, list(result_rows[0]))
    io.write_text(run / "table1.md", "# Table 1\n\n| Net. | F1 (paper) | F1 (ours) |\n|---|---|---|\n"
                  "| Vector-Net (1,2) | 0.9645 | 0.71 |\n")
    io.write_csv(run / "groups.csv", [dict(id=ids[r], group=f"g{j // 2}") for j, r in enumerate(real)], ["id", "group"])
    fold_rows = [dict(method=m, fold=k, auc=0.6) for m in METHODS for k in (0, 1)]
    cfg = EvalConfig(dev_dir=str(run), methods=METHODS, folds=2, permutations=19)
    io.write_json(run / "selection.json", select_and_test(cfg, ids[real], None, fold_rows, score_rows, None))
    for k in (0, 1):
        X = rng.normal(size=(len(ids), 8)).astype(np.float32)
        io.save_npz(run / "fingerprints" / f"fold-{k}" / "vectornet-12.npz", ids=ids, split=split,
                    source=np.full(len(ids), "dev"), X=X)
        io.write_csv(run / "extractors" / f"fold-{k}" / "vectornet-12" / "train_log.csv",
                     [dict(epoch=e, loss=1 / e, c1=0.5 / e, seconds=1.0) for e in (1, 2, 3)],
                     ["epoch", "loss", "c1", "seconds"])
    return run


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.S)
    assert m, f"section {sid} missing"
    return m.group(1)


def test_every_section_is_present_and_filled(tmp_path: Path) -> None:
    run = make_eval_run(tmp_path)
    out = build_report(run)
    assert out == run / "report.html"
    html = out.read_text(encoding="utf-8")
    for sid, title in SECTIONS:
        body = _section(html, sid)
        assert "Not available" not in body, f"section {sid} says its input is missing"
    assert "data:image/png;base64," in _section(html, "roc")
    scores = _section(html, "scores")  # baselines are reference lines: no all-used histogram
    assert scores.count("<img") == len(METHODS) - 1 and "baseline/all-used" not in scores
    assert "Pooled AUC" in _section(html, "roc") and "fold-mean AUC" in _section(html, "roc")
    assert _section(html, "map").count("<img") == 1  # one map per extractor
    assert "vectornet-12 (fold-0)" in _section(html, "training")
    assert "0.9645" in _section(html, "results") and "sim-ssim/realmax" in _section(html, "results")
    gallery = _section(html, "gallery")
    assert gallery.count("class='row'") == 6 and gallery.count("<img") == 6 * 6
    assert "src=\"http" not in html and "src='http" not in html  # self-contained: nothing fetched
    assert not list(run.glob(".report.html.*"))  # atomic write left no temporary file


def test_recommended_first_and_baselines_apart_in_the_results(tmp_path: Path) -> None:
    run = make_eval_run(tmp_path)
    rec = io.read_json(run / "selection.json")["recommended"]["method"]
    table = _section(build_report(run).read_text(), "results").split("<h3>The paper")[0]
    names = re.findall(r"<td class='m'>([^<]+?)(?: <b>|</td>)", table)
    assert names[0] == rec and "★ recommended" in table.split("</tr>")[1]
    assert names[-1] == "baseline/all-used"
    assert table.index("reference lines") < table.index("baseline/all-used")


def test_gallery_never_shows_a_method_that_calls_nothing_used(tmp_path: Path) -> None:
    run = make_eval_run(tmp_path)
    rec = io.read_json(run / "selection.json")["recommended"]["method"]
    other = next(m for m in METHODS if m != rec and not m.startswith("baseline/"))
    scores = io.read_csv(run / "scores.csv")
    for r in scores:
        if r["method"] == rec:
            r["pred"] = 0
    io.write_csv(run / "scores.csv", scores, list(scores[0]))
    gallery = _section(build_report(run).read_text(), "gallery")
    assert f"<code>{other}</code>" in gallery and f"the recommended {rec} calls no image used" in gallery
    for r in scores:
        r["pred"] = 0 if not r["method"].startswith("baseline/") else r["pred"]
    io.write_csv(run / "scores.csv", scores, list(scores[0]))
    gallery = _section(build_report(run).read_text(), "gallery")
    assert "No method (baselines aside) calls any image used" in gallery and "<img" not in gallery


def test_gallery_finds_the_generated_copy(tmp_path: Path) -> None:
    run = make_eval_run(tmp_path)
    scores = io.read_csv(run / "scores.csv")
    # make the pixel-space method the best one, with a known top image
    for r in scores:
        r["method"] = "sim-pixel/realmax" if r["method"] == "sim-ssim/realmax" else r["method"]
        if r["method"] == "sim-pixel/realmax":
            r["score"] = 100.0 if r["id"] == "real_used_040" else float(r["label"]) * 10
    io.write_csv(run / "scores.csv", scores, list(scores[0]))
    html = build_report(run, tmp_path / "r.html").read_text()
    first_row = _section(html, "gallery").split("class='row'")[1]
    assert "real_used_040" in first_row and "generated_000" in first_row  # its copy, first neighbour
    assert "sim -0" in first_row or "sim 0" in first_row


def test_missing_inputs_are_reported_not_fatal(tmp_path: Path) -> None:
    run = tmp_path / "partial"
    RunRecord(run, command="evaluate", config={}, seed=0)
    html = build_report(run, tsne=True).read_text()
    for sid, _ in SECTIONS:
        if sid != "run":  # the only input there is run.json
            assert "Not available" in _section(html, sid)


def test_fit_run_folder_with_tsne(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    run = tmp_path / "fit"
    split = np.array(["generated"] * 20 + ["real_used"] * 10 + ["real_not_used"] * 10)
    io.save_npz(run / "fingerprints.npz", ids=np.array([f"i{k}" for k in range(40)]), split=split,
                source=np.full(40, "dev"), X=rng.normal(size=(40, 6)).astype(np.float32))
    io.write_csv(run / "train_log.csv", [dict(epoch=1, loss=2.0), dict(epoch=2, loss=1.0)], ["epoch", "loss"])
    html = build_report(run, tsne=True).read_text()
    assert "t-SNE" in _section(html, "map") and "<img" in _section(html, "training")


def test_submit_run_folder(tmp_path: Path) -> None:
    ev = make_eval_run(tmp_path)
    run = tmp_path / "sub"
    ev.rename(run / "evaluate") if (run.mkdir() or True) else None
    rows = [dict(method="sim-ssim/realmax", id=f"t{k}", score=float(k), pred=k % 2) for k in range(10)]
    io.write_csv(run / "scores_test.csv", rows, ["method", "id", "score", "pred"])
    io.write_text(run / "vote_all.csv", "".join(f"t{k},{k % 2}\n" for k in range(10)))
    html = build_report(run).read_text()
    assert "sim-ssim/realmax" in _section(html, "results")  # from evaluate/results.csv
    for sid in ("roc", "scores", "gallery", "test"):  # the dev CV's curves and gallery, the test answers
        assert "Not available" not in _section(html, sid), sid
    test = _section(html, "test")
    assert test.count("<tr><td>") == 10 and "vote_all.csv" in test and "<img" in test
    assert "t9</td><td>9" in test.split("</tr>")[1]  # most suspicious first
    assert "dev set's cross-validation" in _section(html, "gallery")


def test_cli_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = make_eval_run(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["report", str(run), "--out", str(tmp_path / "x.html")])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "x.html")
    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path / "nowhere")])
    assert e.value.code == 2
    assert "error: report: run folder" in capsys.readouterr().err


def test_submit_run_folder_with_test_images_shows_the_test_gallery(tmp_path: Path) -> None:
    ev = make_eval_run(tmp_path)
    run = tmp_path / "sub"
    run.mkdir()
    ev.rename(run / "evaluate")
    rows = [dict(method="sim-ssim/realmax", id=f"t{k}", score=float(k), pred=int(k >= 7)) for k in range(10)]
    io.write_csv(run / "scores_test.csv", rows, ["method", "id", "score", "pred"])
    rng = np.random.default_rng(0)
    ids = np.array([f"t{k}" for k in range(10)] + [f"g{k}" for k in range(8)])
    split = np.array(["real_unknown"] * 10 + ["generated"] * 8)
    pixels = (rng.random((18, 32, 32)) * 255).astype(np.uint8)
    pixels[10] = pixels[9]  # g0 copies t9
    io.save_npz(run / "images.npz", ids=ids, split=split, source=np.full(18, "test"), pixels=pixels)
    gallery = _section(build_report(run).read_text(), "gallery")
    first = gallery.split("class='row'")[1]
    assert "t9" in first and "g0" in first and "called used" in first
    assert "dev set's cross-validation" not in gallery
