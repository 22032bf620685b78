"""The sections of the HTML report. Each reads only files of the run folder and returns HTML;
a section whose inputs are missing says so instead of failing."""

from __future__ import annotations

import html
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from trainprint.core.files import csv_float, load_npz, read_csv, read_json
from trainprint.report.plots import (SET_LABELS, curves_figure, image_to_base64, map_figure, roc_figure,
                                     score_hist_figure)

#: the sections, in order: (id, title); the test checks every id is in the HTML
SECTIONS = (
    ("verdict", "Verdict"),
    ("run", "Run"),
    ("results", "Results (ours beside the paper's)"),
    ("roc", "ROC curves"),
    ("scores", "Score distributions"),
    ("map", "Fingerprint map"),
    ("training", "Training curves"),
    ("gallery", "Evidence gallery"),
    ("groups", "Sibling groups"),
)
MAX_GROUPS_SHOWN = 4  # largest inferred groups drawn as image strips
MAX_GROUP_IMAGES = 10  # images per strip

MAX_ROC = 8  # methods drawn in the ROC figure (best AUC first)
MAX_HIST = 6  # methods with a score histogram
MAX_MAP_POINTS = 3000  # fingerprints embedded in the 2-D map (a seeded subsample above this)


def esc(x: object) -> str:
    return html.escape(str(x))


def missing(what: str) -> str:
    return f'<p class="missing">Not available: {esc(what)}.</p>'


def img_tag(b64: str, alt: str, cls: str = "fig") -> str:
    return f'<img class="{cls}" alt="{esc(alt)}" src="data:image/png;base64,{b64}">'


# -------------------------------------------------------------------------------------- verdict
def read_selection(run: Path) -> tuple[dict | None, dict | None]:
    """(selection, groups info) of an evaluate run, or of the evaluate run a submit made or read."""
    for folder in (run, run / "evaluate"):
        if (folder / "selection.json").exists():
            record = read_json(folder / "run.json") if (folder / "run.json").exists() else {}
            return read_json(folder / "selection.json"), record.get("groups")
    if (run / "recommended.json").exists():
        return read_json(run / "recommended.json"), None
    return None, None


def section_verdict(run: Path) -> str:
    from trainprint.evaluation.selection import describe

    selection, groups = read_selection(run)
    if selection is None:
        return missing("selection.json (the recommendation, its selection-aware estimate and the null test)")
    verdict = str(selection.get("verdict", ""))
    colour = "#1a7f37" if verdict.startswith("evidence") else "#555"
    lines = describe(selection, groups)
    items = "".join(f"<li>{esc(ln)}</li>" for ln in lines)
    null = selection.get("null_test") or {}
    detail = ""
    if null.get("permutations"):
        detail = (f"<p><small>{esc(null['test'])}; statistic: {esc(null['statistic'])}; observed "
                  f"{null['observed']:.3f}, null median {null['null_median']:.3f}, 95th percentile "
                  f"{null['null_95th']:.3f}. Methods refitted under each permutation: "
                  f"{esc(', '.join(null['refitted']) or 'none')}; the others kept their out-of-fold answers "
                  "(exact for label-free methods, conditional for those whose extractor reads labels).</small></p>")
    return (f"<p style='font-size:20px;color:{colour}'><b>{esc(verdict)}</b></p><ul>{items}</ul>{detail}")


