"""Deforming autoencoder throughput: training and embedding images/s, and their share of conv peak.

    python benchmarks/bench_dae.py                          # CPU, 64 and 256 px
    python benchmarks/bench_dae.py --device cuda            # GPU: bf16 autocast, channels_last
    python benchmarks/bench_dae.py --sizes 64 --reps 3      # quicker

train  one step of the DAE objective (reconstruction + TV + bias) through forward, backward and
       Adam, as ``trainprint.training.train`` runs it; images/s = batch / best step time.
embed  the encoder alone in eval mode under ``no_grad``, as ``DAEExtractor.transform`` runs it.

Two widths: ``paper`` (base 32 channels, the paper's layout) and ``fast`` (base 8, the CPU preset).
The share of conv peak is FLOPs done per second / the machine's measured conv FLOP/s
(``_machine.measure_conv_flops``), with the FLOPs counted from the layer shapes by forward hooks
(convolutions, transposed convolutions and linear layers; 2 FLOPs per multiply-add; training
counted as 3x the forward pass). On a shared machine both figures move with the load.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import best_seconds, measure_conv_flops  # noqa: E402

from trainprint.extractors.dae import PRESETS  # noqa: E402
from trainprint.losses.deform import DAEObjective, DeformLoss  # noqa: E402
from trainprint.nets.dae import DAEArch, DeformingAutoencoder  # noqa: E402

WIDTHS = {"paper": PRESETS["paper"].base_channels, "fast": PRESETS["fast"].base_channels}


def forward_flops(module: nn.Module, x: torch.Tensor) -> int:
    """FLOPs (2 per multiply-add) of the conv, transposed-conv and linear layers for one image."""
    total = 0

    def hook(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(m, nn.Conv2d):
            total += 2 * out[0].numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.ConvTranspose2d):
            total += 2 * inp[0][0].numel() * m.out_channels * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            total += 2 * m.in_features * m.out_features

    handles = [m.register_forward_hook(hook) for m in module.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    with torch.no_grad():
        module.eval()(x[:1])
    for h in handles:
        h.remove()
    return total


def make_case(size: int, base: int, batch: int, device: torch.device):
    """(train step, embed call, forward FLOPs of the whole DAE, of the encoder) for one image."""
    torch.manual_seed(0)
    cuda = device.type == "cuda"
    model = DeformingAutoencoder(DAEArch(image_size=size, base_channels=base)).to(device)
    fmt = torch.channels_last if cuda else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.rand(batch, 1, size, size, device=device).contiguous(memory_format=fmt)
    flops_all, flops_enc = forward_flops(model, x), forward_flops(model.encoder, x)
    opt = torch.optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999))
    objective = DAEObjective(DeformLoss())

    def train_step() -> None:
        model.train()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = sum(objective(model, x).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    @torch.no_grad()
    def embed() -> torch.Tensor:
        model.eval()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            return model.encode(x)

    return train_step, embed, flops_all, flops_enc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--widths", nargs="+", default=list(WIDTHS), choices=list(WIDTHS))
    ap.add_argument("--batch", type=int, default=None,
                    help="images per step (default: CPU 16 at 64 px, 4 at 256 px; CUDA 32)")
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per case (best is kept)")
    args = ap.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    conv = measure_conv_flops(args.device)
    name = torch.cuda.get_device_name(0) if cuda else "CPU"
    print(f"device {args.device} ({name}), torch threads {torch.get_num_threads()}, "
          f"measured conv {conv / 1e9:.1f} GFLOP/s")
    rows = []
    for size in args.sizes:
        for width in args.widths:
            batch = args.batch or (32 if cuda else (16 if size <= 64 else 4))
            train_step, embed, f_all, f_enc = make_case(size, WIDTHS[width], batch, device)
            t_train = best_seconds(train_step, device, reps=args.reps)
            t_embed = best_seconds(embed, device, reps=args.reps)
            rows.append((size, width, batch, batch / t_train, batch / t_embed, f_all, f_enc))
            del train_step, embed
            if cuda:
                torch.cuda.empty_cache()
    conv = max(conv, measure_conv_flops(args.device))
    print(f"conv throughput used: {conv / 1e9:.1f} GFLOP/s (best of two measurements)")
    print(f"{'size':>4} {'width':>6} {'batch':>5} {'GFLOP/img':>9} {'train img/s':>11} {'of peak':>8} "
          f"{'embed img/s':>11} {'of peak':>8}")
    for size, width, batch, ips_t, ips_e, f_all, f_enc in rows:
        print(f"{size:>4} {width:>6} {batch:>5} {f_all / 1e9:>9.3f} {ips_t:>11.1f} "
              f"{ips_t * 3 * f_all / conv:>8.1%} {ips_e:>11.1f} {ips_e * f_enc / conv:>8.1%}")


if __name__ == "__main__":
    main()
