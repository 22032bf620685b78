"""What this machine can do, measured: FLOP/s of a dense convolution and of a matrix product.

Benchmarks divide their throughput by these figures, so a result reads as a share of the
machine's capability and can be compared across machines. Both functions return FLOP/s
(multiply-adds count 2), the best of a few timed repetitions after a warm-up.

    from _machine import measure_conv_flops, measure_matmul_flops   # with benchmarks/ on sys.path
    measure_conv_flops()             # CPU, float32
    measure_conv_flops("cuda")       # GPU, bf16 autocast + channels_last (as training runs there)

On a shared machine the figures move with the load: measure in the same run as the benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_seconds(fn: Callable[[], object], device: torch.device | str = "cpu", *, reps: int = 5,
                 min_time: float = 0.0) -> float:
    """Best wall time of ``fn()`` over ``reps`` runs (and until ``min_time`` s spent), after one warm-up."""
    device = torch.device(device)
    fn()
    _sync(device)
    best, spent, n = float("inf"), 0.0, 0
    while n < reps or spent < min_time:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        dt = time.perf_counter() - t0
        best, spent, n = min(best, dt), spent + dt, n + 1
    return best


@torch.no_grad()
def measure_conv_flops(device: str = "cpu", min_time: float = 1.0) -> float:
    """FLOP/s of a 3x3 convolution 256 -> 256 channels (stride 1, pad 1): a well-shaped conv (the
    fastest of the shapes tried on the 2-core dev machine), so the figure is close to the best this
    machine reaches on convolutions. Best of repetitions over ``min_time`` s. CUDA: bf16, channels_last."""
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    b, c, s = (64, 256, 64) if cuda else (16, 256, 16)
    conv = torch.nn.Conv2d(c, c, 3, padding=1, bias=False).to(dev)
    x = torch.randn(b, c, s, s, device=dev)
    if cuda:
        conv, x = conv.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)

    def run() -> object:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            return conv(x)

    return 2 * b * s * s * c * c * 9 / best_seconds(run, dev, min_time=min_time)


@torch.no_grad()
def measure_matmul_flops(device: str = "cpu", min_time: float = 1.0) -> float:
    """FLOP/s of a square matrix product (1024 float32 on CPU, 8192 bf16 on CUDA)."""
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    n, dtype = (8192, torch.bfloat16) if cuda else (1024, torch.float32)
    a = torch.randn(n, n, device=dev, dtype=dtype)
    b = torch.randn(n, n, device=dev, dtype=dtype)
    return 2 * n**3 / best_seconds(lambda: a @ b, dev, min_time=min_time)


if __name__ == "__main__":
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"{dev}: conv {measure_conv_flops(dev) / 1e9:.1f} GFLOP/s, "
          f"matmul {measure_matmul_flops(dev) / 1e9:.1f} GFLOP/s (torch threads {torch.get_num_threads()})")
