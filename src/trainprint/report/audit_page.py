"""``audit.html``: the page a person decides from, built only from the files of an audit run folder.

Reads ``audit.json`` (verdict, test, estimate, confidence, notes), ``patients.csv`` (one row per
patient, most suspicious first), ``audit.csv`` (one row per audited image), ``audit_images.npz`` (the audited images and their
neighbours, at most 64 px), ``reference_scores.csv`` (with a reference) and ``run.json``.

Order of the page: the patients, most suspicious first, each as a strip of its slices with the
nearest generated image under each (paged); the overall verdict with its test and p-value, the estimated number of members
with its interval, how confident the tool is; every image called used, most suspicious first, as a
row of thumbnails (the real image, its nearest generated images with their similarities, and the
difference map of the closest); the borderline images; every image in a paged table; the method's
details. Images are stored once (base64 PNG in a JSON block) and put on the page only for the rows
of the page shown, so 10,000 rows stay usable; nothing is fetched, the file opens offline. When
every image of the shown pages has loaded (or failed), the page's script sets
``data-images-loaded`` / ``data-images-broken`` on ``<body>`` (read by the browser test). The
page says at its top that it embeds image thumbnails (patient data: docs/data.md).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.core.files import csv_float, load_npz, read_csv, read_json, write_text
from trainprint.core.runs import check_out_dir
from trainprint.core.version import __version__
from trainprint.report.plots import fig_to_base64, image_to_base64
from trainprint.report.sections import esc, img_tag, section_run

MAX_GALLERY_ROWS = 200  # rows with thumbnails per gallery section (the rest: audit.csv and the table)
MAX_PATIENT_STRIPS = 100  # patients drawn as strips of thumbnails (the rest: patients.csv and its table)
STRIP_SLICES = 8  # slices drawn per patient strip (its most suspicious)
PAGE_ROWS = 20  # gallery rows per page
TABLE_ROWS = 50  # table rows per page
THUMB_SCALE = 2  # thumbnails are drawn at this many times their stored size (at most 64 px stored)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:20px auto;max-width:1250px;
color:#222;line-height:1.4;padding:0 16px}
h1{font-size:23px;margin-bottom:2px} h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:32px}
.sub{color:#666;margin-top:0} nav a{margin-right:14px}
.verdict{font-size:22px;font-weight:700;margin:6px 0} .ev{color:#b3261e} .no{color:#333} .nt{color:#666}
.cards{display:flex;flex-wrap:wrap;gap:14px} .card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;
flex:1 1 330px;background:#fafafa} .card h3{margin:0 0 6px;font-size:15px} .big{font-size:20px;font-weight:700}
small,.muted{color:#666} table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;vertical-align:top} th{background:#f4f4f4}
table.kv th{width:170px} td.m{font-family:monospace}
.grow{display:flex;align-items:flex-end;gap:8px;margin:6px 0;padding:6px;border-bottom:1px solid #eee;flex-wrap:wrap}
.cell{text-align:center;font-size:11px;color:#444;width:136px;overflow-wrap:anywhere}
.cell img{display:block;margin:0 auto 2px;border:1px solid #ccc;image-rendering:pixelated;width:128px;height:128px}
.real img{border:3px solid #d62728} .diff img{border:1px dashed #888} .meta{font-size:12px;width:170px}
.strip{display:flex;align-items:flex-start;gap:6px;margin:6px 0;padding:6px;border-bottom:1px solid #eee;flex-wrap:wrap}
.pair{text-align:center;font-size:10px;color:#444;width:92px;overflow-wrap:anywhere}
.pair img{display:block;margin:0 auto 2px;border:1px solid #ccc;image-rendering:pixelated;width:88px;height:88px}
.pair img.r{border:2px solid #d62728}
.warn{background:#fff4e5;border-left:4px solid #e08a00;padding:6px 10px} .pager{margin:8px 0} .pager button{margin-right:6px} .tag{display:inline-block;padding:0 6px;border-radius:3px;
color:#fff;font-size:11px} .t-used{background:#d62728} .t-borderline{background:#e08a00} .t-not{background:#888}
"""