# -------------------------------------------------------------------------------------- groups
def section_groups(run: Path) -> str:
    folder = run if (run / "groups.csv").exists() else run / "evaluate"
    if not (folder / "groups.csv").exists() or not (folder / "images.npz").exists():
        return missing("groups.csv and images.npz (the sibling groups the folds kept together)")
    rows = read_csv(folder / "groups.csv")
    members: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        members[r["group"]].append(r["id"])
    sizes = sorted(members.values(), key=lambda ids: -len(ids))
    shown = [ids for ids in sizes if len(ids) > 1][:MAX_GROUPS_SHOWN]
    imgs = load_npz(folder / "images.npz")
    row_of = {i: k for k, i in enumerate(imgs["ids"].astype(str))}
    head = (f"<p>{len(members)} groups among {len(rows)} real images; {sum(len(g) == 1 for g in sizes)} singletons. "
            "The images of a group stay in one fold. The largest groups:</p>" if shown else
            f"<p>{len(members)} groups among {len(rows)} real images: every image is its own group.</p>")
    strips = []
    for g, ids in enumerate(shown):
        cells = "".join(f"<div class='cell'><img src='data:image/png;base64,{image_to_base64(imgs['pixels'][row_of[i]])}' "
                        f"alt='{esc(i)}'>{esc(i)}</div>" for i in ids[:MAX_GROUP_IMAGES] if i in row_of)
        more = f"<div class='cell'>+{len(ids) - MAX_GROUP_IMAGES} more</div>" if len(ids) > MAX_GROUP_IMAGES else ""
        strips.append(f"<div class='row'><div class='cell'>group of {len(ids)}</div>{cells}{more}</div>")
    return head + "".join(strips)


# -------------------------------------------------------------------------------------- run
def section_run(run: Path) -> str:
    path = run / "run.json"
    if not path.exists():
        return missing("run.json")
    rec = read_json(path)
    status = rec.get("status")
    if status == "running":  # a page built as a run's last output, before run.json says finished
        status = "finishing (this page is the run's last output; run.json says finished once it is written)"
    rows = [("command", rec.get("command")), ("status", status), ("seed", rec.get("seed")),
            ("started", rec.get("started")), ("finished", rec.get("finished", "")),
            ("versions", ", ".join(f"{k} {v}" for k, v in rec.get("versions", {}).items())),
            ("machine", ", ".join(f"{k}: {v}" for k, v in rec.get("machine", {}).items())),
            ("timings (s)", ", ".join(f"{k} {v}" for k, v in rec.get("timings_s", {}).items()))]
    cfg = rec.get("config")
    if isinstance(cfg, dict):
        rows.append(("config", ", ".join(f"{k}={v}" for k, v in cfg.items() if not isinstance(v, (dict, list)))))
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


# -------------------------------------------------------------------------------------- results
def _markdown_table(md: str) -> str:
    """A GitHub-style markdown table (and plain lines around it) as HTML."""
    out, rows = [], []

    def flush() -> None:
        if rows:
            head, *rest = [r for r in rows if not set(r.replace("|", "").strip()) <= set("-: ")] or [rows[0]]
            cells = lambda r, t: "".join(f"<{t}>{esc(c.strip()).replace('**', '')}</{t}>"  # noqa: E731
                                         for c in r.strip().strip("|").split("|"))
            out.append("<table class='data'><tr>" + cells(head, "th") + "</tr>"
                       + "".join("<tr>" + cells(r, "td") + "</tr>" for r in rest) + "</table>")
            rows.clear()

    for line in md.splitlines():
        if line.strip().startswith("|"):
            rows.append(line)
            continue
        flush()
        if line.strip():
            text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", esc(line.strip().lstrip("#").strip()))
            out.append(f"<h3>{text}</h3>" if line.startswith("#") else f"<p>{text}</p>")
    flush()
    return "\n".join(out)


RESULT_COLUMNS = ("f1", "accuracy", "precision", "recall", "specificity", "mcc", "kappa", "auc")


