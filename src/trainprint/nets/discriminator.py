"""A small CNN that scores an image as generated (logit > 0) or real: the ``mia-disc`` discriminator.

    x (B, 1, N, N) float in [0, 1]
      [area resize to max_side x max_side when N > max_side]     (B, 1, S, S), S = min(N, max_side)
      [Gaussian low-pass, sd blur px, reflected borders]          fixed, not trained
      blocks x [Conv 4x4 stride 2 pad 1 -> LeakyReLU(0.2)]        channels 1 -> w -> 2w -> ..., S >= 2^blocks
      global average pooling                                      (B, C)
      Linear C -> 1                                               (B,) logit of "generated"

The trunk is Vector-Net's (strided 4x4 convolutions, doubling channels), shallower and narrower
so that cross-fitting several copies stays cheap on a CPU, and without BatchNorm (a batch mixes
generated and real images; the per-image logit must not depend on its batch).

The fixed front end keeps the network off the finest scales, where a generator's own artifacts
live (noise, checkerboards, the added noise of a synthetic near-copy): membership shows where the
generator puts its density, in an image's layout, not in its pixel-level texture. Being part of
the module, it is applied alike to training and scored images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass(frozen=True)
class DiscriminatorArch:
    blocks: int = 4  # conv blocks, each halving the side
    width: int = 16  # channels of the first block, doubled by each next block
    blur: float = 0.0  # sd in pixels (after resizing) of the fixed Gaussian low-pass; 0 = none
    max_side: int = 0  # larger inputs are area-resized to this side first; 0 = never


def gaussian_kernel(sigma: float) -> Tensor:
    """(2r + 1,) float32, r = round(3 sigma) (scipy.ndimage's radius at truncate=3): a normalised
    1-d Gaussian of sd ``sigma`` > 0."""
    r = max(1, int(3 * sigma + 0.5))
    u = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-u**2 / (2 * sigma**2))
    return k / k.sum()


class LowPass(nn.Module):
    """``forward(x (B, 1, H, W)) -> (B, 1, H, W)``: separable Gaussian blur of sd ``sigma`` pixels,
    reflected borders. Fixed (a buffer, not a parameter)."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.register_buffer("kernel", gaussian_kernel(sigma), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel.to(x.dtype)
        r = (k.numel() - 1) // 2
        if min(x.shape[-2:]) <= r:  # reflection needs a side larger than the radius
            x = nn.functional.pad(x, (r, r, r, r), mode="replicate")
        else:
            x = nn.functional.pad(x, (r, r, r, r), mode="reflect")
        x = nn.functional.conv2d(x, k.view(1, 1, 1, -1))
        return nn.functional.conv2d(x, k.view(1, 1, -1, 1))


class Discriminator(nn.Module):
    """``forward(x (B, 1, N, N)) -> (B,)`` float32 logits, > 0 = more like the generated images."""

    def __init__(self, arch: DiscriminatorArch = DiscriminatorArch()) -> None:
        super().__init__()
        self.arch = arch
        self.low_pass = LowPass(arch.blur) if arch.blur > 0 else nn.Identity()
        layers: list[nn.Module] = []
        c_in = 1
        for i in range(arch.blocks):
            c_out = arch.width * 2**i
            layers += [nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 1)

    def input_side(self, n: int) -> int:
        """The side the trunk sees for an n x n input."""
        return min(n, self.arch.max_side) if self.arch.max_side > 0 else n

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or self.input_side(min(x.shape[2], x.shape[3])) < 2**self.arch.blocks:
            raise ValueError(f"Discriminator: expected (B, 1, N, N) with N >= {2**self.arch.blocks}, got {tuple(x.shape)}")
        size = (self.input_side(x.shape[2]), self.input_side(x.shape[3]))
        if size != tuple(x.shape[2:]):
            x = nn.functional.interpolate(x, size=size, mode="area")  # area averaging: anti-aliased
        h = self.features(self.low_pass(x)).mean(dim=(2, 3))  # (B, C)
        return self.head(h).float().squeeze(1)  # (B,)
