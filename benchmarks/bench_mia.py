"""Cost of issue 11's membership scores: n_real x n_gen images of side px, each method fitted and
scored from a cold similarity cache (its whole cost, as when it runs alone), against sim-ssim/realmax
(nearest-neighbour SSIM) as the yardstick; and the contrastive extractor's training throughput as a
share of this machine's conv FLOP/s.

    python benchmarks/bench_mia.py                                   # 200 x 10,000 at 256 px, pixel + ncc scores
    python benchmarks/bench_mia.py --methods 'mia-ssim/*,sim-ssim/realmax' --n-gen 1000
    python benchmarks/bench_mia.py --methods mia-disc/cnn
    python benchmarks/bench_mia.py --methods none --contrastive      # only the extractor's throughput
    python benchmarks/bench_mia.py --methods none --synthetic-table  # AUCs of tests/test_mia_synthetic.py's cases

Images are seeded smooth random textures (as in bench_similarity.py), float32 in [0, 1]; every real
image is in the pool (label-free fit, as ``submit`` does on a test set). Peak memory is the process's
maximum resident set size (``resource.getrusage``).
"""

from __future__ import annotations

import argparse
import fnmatch
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import measure_conv_flops  # noqa: E402

from trainprint.extractors.registry import make_extractor  # noqa: E402
from trainprint.membership.scores import clear_cache  # noqa: E402
from trainprint.methods import MIA_METHODS, SIMILARITY_METHODS, parse_method  # noqa: E402
from trainprint.nets.vectornet import conv_flops  # noqa: E402

NEW_RULES = tuple(m for m in SIMILARITY_METHODS if m.split("/")[1] in ("ranking", "clustering", "ensemble"))
DEFAULT = "mia-pixel/*,mia-ncc/*,sim-pixel/ranking,sim-pixel/clustering,sim-pixel/ensemble"


