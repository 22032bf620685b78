"""A small CNN that scores an image as generated (logit > 0) or real: the ``mia-disc`` discriminator.

    x (B, 1, N, N) float in [0, 1], N >= 2^blocks
      blocks x [Conv 4x4 stride 2 pad 1 -> LeakyReLU(0.2)]   channels 1 -> w -> 2w -> ...
      global average pooling                                  (B, C)
      Linear C -> 1                                           (B,) logit of "generated"

The trunk is Vector-Net's (strided 4x4 convolutions, doubling channels), shallower and narrower
so that cross-fitting several copies stays cheap on a CPU, and without BatchNorm (a batch mixes
generated and real images; the per-image logit must not depend on its batch).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn


@dataclass(frozen=True)
class DiscriminatorArch:
    blocks: int = 4  # conv blocks, each halving the side
    width: int = 16  # channels of the first block, doubled by each next block


class Discriminator(nn.Module):
    """``forward(x (B, 1, N, N)) -> (B,)`` float32 logits, > 0 = more like the generated images."""

    def __init__(self, arch: DiscriminatorArch = DiscriminatorArch()) -> None:
        super().__init__()
        self.arch = arch
        layers: list[nn.Module] = []
        c_in = 1
        for i in range(arch.blocks):
            c_out = arch.width * 2**i
            layers += [nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 1)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or min(x.shape[2], x.shape[3]) < 2**self.arch.blocks:
            raise ValueError(f"Discriminator: expected (B, 1, N, N) with N >= {2**self.arch.blocks}, got {tuple(x.shape)}")
        h = self.features(x).mean(dim=(2, 3))  # (B, C)
        return self.head(h).float().squeeze(1)  # (B,)
