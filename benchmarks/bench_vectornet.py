"""Vector-Net training throughput: the batched triplet step against a naive three-forward step.

    python benchmarks/bench_vectornet.py                        # CPU, 64 and 256 px
    python benchmarks/bench_vectornet.py --device cuda          # GPU: bf16 autocast, channels_last
    python benchmarks/bench_vectornet.py --sizes 64 --batch 16  # quicker

batched  (trainprint): each step embeds B generated + B used + B not-used images in ONE forward
         pass and forms every triplet of constraints (1) and (2) from those embeddings:
         3B images -> 2 B^3 triplets.
naive    (the usual TripletMarginLoss recipe): each step holds B (anchor, positive, negative)
         triplets and runs three forward passes, f(A), f(P), f(N): 3B images -> B triplets,
         every triplet member embedded again for each triplet it is in.

Both steps run forward, backward and Adam on the paper's Vector-Net, so their images/s are
comparable; triplets/s shows what the batched step gets from the same image work. images/s is
also given as a share of this machine's measured conv throughput (``_machine.py``): the FLOPs of
one training image (3x the forward FLOPs counted from the layer shapes) x images/s / conv FLOP/s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import best_seconds, measure_conv_flops  # noqa: E402

from trainprint.losses.triplet import TripletObjective, triplet_terms  # noqa: E402
from trainprint.nets.vectornet import VectorNet, VectorNetArch, conv_flops  # noqa: E402
from trainprint.training import TrainConfig, make_adam  # noqa: E402


def make_step(kind: str, size: int, batch: int, device: torch.device):
    """A closure running one training step; returns (step, images per step, triplets per step)."""
    torch.manual_seed(0)
    cuda = device.type == "cuda"
    model = VectorNet().to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = make_adam(model, TrainConfig(epochs=1, batch_size=batch, lr=1e-5, weight_decay=1e-4))
    fmt = torch.channels_last if cuda else torch.contiguous_format
    imgs = {r: torch.rand(batch, 1, size, size, device=device).contiguous(memory_format=fmt) for r in ("g", "u", "nu")}
    objective = TripletObjective(triplet_terms([1, 2]), ("g", "u", "nu"))
    margin = torch.nn.TripletMarginLoss(margin=0.2)

    def loss_batched() -> torch.Tensor:
        return sum(objective(model, imgs).values())

    def loss_naive() -> torch.Tensor:  # anchors g, positives u, negatives nu: one triplet per row
        return margin(model(imgs["g"]), model(imgs["u"]), model(imgs["nu"]))

    loss_fn = loss_batched if kind == "batched" else loss_naive

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    triplets = 2 * batch**3 if kind == "batched" else batch
    return step, 3 * batch, triplets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--batch", type=int, default=None, help="images per role per step (default 16 on CPU, 32 on CUDA)")
    ap.add_argument("--reps", type=int, default=4, help="timed steps per case (best is kept)")
    args = ap.parse_args()
    device = torch.device(args.device)
    batch = args.batch or (32 if device.type == "cuda" else 16)
    conv = measure_conv_flops(args.device)  # measured again at the end; the higher figure is used
    print(f"device {args.device} ({torch.cuda.get_device_name(0) if device.type == 'cuda' else 'CPU'}), "
          f"torch threads {torch.get_num_threads()}, measured conv {conv / 1e9:.1f} GFLOP/s, batch {batch} per role")
    rows = []
    for size in args.sizes:
        for kind in ("batched", "naive"):
            step, n_img, n_trip = make_step(kind, size, batch, device)
            rows.append((size, kind, best_seconds(step, device, reps=args.reps), n_img, n_trip))
            del step
            if device.type == "cuda":
                torch.cuda.empty_cache()
    conv = max(conv, measure_conv_flops(args.device))
    print(f"conv throughput used: {conv / 1e9:.1f} GFLOP/s (best of the two measurements)")
    print(f"{'size':>4} {'step':>8} {'s/step':>8} {'images/s':>9} {'triplets/s':>11} {'of conv peak':>12}")
    for size, kind, sec, n_img, n_trip in rows:
        ips = n_img / sec
        share = ips * 3 * conv_flops(VectorNetArch(), size) / conv  # training ~ 3x forward FLOPs
        print(f"{size:>4} {kind:>8} {sec:>8.3f} {ips:>9.1f} {n_trip / sec:>11.0f} {share:>12.1%}")


if __name__ == "__main__":
    main()