def section_results(run: Path) -> str:
    parts = []
    if not (run / "results.csv").exists() and (run / "evaluate" / "results.csv").exists():
        run = run / "evaluate"  # a submit run keeps the strict CV it made in evaluate/
        parts.append("<p>From the dev-set evaluation kept in <code>evaluate/</code>.</p>")
    if (run / "results.csv").exists():
        rec = recommended_method(run)
        rows = read_csv(run / "results.csv")
        rows.sort(key=lambda r: (is_baseline(r.get("method", "")), r.get("method") != rec,
                                 -np.nan_to_num(csv_float(r.get("mcc_mean", "")), nan=-9)))
        head = "<tr><th>method</th>" + "".join(f"<th>{c}</th>" for c in RESULT_COLUMNS) \
            + "<th>TPR@FPR 5%</th><th>TPR@FPR 10%</th><th>notes</th></tr>"
        body = []
        for r in rows:
            if is_baseline(r.get("method", "")) and not any("reference lines" in b for b in body):
                body.append(f"<tr><th colspan='{len(RESULT_COLUMNS) + 4}'>reference lines (baselines: not ranked, "
                            "never recommended)</th></tr>")
            cells = []
            for c in RESULT_COLUMNS:
                m, s = csv_float(r.get(f"{c}_mean", "")), csv_float(r.get(f"{c}_std", ""))
                cells.append(f"<td>{m:.3f} <small>± {s:.3f}</small></td>" if np.isfinite(m) else "<td>–</td>")
            for c in ("tpr_at_fpr05", "tpr_at_fpr10"):
                v = csv_float(r.get(c, ""))
                cells.append(f"<td>{v:.3f}</td>" if np.isfinite(v) else "<td>–</td>")
            notes = r.get("notes", "") or ""
            name = esc(r.get("method", "")) + (" <b>★ recommended</b>" if r.get("method") == rec else "")
            body.append(f"<tr><td class='m'>{name}</td>{''.join(cells)}"
                        f"<td class='notes'>{esc(notes[:300])}</td></tr>")
        parts.append("<h3>All methods (mean ± std over folds): the recommended method (★) first, then the other "
                     "candidates by mean MCC (the recommendation's criterion), then the baselines</h3>"
                     f"<table class='data'>{head}{''.join(body)}</table>")
    else:
        parts.append(missing("results.csv"))
    if (run / "table1.md").exists():
        parts.append("<h3>The paper's Table 1 beside ours (table1.md)</h3>"
                     + _markdown_table((run / "table1.md").read_text(encoding="utf-8")))
    else:
        parts.append(missing("table1.md (the paper's Table 1 layout)"))
    return "\n".join(parts)


# -------------------------------------------------------------------------------------- scores
def read_scores(run: Path) -> dict[str, dict[str, np.ndarray]] | None:
    """scores.csv grouped by method: {method: {id, split, label, score, fold}} arrays. A submit run's
    scores_test.csv (method, id, score, pred: no labels) is read as real_unknown images."""
    path = run / "scores.csv"
    if not path.exists():
        path = run / "scores_test.csv"
        if not path.exists():
            return None
    by: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for r in read_csv(path):
        r.setdefault("split", "real_unknown")
        r.setdefault("fold", "all")
        d = by[r["method"]]
        for k in ("id", "split", "fold"):
            d[k].append(r.get(k, ""))
        d["label"].append(int(csv_float(r.get("label", "-1"))) if r.get("label", "") != "" else -1)
        d["score"].append(csv_float(r.get("score", "")))
        d["pred"].append(int(csv_float(r.get("pred", "-1"))) if r.get("pred", "") != "" else -1)
    return {m: {k: np.asarray(v) for k, v in d.items()} for m, d in by.items()}


def _auc(d: dict[str, np.ndarray]) -> float:
    from sklearn.metrics import roc_auc_score

    ok = (d["label"] >= 0) & np.isfinite(d["score"])
    y = d["label"][ok]
    return float(roc_auc_score(y, d["score"][ok])) if len(np.unique(y)) == 2 else float("nan")


def is_baseline(method: str) -> bool:
    return method.startswith("baseline/")


def ranked_methods(scores: dict[str, dict[str, np.ndarray]], recommended: str | None = None) -> list[tuple[str, float]]:
    """Methods by pooled AUC, best first (NaN AUC last), the ``recommended`` one first whatever its
    AUC; baselines are left out (they are reference lines, not candidates)."""
    aucs = [(m, _auc(d)) for m, d in scores.items() if not is_baseline(m)]
    ranked = sorted(aucs, key=lambda t: -np.nan_to_num(t[1], nan=-1.0))
    return sorted(ranked, key=lambda t: t[0] != recommended)


