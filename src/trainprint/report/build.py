"""``trainprint report RUN_DIR``: one self-contained HTML file built only from a run folder.

Reads the files of an ``evaluate`` run (docs/CONTRACT.md, layout in docs/report.md): run.json,
results.csv, table1.md, scores.csv, images.npz, fingerprints/<tag>/<extractor>.npz,
extractors/<tag>/<extractor>/train_log.csv; a ``fit`` run (fingerprints.npz, train_log.csv) or any
folder with some of them works too. Every image and figure is embedded as base64 PNG, so the file
can be mailed. Sections whose inputs are missing say so.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.core.runs import check_out_dir
from trainprint.core.files import load_npz, write_text
from trainprint.core.version import __version__
from trainprint.report.sections import (SECTIONS, esc, fold_mean_auc, image_to_base64, missing, ranked_methods,
                                        read_scores, recommended_method, section_groups, section_map,
                                        section_results, section_roc, section_run, section_scores, section_training,
                                        section_verdict)

GALLERY_IMAGES = 6  # highest-scoring real images shown
GALLERY_NEIGHBOURS = 5  # nearest generated images beside each

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1300px;
color:#222;line-height:1.4;padding:0 16px}
h1{font-size:24px;margin-bottom:4px} h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
h3{font-size:15px;margin:18px 0 6px} nav a{margin-right:14px} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0} th,td{border:1px solid #ddd;padding:3px 7px;
text-align:left;vertical-align:top} th{background:#f4f4f4} table.data{display:block;overflow-x:auto;max-width:100%}
table.data td{white-space:nowrap} table.data td:last-child{white-space:normal;min-width:220px;font-size:11px;color:#555}
td.notes{white-space:normal;max-width:360px;color:#555;font-size:11px} td.m{font-family:monospace}
table.kv th{width:120px} small{color:#777} .missing{color:#a33;font-style:italic}
.grid{display:flex;flex-wrap:wrap;gap:10px} img.fig{max-width:100%} img.small{width:410px}
.row{display:flex;align-items:flex-end;gap:8px;margin:10px 0;padding:6px;border-bottom:1px solid #eee}
.cell{text-align:center;font-size:11px;color:#444} .cell img{display:block;border:1px solid #ccc;image-rendering:pixelated}
.real img{border:3px solid #d62728}
"""


def build_report(run_dir: str | Path, out: str | Path | None = None, *, tsne: bool = False, seed: int = 0) -> Path:
    """Write the HTML report of ``run_dir`` to ``out`` (default ``run_dir/report.html``); return its path.

    A ``submit`` run folder is reported from its own files and from the strict CV it keeps in
    ``evaluate/``: results, ROC, score distributions and the gallery of the dev set's CV, then a
    "Test set" section with the test scores and every test image's answers."""
    run = Path(run_dir)
    if not run.is_dir():
        raise TrainprintError(f"report: run folder {run} does not exist or is not a folder")
    known = ("run.json", "results.csv", "scores.csv", "images.npz", "fingerprints.npz", "train_log.csv",
             "fingerprints", "extractors", "table1.md", "scores_test.csv", "evaluate")
    if not any((run / k).exists() for k in known):
        raise TrainprintError(f"report: {run} holds none of {', '.join(known)}; expected a run folder")
    out_path = Path(out) if out is not None else run / "report.html"
    if out_path.is_dir():
        raise TrainprintError(f"report --out {out_path}: is a folder; expected the HTML file to write")
    check_out_dir(out_path.parent, "report --out")
    submitted = (run / "scores_test.csv").exists()
    ev = run / "evaluate" if submitted and (run / "evaluate" / "scores.csv").exists() else run
    scores = read_scores(ev) if (ev / "scores.csv").exists() else None
    recommended = recommended_method(run)
    bodies = {
        "verdict": section_verdict(run),
        "run": section_run(run),
        "results": section_results(run),
        "roc": section_roc(scores, recommended, fold_mean_auc(ev)),
        "scores": section_scores(scores, recommended),
        "map": section_map(run, tsne, seed),
        "training": section_training(run),
        "gallery": section_gallery(ev, scores, recommended=recommended),
        "groups": section_groups(run),
    }
    titles = list(SECTIONS)
    if submitted:
        test_scores = read_scores(run)
        bodies["test"] = section_test(run, test_scores, recommended)
        titles.insert(1, TEST_SECTION)
        if (run / "images.npz").exists():  # the test images: the gallery shows the test set's answers
            bodies["gallery"] = section_gallery(run, test_scores, recommended=recommended)
        elif scores is not None:
            bodies["gallery"] = ("<p>From the dev set's cross-validation kept in <code>evaluate/</code> (this run "
                                 "folder holds no test images).</p>" + bodies["gallery"])
    nav = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title in titles)
    sections = "\n".join(f'<section id="{sid}"><h2>{esc(title)}</h2>\n{bodies[sid]}\n</section>'
                         for sid, title in titles)
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>trainprint report: {esc(run.name)}"
            f"</title><style>{CSS}</style></head><body><h1>trainprint report: {esc(run.resolve().name)}</h1>"
            f"<p class='sub'>Built {time.strftime('%Y-%m-%d %H:%M')} by trainprint {__version__} "
            f"from the files of <code>{esc(run.resolve())}</code> only.</p><nav>{nav}</nav>{sections}</body></html>")
    write_text(out_path, page)
    return out_path