def images(n: int, side: int, seed: int) -> np.ndarray:
    """(n, side, side) float32 in [0, 1]: smooth random textures (blurred noise), made 500 at a time
    so that making them adds little to the peak memory."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, side, side), dtype=np.float32)
    for i in range(0, n, 500):
        b = min(500, n - i)
        x = rng.random((b, max(1, side // 8), max(1, side // 8)), dtype=np.float32)
        x = np.repeat(np.repeat(x, 8, 1), 8, 2)[:, :side, :side]
        out[i:i + b] = np.clip(x + 0.1 * rng.standard_normal(x.shape, dtype=np.float32), 0, 1)
    return out


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def bench_methods(ids: list[str], n_real: int, n_gen: int, side: int, header: bool = True) -> None:
    R, G = images(n_real, side, 1), images(n_gen, side, 2)
    if header:
        print(f"{n_real} real x {n_gen} generated, {side} px; cold cache per method; seconds are fit + score of "
              f"every real image; peak RSS of the process (OS), the images ({(R.nbytes + G.nbytes) / 1024**3:.2f} GB) "
              "included")
        print(f"{'method':<28} {'seconds':>9} {'peak RSS GB':>12}")
    y = np.arange(n_real) % 2  # labels for the methods that read them (timing only)
    for mid in ids:
        clear_cache()
        spec = parse_method(mid)
        est = spec.factory(0, "cpu")
        t = time.perf_counter()
        est.fit(R, y if spec.uses_labels else None, G, R)
        d = est.decision_function(R)
        dt = time.perf_counter() - t
        assert d.shape == (n_real,) and np.isfinite(d).all()
        print(f"{mid:<28} {dt:9.1f} {peak_gb():12.2f}", flush=True)


def bench_contrastive(n: int, side: int, epochs: int) -> None:
    X = np.round(images(n, side, 3) * 255).astype(np.uint8)
    split = np.array(["generated"] * n)
    ext = make_extractor("contrastive", preset="fast", epochs=epochs, device="cpu", random_state=0)
    t = time.perf_counter()
    ext.fit(X, split)
    dt = time.perf_counter() - t
    cfg = ext.config_
    train_s = sum(h["seconds"] for h in ext.history_)
    views = 2 * n * epochs  # two views of every image per epoch
    flops_per_view = 3 * conv_flops(cfg.arch, side)  # forward + backward ~ 3 forward passes
    peak = measure_conv_flops("cpu")
    rate = views * flops_per_view / train_s
    print(f"contrastive fast preset, {n} images of {side} px, {epochs} epochs: {dt:.1f} s in fit, "
          f"{train_s:.1f} s in the loop; {n * epochs / train_s:.1f} images/s ({views / train_s:.1f} views/s); "
          f"{rate / 1e9:.2f} GFLOP/s of conv work = {100 * rate / peak:.1f}% of this machine's "
          f"{peak / 1e9:.1f} GFLOP/s conv peak (torch threads {torch.get_num_threads()})")


def synthetic_table() -> None:
    """The AUC of every new method on tests/test_mia_synthetic.py's tasks, with the test's own functions:
    copies (seed 0) and independent samples (seeds 100-104), as a Markdown table."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import test_mia_synthetic as T  # noqa: PLC0415

    def run(task: object, methods: list[str]) -> dict[str, tuple[float, list[float]]]:
        out: dict[str, tuple[float, list[float]]] = {}
        copies = task("copies", 0)  # type: ignore[operator]
        indep = [task("independent", 100 + s) for s in T.SEEDS]  # type: ignore[operator]
        for m in methods:
            clear_cache()
            c = T.auc_of(m, *copies, 0)
            ind = []
            for s, t in zip(T.SEEDS, indep):
                clear_cache()
                ind.append(T.auc_of(m, *t, s))
            out[m] = (c, ind)
        return out

    rows = run(T.task, T.PIXEL_METHODS + ["sim-pixel/ranking", "sim-ssim/ranking", "mia-disc/cnn"])
    rows.update(run(T.contrastive_task, T.CONTRASTIVE_METHODS))
    print("| method | copies AUC (seed 0) | independent AUC, mean of 5 seeds (min-max) |")
    print("|---|---|---|")
    for m, (c, ind) in rows.items():
        print(f"| `{m}` | {c:.3f} | {np.mean(ind):.3f} ({min(ind):.2f}-{max(ind):.2f}) |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--methods", default=DEFAULT, help="comma-separated ids or globs over the new methods, or 'none'")
    ap.add_argument("--n-real", type=int, default=200)
    ap.add_argument("--n-gen", type=int, default=10_000)
    ap.add_argument("--side", type=int, default=256)
    ap.add_argument("--each-process", action="store_true", help="run every method in a process of its own")
    ap.add_argument("--no-header", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--contrastive", action="store_true", help="also time the contrastive extractor's training")
    ap.add_argument("--contrastive-images", type=int, default=640)
    ap.add_argument("--contrastive-side", type=int, default=64)
    ap.add_argument("--contrastive-epochs", type=int, default=2)
    ap.add_argument("--synthetic-table", action="store_true", help="print the AUCs of the synthetic test cases")
    a = ap.parse_args()
    pool = list(MIA_METHODS) + list(NEW_RULES) + ["sim-ssim/realmax", "sim-pixel/realmax", "sim-ncc/realmax"]
    pool += [m for m in a.methods.split(",") if m.startswith("mia-fusion+") and m not in pool]  # fusions over more spaces
    ids: list[str] = []
    if a.methods != "none":
        for item in a.methods.split(","):
            ids += [m for m in pool if fnmatch.fnmatchcase(m, item.strip()) and m not in ids]
    if ids and a.each_process and len(ids) > 1:  # one process per method: each peak RSS is its own
        print(f"{a.n_real} real x {a.n_gen} generated, {a.side} px; one process per method, cold cache; seconds are "
              "fit + score of every real image; peak RSS of that process (OS), its images included", flush=True)
        print(f"{'method':<28} {'seconds':>9} {'peak RSS GB':>12}", flush=True)
        for mid in ids:
            subprocess.run([sys.executable, __file__, "--methods", mid, "--n-real", str(a.n_real), "--n-gen",
                            str(a.n_gen), "--side", str(a.side), "--no-header"], check=True)
    elif ids:
        bench_methods(ids, a.n_real, a.n_gen, a.side, header=not a.no_header)
    if a.contrastive:
        bench_contrastive(a.contrastive_images, a.contrastive_side, a.contrastive_epochs)
    if a.synthetic_table:
        synthetic_table()


if __name__ == "__main__":
    main()
