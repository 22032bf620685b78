"""The deforming autoencoder (Shu et al., ECCV 2018) as used by PicusLabMed (Section 2.2).

    x (B, 1, N, N)
      -> Encoder                      -> code (B, 128) in (0, 1)        the fingerprint
      -> texture head Linear+Sigmoid  -> z_t (B, 16)  -> texture decoder -> texture (B, 1, N, N)
      -> warp head    Linear+Sigmoid  -> z_w (B, 128) -> shape decoder   -> increments (B, 2, N, N)
      increments -> integrate -> grid (B, 2, N, N);  recon = warp(texture, grid)  (B, 1, N, N)

Sizes follow the image side ``N`` (a power of two, >= 16):

- encoder: Conv 4x4/2/1 + LeakyReLU(0.2), then ``n_e = log2(N) - 3`` blocks of Conv 4x4/2/1 + BN +
  LeakyReLU(0.2) (channels 32, doubling), so the map is 4x4 before the last Conv 4x4 (-> 1x1, 128
  channels) + Sigmoid; rule: ``N / 2**(n_e + 1) = 4``. 64 px: n_e = 3; 256 px: n_e = 5 (paper).
- decoders: ``n_d = log2(N) - 1`` blocks of ConvTranspose 4x4 + BN + activation (the first 1 -> 4,
  stride 1; the others stride 2, doubling to N), then ConvTranspose 3x3/1/1. Channels mirror the
  encoder (``16 N / r`` at resolution ``r <= N/2``, ``base`` at ``N``). 64 px: n_d = 5; 256 px: n_d = 7.
  Texture: ReLU inside, Hardtanh(0, 1) at the end. Shape: Tanh inside, Sigmoid at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor, nn

from trainprint.nets.warp import identity_grid, integrate, warp


@dataclass(frozen=True)
class DAEArch:
    """Architecture of one deforming autoencoder."""

    image_size: int = 64  # N: side of the square input, a power of two >= 16
    code_dim: int = 128  # the encoder's code, the fingerprint (paper: 128)
    texture_dim: int = 16  # texture code from the code (reference implementation: 16)
    warp_dim: int = 128  # deformation code from the code (reference implementation: 128)
    base_channels: int = 32  # encoder's first width, doubled per block (paper: 32)
    in_channels: int = 1  # gray images


def n_encoder_blocks(size: int) -> int:
    """``n_e`` such that ``size / 2**(n_e + 1) == 4``: 64 -> 3, 256 -> 5."""
    _check_size(size)
    return int(math.log2(size)) - 3


def n_decoder_blocks(size: int) -> int:
    """``n_d``: one block 1 -> 4, then one per doubling up to ``size``: 64 -> 5, 256 -> 7."""
    _check_size(size)
    return int(math.log2(size)) - 1


def _check_size(size: int) -> None:
    if size < 16 or size & (size - 1):
        raise ValueError(f"DAE: image side must be a power of two >= 16, got {size}")


class Encoder(nn.Module):
    """``(B, C, N, N) -> (B, code_dim)`` in (0, 1)."""

    def __init__(self, arch: DAEArch) -> None:
        super().__init__()
        c = arch.base_channels
        layers: list[nn.Module] = [nn.Conv2d(arch.in_channels, c, 4, 2, 1), nn.LeakyReLU(0.2)]  # N/2
        for _ in range(n_encoder_blocks(arch.image_size)):  # each halves the side, doubles channels
            layers += [nn.Conv2d(c, 2 * c, 4, 2, 1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.2)]
            c *= 2
        layers += [nn.Conv2d(c, arch.code_dim, 4, 1, 0), nn.Sigmoid()]  # (B, code_dim, 1, 1)
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).flatten(1)  # (B, code_dim)


def decoder_channels(arch: DAEArch) -> list[int]:
    """Output channels of the ``n_d`` decoder blocks, resolutions 4, 8, ..., N (mirror of the encoder)."""
    n = arch.image_size
    res = [4 * 2**i for i in range(n_decoder_blocks(n))]  # 4, 8, ..., N
    return [arch.base_channels * n // (2 * r) if r < n else arch.base_channels for r in res]


class Decoder(nn.Module):
    """``(B, in_dim) -> (B, out_channels, N, N)``; one layout for texture and shape."""

    def __init__(self, arch: DAEArch, in_dim: int, out_channels: int,
                 act: type[nn.Module], final: nn.Module) -> None:
        super().__init__()
        chans = decoder_channels(arch)
        layers: list[nn.Module] = [nn.ConvTranspose2d(in_dim, chans[0], 4, 1, 0),  # 1 -> 4
                                   nn.BatchNorm2d(chans[0]), act()]
        for c_in, c_out in zip(chans[:-1], chans[1:]):  # r -> 2r
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), act()]
        layers += [nn.ConvTranspose2d(chans[-1], out_channels, 3, 1, 1), final]  # (B, out, N, N)
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z[:, :, None, None])


class DAEOutput(NamedTuple):
    code: Tensor  # (B, code_dim): the fingerprint
    texture: Tensor  # (B, C, N, N) in [0, 1]: the undeformed template
    increments: Tensor  # (B, 2, N, N) in (0, 1): the shape decoder's output
    grid: Tensor  # (B, 2, N, N) in [-1, 1]: where each output pixel samples the texture
    recon: Tensor  # (B, C, N, N): the texture warped by the grid


class DeformingAutoencoder(nn.Module):
    """Encoder, texture and warp heads, texture and shape decoders, integral warper."""

    def __init__(self, arch: DAEArch) -> None:
        super().__init__()
        self.arch = arch
        self.encoder = Encoder(arch)
        self.texture_head = nn.Sequential(nn.Linear(arch.code_dim, arch.texture_dim), nn.Sigmoid())
        self.warp_head = nn.Sequential(nn.Linear(arch.code_dim, arch.warp_dim), nn.Sigmoid())
        self.texture_decoder = Decoder(arch, arch.texture_dim, arch.in_channels, nn.ReLU,
                                       nn.Hardtanh(0.0, 1.0))
        self.shape_decoder = Decoder(arch, arch.warp_dim, 2, nn.Tanh, nn.Sigmoid())
        self.register_buffer("identity", identity_grid(arch.image_size), persistent=False)  # (1, 2, N, N)
        self.apply(init_weights)

    def encode(self, x: Tensor) -> Tensor:
        """``(B, C, N, N)`` in [0, 1] -> ``(B, code_dim)``."""
        return self.encoder(x)

    def forward(self, x: Tensor) -> DAEOutput:
        code = self.encoder(x)  # (B, code_dim)
        texture = self.texture_decoder(self.texture_head(code))  # (B, C, N, N)
        increments = self.shape_decoder(self.warp_head(code))  # (B, 2, N, N)
        grid = integrate(increments.float())  # (B, 2, N, N), fp32 even under autocast
        recon = warp(texture.float(), grid)  # (B, C, N, N)
        return DAEOutput(code, texture, increments, grid, recon)


def init_weights(m: nn.Module) -> None:
    """Reference initialisation: (transposed) conv weights N(0, 0.02); BN weights N(1, 0.02), bias 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
