"""Vector-Net (paper Section 2.1): the CNN that maps an image to a 64-d fingerprint on the unit sphere.

    x (B, 1, N, N), N >= 64
      6 x [Conv 4x4 stride 2 pad 1 -> BatchNorm -> ReLU]   channels 1 -> 32 -> 64 -> ... -> 1024
        (B, 32, N/2, N/2) -> (B, 64, N/4, N/4) -> ... -> (B, 1024, N/64, N/64)
      global average pooling                                (B, 1024)
      Linear 1024 -> 64                                     (B, 64)
      L2 normalisation                                      (B, 64), ||row||_2 = 1

Input scaling: pixels are 8-bit gray scaled to [0, 1] (``x / 255``, see ``to_input``). With
N = 64 the last feature map is 1 x 1; larger sides leave N/64 x N/64 maps for the pooling.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn


MIN_SIZE = 64


@dataclass(frozen=True)
class VectorNetArch:
    """Layer sizes of Vector-Net (the paper's values are the defaults)."""

    blocks: int = 6  # conv blocks, each halving the side
    width: int = 32  # output channels of the first block, doubled by each next block
    dim: int = 64  # fingerprint length


class VectorNet(nn.Module):
    """``forward(x (B, 1, N, N) float in [0, 1]) -> (B, dim)`` unit-norm float32 fingerprints."""

    def __init__(self, arch: VectorNetArch = VectorNetArch()) -> None:
        super().__init__()
        self.arch = arch
        layers: list[nn.Module] = []
        c_in = 1
        for i in range(arch.blocks):
            c_out = arch.width * 2**i
            layers += [
                nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=False),  # BN has the bias
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            ]
            c_in = c_out
        self.features = nn.Sequential(*layers)  # (B, 1, N, N) -> (B, C, N/2^blocks, N/2^blocks)
        self.head = nn.Linear(c_in, arch.dim)  # (B, C) -> (B, dim)

    @property
    def feature_channels(self) -> int:
        return self.arch.width * 2 ** (self.arch.blocks - 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[2] != x.shape[3] or x.shape[2] < 2**self.arch.blocks:
            raise ValueError(
                f"VectorNet: expected (B, 1, N, N) with N >= {2**self.arch.blocks}, got {tuple(x.shape)}"
            )
        h = self.features(x)  # (B, C, n, n)
        h = h.mean(dim=(2, 3))  # global average pooling: (B, C)
        z = self.head(h).float()  # (B, dim), float32 even under autocast
        return F.normalize(z, dim=1)


def conv_flops(arch: VectorNetArch, size: int) -> int:
    """Multiply-add FLOPs (2 per MAC) of one forward pass of the conv layers on an N x N image."""
    flops, c_in, side = 0, 1, size
    for i in range(arch.blocks):
        c_out = arch.width * 2**i
        side //= 2
        flops += 2 * side * side * c_out * c_in * 16
        c_in = c_out
    return flops + 2 * c_in * arch.dim  # + the linear head
