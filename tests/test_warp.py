"""Deformation grids: identity, integration conventions, bilinear warping."""

from __future__ import annotations

import pytest
import torch

from trainprint.nets.warp import (WARP_OFFSET, WARP_SCALE, identity_grid, identity_increments,
                                  integrate, warp)


@pytest.mark.parametrize("n", [16, 64, 256])
def test_identity_grid_samples_pixel_centres(n: int) -> None:
    g = identity_grid(n)
    assert g.shape == (1, 2, n, n)
    step = 2.0 / (n - 1)
    j = torch.arange(n, dtype=torch.float32)
    torch.testing.assert_close(g[0, 0, 3], -1 + step * j)  # x varies along the width
    torch.testing.assert_close(g[0, 1, :, 5], -1 + step * j)  # y varies along the height
    assert torch.all(g[0, 0, :, 0] == -1) and torch.all(g[0, 1, -1, :] == 1)


@pytest.mark.parametrize("n", [16, 64, 256])
def test_identity_increments_integrate_to_identity(n: int) -> None:
    inc = identity_increments(n)
    torch.testing.assert_close(integrate(inc), identity_grid(n), atol=1e-5, rtol=0)
    # away from the first pixel the identity increment is 2N / (5 (N - 1)), inside a Sigmoid's range
    torch.testing.assert_close(inc[0, 0, :, 1:], torch.full((n, n - 1), 2 * n / (5 * (n - 1))))


@pytest.mark.parametrize("n", [16, 64])
def test_warping_with_identity_returns_texture(n: int) -> None:
    tex = torch.rand(3, 2, n, n, generator=torch.Generator().manual_seed(0))
    grid = integrate(identity_increments(n)).expand(3, -1, -1, -1)
    torch.testing.assert_close(warp(tex, grid), tex, atol=1e-4, rtol=0)


def test_integrate_matches_hand_computation() -> None:
    n, c = 16, 0.7
    inc = torch.zeros(1, 2, n, n)
    inc[:, 0] = c  # x increments only
    inc[:, 1, :, 2] = 1.0  # y increments only in column 2
    g = integrate(inc)
    for j in range(n):
        want = min(max(WARP_OFFSET + (j + 1) * c * WARP_SCALE / n, -1.0), 1.0)
        assert abs(float(g[0, 0, 4, j]) - want) < 1e-6  # cumulative sum along the width
    for i in range(n):
        want = min(max(WARP_OFFSET + (i + 1) * WARP_SCALE / n, -1.0), 1.0)
        assert abs(float(g[0, 1, i, 2]) - want) < 1e-6  # cumulative sum along the height
    assert torch.all(g[0, 1, :, 0] == -1)  # zero increments stay at the clamped offset


def test_nonnegative_increments_give_monotone_clamped_grid() -> None:
    inc = torch.rand(2, 2, 32, 32, generator=torch.Generator().manual_seed(1))
    g = integrate(inc)
    assert g.min() >= -1 and g.max() <= 1
    assert torch.all(g[:, 0, :, 1:] >= g[:, 0, :, :-1])  # x never decreases along a row
    assert torch.all(g[:, 1, 1:, :] >= g[:, 1, :-1, :])  # y never decreases down a column


def test_shifted_grid_shifts_the_image_along_x() -> None:
    n = 16
    tex = torch.rand(1, 1, n, n, generator=torch.Generator().manual_seed(2))
    grid = identity_grid(n).clone()
    grid[:, 0] += 2.0 / (n - 1)  # every output pixel samples its right neighbour
    out = warp(tex, grid.clamp(-1, 1))
    torch.testing.assert_close(out[..., :-1], tex[..., 1:], atol=1e-5, rtol=0)
