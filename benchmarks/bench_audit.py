"""The auditor's job, timed end to end: ``trainprint audit GENERATED REAL --reference REF`` on
10,000 generated x 200 audited x 256 px, cold and warm decode cache (docs/scale.md, "The audit").

    flock /work/heavy.lock python benchmarks/bench_audit.py --work /tmp/bench-audit --out /tmp/bench-audit/table.md \\
        --recall 5 300

The data are made under ``--work`` (no download; kept for the next run) from the ctmem64 benchmark,
upscaled from 64 to ``--size`` px (bicubic):
- audited: ctmem64 test's 200 real images; the reference (known non-members): ctmem64 dev's
  ``real_not_used`` (80 images);
- generated: perturbed copies (a shift of up to ``size / 32`` px, Gaussian noise of sd 4 grey levels)
  of ctmem64 dev's 500 generated images, and ``--members`` of the audited images each copied
  ``--copies`` times the same way (planted members: the audit has something to find; which ones is
  this script's choice, not a benchmark key).

Each run is a child process (``python -m trainprint audit ... --cache-dir WORK/cache``): ``cold``
starts with an empty cache, ``warm`` reads the decoded pixels the cold run left there. Reported:
wall time, peak RSS (``os.wait4``'s ``ru_maxrss``: the largest process of the run), the stages of
``run.json`` (the loading is the wall time before them), the matmul FLOP/s of this machine measured
in the same run, and the audit's verdict and how many planted members it called used.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _child import run_child  # noqa: E402
from _machine import measure_matmul_flops  # noqa: E402

BENCH = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "ctmem64"


def _up(img: np.ndarray, size: int) -> np.ndarray:
    return np.asarray(Image.fromarray(img).resize((size, size), Image.BICUBIC))


def _write_generated(args: tuple[str, int, int, int, int]) -> int:
    """Write generated images ``lo .. hi - 1`` (child process)."""
    work, lo, hi, size, seed = args
    base = np.load(Path(work) / "sources.npy")  # (b, 64, 64) uint8: what each generated image copies
    for i in range(lo, hi):
        path = Path(work) / "generated" / f"g{i:05d}.png"
        if path.exists():
            continue
        rng = np.random.default_rng([seed, i])
        img = _up(base[i % len(base)], size).astype(np.float32)
        shift = max(1, size // 32)
        img = np.roll(img, tuple(rng.integers(-shift, shift + 1, 2)), axis=(0, 1))
        img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(path, compress_level=1)
    return hi - lo


def build(work: Path, n_gen: int, size: int, members: int, copies: int, seed: int = 0) -> dict[str, Path]:
    """The three folders under ``work`` (kept when ``work/.done-<n>-<size>`` exists)."""
    from trainprint.data import load_dev
    from trainprint.data.plain import load_plain_folders

    folders = {k: work / k for k in ("generated", "real", "reference")}
    tag = work / f".done-{n_gen}-{size}-{members}-{copies}-{seed}"
    if tag.exists():
        return folders
    if work.exists():
        shutil.rmtree(work)
    for f in folders.values():
        f.mkdir(parents=True)
    t0 = time.perf_counter()
    dev = load_dev(BENCH / "dev", cache_dir=False)
    (real,) = load_plain_folders([(BENCH / "test" / "real_unknown", "real_unknown", "REAL_DIR")], cache_dir=False)
    for name, images in (("real", real), ("reference", dev.where("real_not_used"))):
        for i, img in zip(images.ids, images.pixels):
            Image.fromarray(_up(img, size)).save(folders[name] / f"{i}.png", compress_level=1)
    planted = np.random.default_rng(seed).choice(len(real), members, replace=False)
    sources = np.concatenate([np.repeat(real.pixels[planted], copies, axis=0), dev.where("generated").pixels])
    np.save(work / "sources.npy", sources)
    (work / "planted.json").write_text(json.dumps(sorted(str(real.ids[i]) for i in planted)))
    step = 1000
    jobs = [(str(work), lo, min(n_gen, lo + step), size, seed) for lo in range(0, n_gen, step)]
    with Pool(min(2, os.cpu_count() or 1)) as pool:
        for _ in pool.imap_unordered(_write_generated, jobs):
            pass
    print(f"built {n_gen} generated, {len(real)} audited, {len(dev.where('real_not_used'))} reference images "
          f"({size} px) in {time.perf_counter() - t0:.0f} s", flush=True)
    tag.touch()
    return folders


def run_audit(folders: dict[str, Path], out: Path, cache: Path, extra: list[str]) -> dict:
    """One ``trainprint audit`` child: wall seconds, peak RSS (GiB), stages, summary."""
    cmd = [sys.executable, "-m", "trainprint", "audit", str(folders["generated"]), str(folders["real"]),
           "--reference", str(folders["reference"]), "--out", str(out), "--cache-dir", str(cache), "--no-progress",
           *extra]
    wall, peak = run_child(cmd, out)
    run = json.loads((out / "run.json").read_text())
    summary = json.loads((out / "audit.json").read_text())
    return {"wall_s": wall, "peak_rss_gib": peak / 2**30, "stages": run.get("timings_s", {}),
            "stage_rss_mib": run.get("peak_rss_mib", {}), "summary": summary, "rows": (out / "audit.csv").read_text().splitlines()}


def recall(folders: dict[str, Path], n_real: int, n_gen: int, seed: int = 0) -> dict[str, float]:
    """Two-stage candidate recall on these data, against the exhaustive SSIM of samples: recall@1 /
    @10 of ``n_real`` audited images against every generated image, nearest-real recall of ``n_gen``
    generated images against every audited and reference image (as the audit pools them)."""
    from trainprint.data.plain import load_plain_folders
    from trainprint.similarity.generated import GeneratedSet, SearchPlan
    from trainprint.similarity.twostage import candidate_recall

    gen, real, ref = load_plain_folders([(folders["generated"], "generated", "GENERATED_DIR"),
                                         (folders["real"], "real_unknown", "REAL_DIR"),
                                         (folders["reference"], "real_not_used", "--reference")], cache_dir=False)
    C = np.concatenate([real.pixels, ref.pixels]).astype(np.float32) / 255.0
    plan = SearchPlan("two-stage")
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(real), min(n_real, len(real)), replace=False))
    res = candidate_recall("ssim", C[pick], GeneratedSet(gen.pixels, plan, divisor=255.0), plan)
    gi = np.sort(rng.choice(len(gen), min(n_gen, len(gen)), replace=False))
    res["nearest_real_recall"] = candidate_recall("ssim", C, gen.pixels[gi].astype(np.float32) / 255.0,
                                                  plan)["nearest_real_recall"]
    res.update(sample_real=float(len(pick)), sample_gen=float(len(gi)))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the data, the cache and the runs")
    ap.add_argument("--n-gen", type=int, default=10_000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--members", type=int, default=40, help="audited images planted in the generated set")
    ap.add_argument("--copies", type=int, default=5, help="generated copies of each planted image")
    ap.add_argument("--out", type=Path, default=None, help="write the table here (markdown) too")
    ap.add_argument("--recall", type=int, nargs=2, default=None, metavar=("N_REAL", "N_GEN"),
                    help="also measure the two-stage candidate recall on samples of this many audited and "
                         "generated images (against the exhaustive SSIM)")
    ap.add_argument("--runs", nargs="+", choices=("cold", "warm"), default=["cold", "warm"],
                    help="which runs (warm reads the cache a cold run of this call left)")
    ap.add_argument("audit_args", nargs="*", help="more options for trainprint audit (after --)")
    args = ap.parse_args()
    import torch

    folders = build(args.work, args.n_gen, args.size, args.members, args.copies)
    planted = set(json.loads((args.work / "planted.json").read_text()))
    peak = measure_matmul_flops()
    lines = [f"matmul {peak / 1e9:.1f} GFLOP/s (float32, {torch.get_num_threads()} threads, measured now); "
             f"{args.n_gen:,} generated x {len(list(folders['real'].iterdir()))} audited x "
             f"{len(list(folders['reference'].iterdir()))} reference images, {args.size} px",
             "", "| run | wall (s) | peak RSS: GiB (GB) | load (s) | stages (s; peak RSS so far at its end, GiB) | verdict | "
             "planted members called used |", "|---|---|---|---|---|---|---|"]
    cache = args.work / "cache"
    if cache.exists():
        shutil.rmtree(cache)
    results = {}
    for name in args.runs:
        r = run_audit(folders, args.work / f"run-{name}", cache, args.audit_args)
        results[name] = r
        stages = r["stages"]
        load = r["wall_s"] - sum(stages.values())
        used = [row.split(",")[1] for row in r["rows"][1:] if row.split(",")[2] == "used"]
        found = len(planted & set(used))
        peak = f"{r['peak_rss_gib']:.3f} ({r['peak_rss_gib'] * 2**30 / 1e9:.3f})"
        lines.append(f"| {name} | {r['wall_s']:.1f} | {peak} | {load:.1f} | "
                     + ", ".join(f"{k} {v:.1f}" + (f" ({r['stage_rss_mib'][k] / 1024:.2f})" if k in r["stage_rss_mib"]
                                                                 else "") for k, v in stages.items())
                     + f" | {r['summary']['verdict']} | {found} of {len(planted)} ({len(used)} called in all) |")
        print(lines[-1], flush=True)
    notes = results[args.runs[0]]["summary"].get("notes", [])
    lines += ["", *[f"- {n}" for n in notes if "search" in n]]
    if args.recall:
        t0 = time.perf_counter()
        r = recall(folders, *args.recall)
        lines.append(f"- two-stage candidate recall (samples of {r['sample_real']:.0f} audited and "
                     f"{r['sample_gen']:.0f} generated images, {time.perf_counter() - t0:.0f} s): top-1 "
                     f"{r['recall@1']:.4f}, top-10 {r['recall@10']:.4f}, nearest real {r['nearest_real_recall']:.4f}")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)


if __name__ == "__main__":
    main()