# -------------------------------------------------------------------------------------- test set
TEST_SECTION = ("test", "Test set (submit)")
MAX_TEST_ROWS = 1000  # rows of the per-image table (all of them are in scores_test.csv)


def section_test(run: Path, test_scores: dict | None, recommended: str | None) -> str:
    """A submit run's answers: score histograms of the test real images and one row per image."""
    if not test_scores:
        return missing("scores_test.csv (the test set's scores)")
    from trainprint.report.plots import score_hist_figure
    from trainprint.report.sections import img_tag

    ranked = [m for m, _ in ranked_methods(test_scores, recommended)]
    figs = "".join(img_tag(score_hist_figure(m, {"real_unknown": test_scores[m]["score"][np.isfinite(
        test_scores[m]["score"])]}), f"test scores of {m}", "fig small") for m in ranked[:4])
    method = recommended if recommended in test_scores else (ranked[0] if ranked else next(iter(test_scores)))
    d = test_scores[method]
    votes = {}
    for name in ("vote.csv", "vote_all.csv"):
        if (run / name).exists():
            from trainprint.submit.runfiles import read_run_file

            votes[name] = read_run_file(run / name)
    order = np.argsort(-np.nan_to_num(d["score"], nan=-np.inf), kind="stable")
    head = "<tr><th>rank</th><th>id</th><th>score</th><th>answer</th>" + "".join(
        f"<th>{esc(v)}</th>" for v in votes) + "</tr>"
    body = []
    for rank, j in enumerate(order[:MAX_TEST_ROWS], start=1):
        rid = str(d["id"][j])
        cells = "".join(f"<td>{'used' if votes[v].get(rid) == 1 else 'not used'}</td>" for v in votes)
        body.append(f"<tr><td>{rank}</td><td class='m'>{esc(rid)}</td><td>{d['score'][j]:.4g}</td>"
                    f"<td>{'used' if d['pred'][j] == 1 else 'not used'}</td>{cells}</tr>")
    more = (f"<p>The first {MAX_TEST_ROWS} of {len(order)} rows; all are in scores_test.csv.</p>"
            if len(order) > MAX_TEST_ROWS else "")
    n_used = int(np.sum(d["pred"] == 1))
    return (f"<p>Scores of the test set's real images (no labels: one histogram per method, the recommended "
            f"first).</p><div class='grid'>{figs}</div><h3>Every test image: the answers of "
            f"<code>{esc(method)}</code>{' (recommended)' if method == recommended else ''}, {n_used} of {len(order)} "
            f"called used, most suspicious first</h3>{more}<table class='data'>{head}{''.join(body)}</table>")


# -------------------------------------------------------------------------------------- gallery
def pixel_spaces() -> tuple[str, ...]:
    """The similarity spaces computed on the images themselves (``similarity.PIXEL_SPACES``; imported
    here, not at the top: it imports torch, which a report without a gallery never needs)."""
    from trainprint.similarity.spaces import PIXEL_SPACES

    return PIXEL_SPACES


def _neighbour_space(run: Path, method: str, fold: str) -> tuple[str, dict[str, np.ndarray] | None]:
    """The space the gallery's neighbours are searched in: the method's fingerprints when the run
    has them (for the fold that held the image out, or ``all``), else pixels."""
    if method.startswith("sim-"):
        space = method[4:].split("/")[0]
    else:
        space = method.split("/")[0]
    if space in pixel_spaces():
        return space, None
    for tag in (f"fold-{fold}", "all"):
        p = run / "fingerprints" / tag / f"{space}.npz"
        if p.exists():
            return space, load_npz(p)
    return "pixel", None