JS = r"""
const IMG = JSON.parse(document.getElementById('img-data').textContent);
const DATA = JSON.parse(document.getElementById('rows-data').textContent);
const COLS = DATA.columns, ROWS = DATA.rows, GAL = DATA.galleries;
let pending = 0, loaded = 0, broken = 0;
function settle(ok) { if (ok) loaded++; else broken++; pending--; mark(); }
function mark() {
  document.body.dataset.imagesLoaded = loaded; document.body.dataset.imagesBroken = broken;
  document.body.dataset.ready = pending === 0 ? '1' : '0';
}
function img(key, alt) {
  const el = document.createElement('img'); el.alt = alt;
  const b64 = IMG[key];
  pending++;
  el.onload = () => settle(el.naturalWidth > 0); el.onerror = () => settle(false);
  el.src = b64 ? 'data:image/png;base64,' + b64 : 'data:image/png;base64,';
  return el;
}
function cell(cls, key, alt, html) {
  const d = document.createElement('div'); d.className = 'cell ' + cls; d.appendChild(img(key, alt));
  const t = document.createElement('div'); t.innerHTML = html; d.appendChild(t); return d;
}
function esc(s) { return String(s).replace(/[&<>"']/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c])); }
function fmt(v) { if (v === '' || v === null || v === undefined) return '–'; const x = Number(v);
  return Number.isFinite(x) ? (Math.abs(x) >= 1e-3 || x === 0 ? x.toPrecision(3) : x.toExponential(2)) : esc(v); }
function col(r, name) { return r[COLS.indexOf(name)]; }
function pager(box, n, per, page, draw) {
  const pages = Math.max(1, Math.ceil(n / per)); box.innerHTML = '';
  if (pages < 2) return;
  const mk = (label, p, off) => { const b = document.createElement('button'); b.textContent = label; b.disabled = off;
    b.onclick = () => draw(p); box.appendChild(b); };
  mk('« first', 0, page === 0); mk('‹ previous', page - 1, page === 0);
  const s = document.createElement('span'); s.textContent = ` page ${page + 1} of ${pages} (${n} rows) `; box.appendChild(s);
  mk('next ›', page + 1, page >= pages - 1); mk('last »', pages - 1, page >= pages - 1);
}
function drawGallery(name, page) {
  const g = GAL[name], box = document.getElementById('g-' + name), nav = document.getElementById('p-' + name);
  box.innerHTML = '';
  const start = page * DATA.page_rows, idx = g.slice(start, start + DATA.page_rows);
  for (const i of idx) {
    const r = ROWS[i], id = col(r, 'id'), row = document.createElement('div'); row.className = 'grow';
    const meta = document.createElement('div'); meta.className = 'cell meta';
    meta.innerHTML = `<b>#${col(r, 'rank')}</b> ${esc(id)}<br>score ${fmt(col(r, 'score'))}` +
      (col(r, 'p_value') !== '' ? `<br>p ${fmt(col(r, 'p_value'))}, q ${fmt(col(r, 'q_value'))}` : '') +
      (col(r, 'probability') !== '' ? `<br>P(used) ${fmt(col(r, 'probability'))}` : '') +
      `<br><span class="tag t-${col(r, 'verdict').split(' ')[0]}">${esc(col(r, 'verdict'))}</span>`;
    row.appendChild(meta);
    row.appendChild(cell('real', 'r:' + id, 'real ' + id, 'real ' + esc(id)));
    for (let k = 1; k <= DATA.neighbours; k++) {
      const gid = col(r, 'neighbour_' + k); if (!gid) continue;
      row.appendChild(cell('', 'g:' + gid, 'generated ' + gid, esc(gid) + '<br>sim ' + fmt(col(r, 'similarity_' + k))));
    }
    row.appendChild(cell('diff', 'd:' + id, 'difference map of ' + id,
      '|real − nearest|<br>mean ' + fmt(DATA.diff_mean[id])));
    box.appendChild(row);
  }
  pager(nav, g.length, DATA.page_rows, page, p => drawGallery(name, p));
  mark();
}
function drawPatients(page) {
  const P = DATA.patients, box = document.getElementById('g-patients'), nav = document.getElementById('p-patients');
  if (!box) return;
  box.innerHTML = '';
  const byId = {}; ROWS.forEach(r => { byId[col(r, 'id')] = r; });
  for (const p of P.rows.slice(page * DATA.page_rows, (page + 1) * DATA.page_rows)) {
    const row = document.createElement('div'); row.className = 'strip';
    const meta = document.createElement('div'); meta.className = 'cell meta';
    meta.innerHTML = `<b>#${p.rank}</b> patient ${esc(p.group)}<br>${p.slices} slice${p.slices === 1 ? '' : 's'}, ` +
      `${p.slices_called} called<br>score ${fmt(p.score)}` + (p.p_value !== '' ? `<br>p ${fmt(p.p_value)}, q ${fmt(p.q_value)}` : '') +
      `<br><span class="tag t-${p.verdict.split(' ')[0]}">${esc(p.verdict)}</span>`;
    row.appendChild(meta);
    for (const id of p.shown) {
      const r = byId[id], gid = r ? col(r, 'neighbour_1') : '';
      const d = document.createElement('div'); d.className = 'pair';
      const a = img('r:' + id, 'slice ' + id); a.className = 'r'; d.appendChild(a);
      const t = document.createElement('div'); t.innerHTML = esc(id) + '<br>score ' + fmt(r ? col(r, 'score') : ''); d.appendChild(t);
      if (gid) { d.appendChild(img('g:' + gid, 'nearest generated ' + gid));
        const u = document.createElement('div'); u.innerHTML = esc(gid) + '<br>sim ' + fmt(col(r, 'similarity_1')); d.appendChild(u); }
      row.appendChild(d);
    }
    if (p.slices > p.shown.length) { const m = document.createElement('div'); m.className = 'cell meta';
      m.textContent = `+ ${p.slices - p.shown.length} more slices (patients.csv)`; row.appendChild(m); }
    box.appendChild(row);
  }
  pager(nav, P.rows.length, DATA.page_rows, page, drawPatients);
  mark();
}
let tablePage = 0, tableFilter = '';
function drawTable(page) {
  tablePage = page;
  const keep = ROWS.filter(r => !tableFilter || String(col(r, 'id')).includes(tableFilter) || col(r, 'verdict') === tableFilter);
  const body = document.getElementById('t-body'); body.innerHTML = '';
  for (const r of keep.slice(page * DATA.table_rows, (page + 1) * DATA.table_rows)) {
    const tr = document.createElement('tr');
    tr.innerHTML = DATA.table_columns.map(c => `<td>${['rank', 'id', 'verdict', 'neighbour_1'].includes(c) ? esc(col(r, c)) : fmt(col(r, c))}</td>`).join('');
    body.appendChild(tr);
  }
  pager(document.getElementById('p-table'), keep.length, DATA.table_rows, page, drawTable);
}
document.getElementById('t-filter').oninput = e => { tableFilter = e.target.value.trim(); drawTable(0); };
drawPatients(0);
for (const name of Object.keys(GAL)) if (GAL[name].length) drawGallery(name, 0);
drawTable(0);
document.querySelectorAll('img[data-static]').forEach(el => { pending++;
  if (el.complete) settle(el.naturalWidth > 0); else { el.onload = () => settle(el.naturalWidth > 0); el.onerror = () => settle(false); } });
mark();
"""