def recommended_method(run: Path) -> str | None:
    """The method the run recommends (selection.json / recommended.json), or None."""
    selection, _ = read_selection(run)
    rec = (selection or {}).get("recommended")
    return str(rec["method"]) if rec else None


def fold_mean_auc(run: Path) -> dict[str, float]:
    """Mean AUC over folds of each method (results.csv ``auc_mean``)."""
    path = run / "results.csv"
    return {r["method"]: csv_float(r.get("auc_mean", "")) for r in read_csv(path)} if path.exists() else {}


def section_roc(scores: dict | None, recommended: str | None = None, fold_mean: dict[str, float] | None = None) -> str:
    if scores is None:
        return missing("scores.csv")
    ranked = [(m, a) for m, a in ranked_methods(scores, recommended) if np.isfinite(a)]
    if not ranked:
        return missing("labelled scores (every label in scores.csv is unknown)")
    shown = ranked[:MAX_ROC]
    curves = {}
    for m, _ in shown:
        d = scores[m]
        ok = (d["label"] >= 0) & np.isfinite(d["score"])
        curves[m] = (d["label"][ok], d["score"][ok])
    rec = (f"The recommended method (★, thick line) first, then the" if recommended in curves else "The")
    note = (f"<p>{rec} methods of highest pooled AUC ({len(shown)} of {len(ranked)}). Pooled AUC: all held-out "
            "scores of all folds in one curve; fold-mean AUC: the mean of the per-fold AUCs (results.csv). "
            "Baselines are not drawn: they lie on the chance line.</p>")
    return note + img_tag(roc_figure(curves, fold_mean, recommended), "ROC curves")


def section_scores(scores: dict | None, recommended: str | None = None) -> str:
    if scores is None:
        return missing("scores.csv")
    figs = []
    for m, _ in ranked_methods(scores, recommended)[:MAX_HIST]:
        d = scores[m]
        groups = {s: d["score"][(d["split"] == s) & np.isfinite(d["score"])] for s in
                  ("real_used", "real_not_used", "real_unknown", "generated")}
        groups = {k: v for k, v in groups.items() if len(v)}
        figs.append(img_tag(score_hist_figure(m, groups), f"scores of {m}", "fig small"))
    note = ("<p>Held-out scores of the real images, U against NU (generated images are not scored "
            "by evaluate; they appear in the fingerprint map). The recommended method first; baselines are not "
            "drawn (all-used gives every image the same score).</p>")
    return note + "<div class='grid'>" + "".join(figs) + "</div>"


# -------------------------------------------------------------------------------------- map
def fingerprint_files(run: Path) -> list[tuple[str, Path]]:
    """(title, path) of every fingerprint file: evaluate's fingerprints/<tag>/<name>.npz (the first
    fold of each extractor, or ``all``) or a fit run's fingerprints.npz."""
    out = []
    if (run / "fingerprints.npz").exists():
        out.append(("fingerprints.npz", run / "fingerprints.npz"))
    seen = set()
    for p in sorted((run / "fingerprints").glob("*/*.npz"),
                    key=lambda p: (p.stem, p.parent.name != "all", _fold_number(p.parent.name))):
        if p.stem not in seen and p.stem != "raw":
            seen.add(p.stem)
            out.append((f"{p.stem} ({p.parent.name})", p))
    return out