def gallery_method(scores: dict[str, dict[str, np.ndarray]], recommended: str | None) -> tuple[str | None, str]:
    """The method whose answers the gallery shows, and why: the recommended one when it calls some
    image used, else the candidate of highest pooled AUC that does; never a baseline, never a
    method that calls nothing used."""
    calls = {m: bool(np.any(d["pred"] == 1)) for m, d in scores.items()}
    if recommended in scores and calls[recommended]:
        return recommended, "the recommended method"
    for m, _ in ranked_methods(scores):
        if calls[m]:
            why = "the method of highest pooled AUC among those that call some image used"
            if recommended in scores:
                why += f" (the recommended {recommended} calls no image used)"
            return m, why
    return None, ""


def section_gallery(run: Path, scores: dict | None, method: str | None = None, recommended: str | None = None) -> str:
    if not (run / "images.npz").exists():
        return missing("images.npz (the run's images)")
    if scores is None:
        return missing("scores.csv (which real images score highest)")
    from trainprint.similarity.matrix import pairwise  # torch: only when a gallery is drawn
    from trainprint.similarity.spaces import space_of

    imgs = load_npz(run / "images.npz")
    ids, split, pixels = imgs["ids"].astype(str), imgs["split"].astype(str), imgs["pixels"]
    why = "the method asked for"
    if method is None:
        method, why = gallery_method(scores, recommended)
        if method is None:
            return ("<p>No method (baselines aside) calls any image used, so there is no evidence to show: "
                    "no real image is more like a generated one than the methods' rules require.</p>")
    d = scores[method]
    gen = np.flatnonzero(split == "generated")
    if len(gen) == 0:
        return missing("generated images in images.npz")
    row_of = {i: k for k, i in enumerate(ids)}
    order = np.argsort(-np.nan_to_num(d["score"], nan=-np.inf), kind="stable")
    picked, seen = [], set()  # (score row, id, images.npz row, space, fingerprints or None)
    for j in order:
        rid = str(d["id"][j])
        if rid in seen or rid not in row_of:
            continue
        seen.add(rid)
        space, fp = _neighbour_space(run, method, str(d["fold"][j]))
        if fp is None or rid not in set(fp["ids"].astype(str)):
            space, fp = (space if space in pixel_spaces() else "pixel"), None
        picked.append((j, rid, row_of[rid], space, fp))
        if len(picked) >= GALLERY_IMAGES:
            break
    # pixel spaces: every picked image against the generated ones in one call per space (an SSIM call
    # prepares all generated images, 3 s for 400 at 64 px here, so once and not once per row)
    in_pixels = {}
    for space in {sp for *_, sp, fp in picked if fp is None}:
        rs = [r for _, _, r, sp, fp in picked if fp is None and sp == space]
        in_pixels.update({(space, r): row for r, row in zip(rs, pairwise(space, pixels[rs] / 255.0,
                                                                          pixels[gen] / 255.0))})
    rows = []
    for j, rid, r, space, fp in picked:
        if fp is not None:
            fid = {i: k for k, i in enumerate(fp["ids"].astype(str))}
            gids = [g for g in ids[gen] if g in fid]
            sims = pairwise(space, fp["X"][[fid[rid]]], fp["X"][[fid[g] for g in gids]])[0]
            g_rows = np.asarray([row_of[g] for g in gids])
            what = f"{space} fingerprint space, {space_of(space).similarity}"
        else:
            sims, g_rows = in_pixels[(space, r)], gen
            what = f"pixels, {space_of(space).similarity}"
        best = np.argsort(-sims, kind="stable")[:GALLERY_NEIGHBOURS]
        label = {"real_used": "U", "real_not_used": "NU"}.get(split[r], split[r])
        cells = [f"<div class='cell real'><img src='data:image/png;base64,{image_to_base64(pixels[r])}' "
                 f"alt='{esc(rid)}'>{esc(rid)}<br>{label}, score {d['score'][j]:.3g}<br>"
                 f"{'called used' if d['pred'][j] == 1 else 'not called used'}</div>"]
        cells += [f"<div class='cell'><img src='data:image/png;base64,{image_to_base64(pixels[g_rows[b]])}' "
                  f"alt='{esc(ids[g_rows[b]])}'>{esc(ids[g_rows[b]])}<br>sim {sims[b]:.3g}</div>" for b in best]
        rows.append(f"<div class='row'>{''.join(cells)}<div class='cell'>{esc(what)}</div></div>")
    head = (f"<p>The {len(rows)} highest-scoring real images of <code>{esc(method)}</code> ({esc(why)}), each "
            f"(red frame) beside its {GALLERY_NEIGHBOURS} most similar generated images. "
            "A near copy among them is evidence that the generator saw the image.</p>")
    return head + "".join(rows)