def build_audit_page(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``audit.html`` of the audit run folder ``run_dir`` (default ``run_dir/audit.html``)."""
    run = Path(run_dir)
    need = ("audit.json", "audit.csv", "audit_images.npz")
    lacking = [n for n in need if not (run / n).is_file()]
    if lacking:
        raise TrainprintError(f"audit page: {run} lacks {', '.join(lacking)}; expected the run folder of "
                              "`trainprint audit`")
    out_path = Path(out) if out is not None else run / "audit.html"
    check_out_dir(out_path.parent, "audit page --out")
    summary = read_json(run / "audit.json")
    rows = read_csv(run / "audit.csv")
    imgs = load_npz(run / "audit_images.npz")
    ref = [csv_float(r["score"]) for r in read_csv(run / "reference_scores.csv")] \
        if (run / "reference_scores.csv").is_file() else None

    patients = read_csv(run / "patients.csv") if (run / "patients.csv").is_file() else []
    galleries = {v: [i for i, r in enumerate(rows) if r["verdict"] == v][:MAX_GALLERY_ROWS]
                 for v in ("used", "borderline")}
    store, diff_mean = _image_store(rows, imgs, sorted(set(galleries["used"] + galleries["borderline"])))
    strips = _patient_strips(patients, rows, imgs, store)
    columns = list(rows[0]) if rows else []
    data = {"columns": columns, "rows": [[r[c] for c in columns] for r in rows], "galleries": galleries,
            "neighbours": int(summary.get("neighbours", 5)), "page_rows": PAGE_ROWS, "table_rows": TABLE_ROWS,
            "diff_mean": diff_mean, "patients": {"rows": strips},
            "table_columns": [c for c in ("rank", "id", "verdict", "score", "p_value", "q_value", "probability",
                                          "neighbour_1", "similarity_1") if c in columns]}
    sections = [
        *([("patients", f"Patients ({len(patients)}; {sum(p['verdict'] == 'used' for p in patients)} called used)",
            _patients_intro(summary, patients))] if patients else []),
        ("verdict", "Verdict", _verdict(summary)),
        ("used", f"Called used ({summary['called'].get('used', 0)})", _gallery_intro(summary, rows, "used")),
        ("borderline", f"Borderline ({summary['called'].get('borderline', 0)})",
         _gallery_intro(summary, rows, "borderline")),
        ("all", f"Every audited image ({len(rows)})", _table_html(data["table_columns"])),
        ("method", "Method and details", _details(summary, rows, ref)),
        ("run", "Run", section_run(run)),
    ]
    nav = "".join(f'<a href="#{sid}">{esc(title)}</a>' for sid, title, _ in sections)
    body = "\n".join(f'<section id="{sid}"><h2>{esc(title)}</h2>\n{html}\n</section>' for sid, title, html in sections)
    blob = lambda obj: json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")  # noqa: E731
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>trainprint audit: {esc(run.name)}"
            f"</title><style>{CSS}</style></head><body data-ready='0'>"
            f"<h1>trainprint audit: {esc(run.resolve().name)}</h1>"
            f"<p class='sub'>{len(rows)} real images of <code>{esc(summary['folders']['real'])}</code> against "
            f"{summary['counts']['generated']} generated images of <code>{esc(summary['folders']['generated'])}</code>. "
            f"Built {time.strftime('%Y-%m-%d %H:%M')} by trainprint {__version__} from the files of the "
            f"run folder only.</p>"
            "<p class='sub'><b>This file embeds image thumbnails</b> (the audited real images and their nearest "
            f"generated images, at most 64 px): share it only where those images may go.</p><nav>{nav}</nav>"
            "<noscript><p><b>This page draws its image rows with JavaScript; audit.csv holds the same rows.</b></p>"
            f"</noscript>{body}"
            f"<script type='application/json' id='img-data'>{blob(store)}</script>"
            f"<script type='application/json' id='rows-data'>{blob(data)}</script>"
            f"<script>{JS}</script></body></html>")
    write_text(out_path, page)
    return out_path


# -------------------------------------------------------------------------------------- images
def _image_store(rows: list[dict[str, str]], imgs: dict[str, np.ndarray],
                 shown: list[int]) -> tuple[dict[str, str], dict[str, float]]:
    """Base64 PNGs of the gallery rows' images, each once: ``r:<id>`` real, ``g:<id>`` generated,
    ``d:<id>`` the difference map of a real image and its nearest generated image; and the mean
    absolute difference (0-255) of each of those pairs."""
    real_row = {i: k for k, i in enumerate(imgs["real_ids"].astype(str))}
    gen_row = {i: k for k, i in enumerate(imgs["gen_ids"].astype(str))}
    store: dict[str, str] = {}
    diff_mean: dict[str, float] = {}
    for i in shown:
        r = rows[i]
        rid = r["id"]
        real = imgs["real_pixels"][real_row[rid]]
        store[f"r:{rid}"] = image_to_base64(real, scale=1)
        for k in range(1, 6):
            gid = r.get(f"neighbour_{k}", "")
            if gid and f"g:{gid}" not in store and gid in gen_row:
                store[f"g:{gid}"] = image_to_base64(imgs["gen_pixels"][gen_row[gid]], scale=1)
        near = r.get("neighbour_1", "")
        if near in gen_row:
            diff = np.abs(real.astype(np.int16) - imgs["gen_pixels"][gen_row[near]].astype(np.int16))
            store[f"d:{rid}"] = _heat_png(diff)
            diff_mean[rid] = round(float(diff.mean()), 2)
    return store, diff_mean


def _patient_strips(patients: list[dict[str, str]], rows: list[dict[str, str]], imgs: dict[str, np.ndarray],
                    store: dict[str, str]) -> list[dict[str, Any]]:
    """The first ``MAX_PATIENT_STRIPS`` patients with their ``STRIP_SLICES`` most suspicious slices
    (``shown``); the slices and their nearest generated images are added to ``store``."""
    real_row = {i: k for k, i in enumerate(imgs["real_ids"].astype(str))}
    gen_row = {i: k for k, i in enumerate(imgs["gen_ids"].astype(str))}
    rank = {r["id"]: int(r["rank"]) for r in rows}
    near = {r["id"]: r.get("neighbour_1", "") for r in rows}
    out = []
    for p in patients[:MAX_PATIENT_STRIPS]:
        shown = sorted(p["slice_ids"].split(), key=lambda i: rank.get(i, 0))[:STRIP_SLICES]
        for i in shown:
            if f"r:{i}" not in store and i in real_row:
                store[f"r:{i}"] = image_to_base64(imgs["real_pixels"][real_row[i]], scale=1)
            g = near.get(i, "")
            if g and f"g:{g}" not in store and g in gen_row:
                store[f"g:{g}"] = image_to_base64(imgs["gen_pixels"][gen_row[g]], scale=1)
        out.append({"rank": int(p["rank"]), "group": p["group"], "slices": int(p["slices"]), "score": p["score"],
                    "p_value": p["p_value"], "q_value": p["q_value"], "verdict": p["verdict"],
                    "slices_called": int(p["slices_called"]), "shown": shown})
    return out


def _patients_intro(s: dict[str, Any], patients: list[dict[str, str]]) -> str:
    pat = s.get("patients", {})
    more = (f" The first {MAX_PATIENT_STRIPS} are drawn; every patient is in patients.csv."
            if len(patients) > MAX_PATIENT_STRIPS else "")
    return (f"<p>A generator trained on a patient or it did not: the slices of one patient (its sibling group) are "
            f"one unit of evidence. Patients most suspicious first; each row shows up to {STRIP_SLICES} of its slices "
            "(red frame) with the nearest generated image under each. A patient is "
            f"{esc(pat.get('rule', ''))}. Verdict of the whole audit: <b>{esc(s['verdict'])}</b> (below).{more}</p>"
            "<div class='pager' id='p-patients'></div><div id='g-patients'></div>")


def _heat_png(diff: np.ndarray) -> str:
    """(h, w) absolute differences 0-255 -> base64 PNG in the magma colour map (black = equal)."""
    import base64
    import io

    from matplotlib import colormaps
    from PIL import Image

    rgb = (colormaps["magma"](diff / 255.0)[..., :3] * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb, mode="RGB").save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


# -------------------------------------------------------------------------------------- sections
def _verdict(s: dict[str, Any]) -> str:
    verdict, test, est, conf = s["verdict"], s["test"], s["estimate"], s.get("confidence")
    cls = "ev" if verdict.startswith("evidence") else "no" if verdict.startswith("no evidence") else "nt"
    if test.get("p_value") is not None:
        how = (f"{esc(test['test'])}: p = {test['p_value']:.4g} (alpha {test.get('alpha', 0.05)}). "
               f"Null: {esc(test['null'])}.")
        if test.get("kind") == "reference":
            how += (f" AUC of the audited images against the reference: {test['auc_audited_vs_reference']:.3f} "
                    "(0.5: they score alike).")
    else:
        how = esc(test.get("why", "not tested"))
    if est.get("members") is not None:
        e_html = (f"<div class='big'>{est['members']:.1f} of {est['n']} "
                  f"<small>[95% interval {est['ci95'][0]:.1f} to {est['ci95'][1]:.1f}]</small></div>"
                  f"<small>{esc(est['method'])}.</small>")
    else:
        e_html = (f"<div class='big'>not estimable</div><small>{esc(est.get('why', ''))}"
                  + (f"; the rule calls {est['called_used']} of {est['n']} used" if "called_used" in est else "")
                  + ".</small>")
    if conf and conf.get("selection_aware"):
        sa, rec = conf["selection_aware"], conf["recommended"]
        c_html = (f"<div class='big'>accuracy {sa['accuracy']:.3f} <small>[95% {sa['accuracy_ci95'][0]:.3f}, "
                  f"{sa['accuracy_ci95'][1]:.3f}]</small></div><small>Selection-aware estimate on the dev set "
                  f"(choose the best of {rec['candidates']} candidates on the other folds, score it on the held-out "
                  f"fold); MCC {sa['mcc']:.3f} [{sa['mcc_ci95'][0]:.3f}, {sa['mcc_ci95'][1]:.3f}]. Chance is 0.5 "
                  f"accuracy, 0 MCC. The recommended <code>{esc(rec['method'])}</code> alone reached CV MCC "
                  f"{rec['mcc_mean']:.3f}, biased upwards as the best of many.</small>")
    else:
        c_html = ("<div class='big'>unknown</div><small>No labelled dev set was given (<code>--dev</code>), so the "
                  "method's accuracy on data like this was not measured. "
                  + ("The p-values and the test above need no such measurement." if s["mode"].startswith("reference")
                     else "Treat the calls below as a ranking to look at, not as findings.") + "</small>")
    if cls == "no":
        how += (" <i>No evidence is not proof of absence: a weak method misses members that score like "
                "non-members (see how confident the tool is).</i>")
    return (f"<div class='verdict {cls}'>{esc(verdict)}</div><p>{how}</p><div class='cards'>"
            f"<div class='card'><h3>How many audited {esc(est.get('unit', 'images'))} were in training</h3>"
            f"{e_html}</div>"
            f"<div class='card'><h3>How confident the tool is</h3>{c_html}</div></div>"
            f"<p><small>Per image: {esc(s.get('per_image', ''))}. Method <code>{esc(s['method'])}</code> "
            f"({esc(s['method_source'])}).</small></p>")


def _gallery_intro(s: dict[str, Any], rows: list[dict[str, str]], verdict: str) -> str:
    n = sum(r["verdict"] == verdict for r in rows)
    if verdict == "used":
        text = (f"{n} images called used, most suspicious first. Each row: the real image (red frame), its "
                f"{s.get('neighbours', 5)} most similar generated images ({esc(s['evidence_space'])} similarity, "
                "higher = more alike) and the difference map of the closest (black = equal). A near copy is "
                "direct evidence that the generator saw the image.")
        if n == 0:
            text = ("No image is called used (" + esc(s.get("per_image", "")) + "). The most suspicious images are "
                    "under Borderline.")
    else:
        text = (f"The {n} most suspicious images that are not called used (at most {s.get('borderline_rows', 20)}), "
                "for a second look.")
    more = f" The first {MAX_GALLERY_ROWS} are drawn; every row is in audit.csv and the table below." \
        if n > MAX_GALLERY_ROWS else ""
    warn = ""
    if verdict == "used" and n and not str(s["verdict"]).startswith("evidence"):
        warn = (f"<p class='warn'><b>Read these calls with care:</b> the verdict above is "
                f"<i>{esc(s['verdict'])}</i>, so these are the method's own calls, with no evidence that they do "
                "better than chance here. Look at the neighbours: a near copy is evidence; a mere likeness is not."
                "</p>")
    return f"{warn}<p>{text}{more}</p><div class='pager' id='p-{verdict}'></div><div id='g-{verdict}'></div>"


def _table_html(columns: list[str]) -> str:
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    return ("<p>Every audited image, most suspicious first (the same rows as audit.csv). Filter by id or type a "
            "verdict (used, borderline, not flagged): <input id='t-filter' size='24'></p>"
            f"<div class='pager' id='p-table'></div><table><thead><tr>{head}</tr></thead><tbody id='t-body'>"
            "</tbody></table>")


def _details(s: dict[str, Any], rows: list[dict[str, str]], ref: list[float] | None) -> str:
    kv = [("mode", s["mode"]), ("method", f"{s['method']} ({s['method_source']})"),
          ("default label-free method", s["default_label_free_method"]),
          ("evidence space", f"{s['evidence_space']} (the nearest generated images are searched here)"),
          ("images", f"{s['counts']['audited']} audited, {s['counts']['generated']} generated, "
                     f"{s['counts']['reference']} reference" + (f", dev {s['counts']['dev']}" if s["counts"]["dev"]
                                                               else "")),
          ("per-image rule", s.get("per_image", "")),
          ("called", ", ".join(f"{v} {k}" for k, v in s["called"].items())),
          ("official run file", s.get("run_file") or "not written (REAL_DIR is not a task test folder's "
                                                      "real_unknown/ beside its generated/)")]
    test = s["test"]
    if test.get("p_value") is not None:
        kv.append(("test", ", ".join(f"{k} {v}" for k, v in test.items() if k not in ("kind",))))
    conf = s.get("confidence")
    if conf:
        null = conf.get("null_test") or {}
        kv.append(("dev-set null test", f"{null.get('test', '')}; p = {null.get('p_value')}; verdict "
                                        f"{conf.get('verdict')}"))
        if conf.get("excluded"):
            kv.append(("not recommendable", "; ".join(f"{m}: {why}" for m, why in conf["excluded"].items())))
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in kv)
    notes = "".join(f"<li>{esc(n)}</li>" for n in s.get("notes", []))
    figure = _score_figure(rows, ref, s["method"])
    return (f"<table class='kv'>{body}</table>" + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "")
            + figure)


def _score_figure(rows: list[dict[str, str]], ref: list[float] | None, method: str) -> str:
    """Histogram of the audited images' scores (and the reference's)."""
    import matplotlib.pyplot as plt

    from trainprint.report.plots import SET_COLOURS

    s = np.array([csv_float(r["score"]) for r in rows])
    s = s[np.isfinite(s)]
    if len(s) == 0:
        return ""
    fig, ax = plt.subplots(figsize=(6.0, 3.2))
    groups = {"audited": (s, SET_COLOURS["real_unknown"])}
    if ref:
        groups["reference (known non-members)"] = (np.asarray(ref), SET_COLOURS["real_not_used"])
    bins = np.histogram_bin_edges(np.concatenate([g for g, _ in groups.values()]), bins=24)
    for name, (v, c) in groups.items():
        ax.hist(v, bins=bins, alpha=0.55, density=True, color=c, label=f"{name} (n={len(v)})")
    ax.set(xlabel=f"score of {method} (higher = more likely used)", ylabel="density")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ("<h3>Scores</h3><p>The audited images' scores" + (" against the reference's: members among the "
            "audited images push their histogram to the right." if ref else ".") + "</p>"
            + img_tag(fig_to_base64(fig), "score histogram").replace("<img ", "<img data-static='1' ", 1))