def embed_2d(X: np.ndarray, tsne: bool, seed: int = 0) -> tuple[np.ndarray, str]:
    """(N, D) -> (N, 2) by PCA, or t-SNE on the first 50 principal components."""
    from sklearn.decomposition import PCA

    X = X.reshape(len(X), -1).astype(np.float64)
    n_comp = min(50 if tsne else 2, X.shape[0], X.shape[1])
    Z = PCA(n_components=n_comp, random_state=seed).fit_transform(X)
    if tsne and len(X) > 5:
        from sklearn.manifold import TSNE

        return TSNE(n_components=2, init="pca", random_state=seed,
                    perplexity=min(30.0, (len(X) - 1) / 3)).fit_transform(Z), "t-SNE"
    if Z.shape[1] < 2:
        Z = np.pad(Z, ((0, 0), (0, 2 - Z.shape[1])))
    return Z[:, :2], "PCA"


def section_map(run: Path, tsne: bool, seed: int = 0) -> str:
    files = fingerprint_files(run)
    note = ""
    if not files and (run / "images.npz").exists():
        files = [("pixels of images.npz", run / "images.npz")]
        note = "<p>No fingerprints in this run (pixel-space methods only): the map shows the pixels.</p>"
    if not files:
        return missing("fingerprints (fingerprints/*/*.npz or fingerprints.npz)")
    figs = []
    rng = np.random.default_rng(seed)
    for title, path in files:
        try:
            z = load_npz(path)
            X, split = (z["X"] if "X" in z else z["pixels"] / 255.0), z["split"].astype(str)
        except (OSError, KeyError, ValueError) as e:
            figs.append(f"<p class='missing'>{esc(path.name)}: unreadable ({esc(e)})</p>")
            continue
        if len(X) > MAX_MAP_POINTS:
            keep = np.sort(rng.choice(len(X), MAX_MAP_POINTS, replace=False))
            X, split = X[keep], split[keep]
        xy, how = embed_2d(X, tsne, seed)
        figs.append(img_tag(map_figure(title, xy, split, how), f"{how} map of {title}", "fig small"))
    return note + "<div class='grid'>" + "".join(figs) + "</div>"


# -------------------------------------------------------------------------------------- training
def train_logs(run: Path) -> tuple[list[tuple[str, Path]], int]:
    """(title, path) of one training log per extractor (``all``, else its first fold), and how many
    other logs (later folds) there are."""
    logs = []
    if (run / "train_log.csv").exists():
        logs.append(("train_log.csv", run / "train_log.csv"))
    found = sorted((run / "extractors").glob("*/*/train_log.csv"),
                   key=lambda p: (p.parent.name, p.parent.parent.name != "all", _fold_number(p.parent.parent.name)))
    seen = set()
    for p in found:
        if p.parent.name not in seen:
            seen.add(p.parent.name)
            logs.append((f"{p.parent.name} ({p.parent.parent.name})", p))
    return logs, len(found) - len(seen)


def _fold_number(tag: str) -> int:
    return int(tag[5:]) if tag.startswith("fold-") and tag[5:].isdigit() else -1


def section_training(run: Path, max_plots: int = 12) -> str:
    logs, others = train_logs(run)
    if not logs:
        return missing("training logs (extractors/*/*/train_log.csv or train_log.csv)")
    figs = []
    for title, path in logs[:max_plots]:
        rows = read_csv(path)
        if not rows:
            continue
        cols = [c for c in rows[0] if c not in ("epoch", "seconds", "lr")]
        epochs = [csv_float(r.get("epoch", i + 1)) for i, r in enumerate(rows)]
        series = {c: [csv_float(r[c]) for r in rows] for c in cols}
        series = {c: v for c, v in series.items() if np.isfinite(v).any()}
        figs.append(img_tag(curves_figure(title, epochs, series), f"training of {title}", "fig small"))
    more = f"<p>One log per extractor is drawn; {others} logs of other folds are in the run folder.</p>" if others else ""
    return "<div class='grid'>" + "".join(figs) + "</div>" + more


__all__ = ["SECTIONS", "SET_LABELS", "fold_mean_auc", "is_baseline", "recommended_method", "section_groups", "section_verdict", "esc", "image_to_base64", "img_tag", "missing", "read_scores",
           "ranked_methods", "section_map", "section_results", "section_roc", "section_run",
           "section_scores", "section_training"]
