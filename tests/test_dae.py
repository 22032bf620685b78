"""The deforming autoencoder: sizes, parameter counts, loss terms, training, resume, persistence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from trainprint.extractors.dae_figure import FIGURE
from trainprint.core.errors import TrainprintError
from trainprint.extractors import make_extractor
from trainprint.extractors.dae import DAEExtractor, ImageBatches, recalibrate_batchnorm
from trainprint.nets.inputs import to_input
from trainprint.losses.deform import DeformLoss, bias_reduce, reconstruction_loss, total_variation
from trainprint.nets.dae import DAEArch, DeformingAutoencoder, n_decoder_blocks, n_encoder_blocks
from trainprint.nets.warp import identity_grid


def blobs(n: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """``(n, size, size)`` uint8: one or two bright Gaussian blobs per image on a dark ground."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] / size
    out = np.zeros((n, size, size))
    for i in range(n):
        for _ in range(rng.integers(1, 3)):
            cy, cx, s = rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75), rng.uniform(0.06, 0.15)
            out[i] += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return (np.clip(out, 0, 1) * 255).astype(np.uint8)


def dev_split(n_g: int = 12, n_u: int = 6, n_nu: int = 6) -> np.ndarray:
    return np.array(["generated"] * n_g + ["real_used"] * n_u + ["real_not_used"] * n_nu)


# ---------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("size,n_e,n_d", [(32, 2, 4), (64, 3, 5), (128, 4, 6), (256, 5, 7)])
def test_block_counts_follow_the_image_side(size: int, n_e: int, n_d: int) -> None:
    assert n_encoder_blocks(size) == n_e and size / 2 ** (n_e + 1) == 4
    assert n_decoder_blocks(size) == n_d and 4 * 2 ** (n_d - 1) == size


@pytest.mark.parametrize("size", [48, 8, 100])
def test_bad_side_is_rejected(size: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        n_encoder_blocks(size)


def expected_parameters(size: int, base: int = 32, code: int = 128, tex: int = 16, wdim: int = 128) -> int:
    """Parameter count written out from the layer list of the paper / reference code."""
    conv = lambda cin, cout, k: cin * cout * k * k + cout  # noqa: E731  weights + bias
    bn = lambda c: 2 * c  # noqa: E731
    n_e, n_d = int(math.log2(size)) - 3, int(math.log2(size)) - 1
    enc = conv(1, base, 4)
    c = base
    for _ in range(n_e):
        enc += conv(c, 2 * c, 4) + bn(2 * c)
        c *= 2
    enc += conv(c, code, 4)
    heads = (code * tex + tex) + (code * wdim + wdim)
    widths = [c // 2**i for i in range(n_d - 1)] + [base]  # 4 -> N: mirror of the encoder, then base
    def decoder(z: int, out: int) -> int:
        total = conv(z, widths[0], 4) + bn(widths[0])
        for a, b in zip(widths[:-1], widths[1:]):
            total += conv(a, b, 4) + bn(b)
        return total + conv(widths[-1], out, 3)
    return enc + heads + decoder(tex, 1) + decoder(wdim, 2)


@pytest.mark.parametrize("size", [64, 256])
def test_shapes_and_parameter_counts(size: int) -> None:
    model = DeformingAutoencoder(DAEArch(image_size=size)).eval()
    assert sum(p.numel() for p in model.parameters()) == expected_parameters(size)
    with torch.no_grad():
        out = model(torch.rand(2, 1, size, size))
    assert out.code.shape == (2, 128) and 0 <= out.code.min() and out.code.max() <= 1
    assert out.texture.shape == out.recon.shape == (2, 1, size, size)
    assert out.increments.shape == out.grid.shape == (2, 2, size, size)
    assert out.texture.min() >= 0 and out.texture.max() <= 1
    assert out.increments.min() >= 0 and out.grid.abs().max() <= 1


# ---------------------------------------------------------------------------- losses


def test_loss_terms_match_hand_computation() -> None:
    g = torch.Generator().manual_seed(3)
    x, r = torch.rand(2, 1, 4, 4, generator=g), torch.rand(2, 1, 4, 4, generator=g)
    res = torch.randn(3, 2, 4, 4, generator=g)
    xs, rs, rr = x.numpy().ravel(), r.numpy().ravel(), res.numpy()
    assert math.isclose(float(reconstruction_loss(r, x, "l2")), np.mean((rs - xs) ** 2), rel_tol=1e-5)
    assert math.isclose(float(reconstruction_loss(r, x, "l1")), np.mean(np.abs(rs - xs)), rel_tol=1e-5)
    tv = 0.0
    for b in range(3):
        for c in range(2):
            for i in range(4):
                for j in range(4):
                    if j + 1 < 4:
                        tv += abs(rr[b, c, i, j + 1] - rr[b, c, i, j])
                    if i + 1 < 4:
                        tv += abs(rr[b, c, i + 1, j] - rr[b, c, i, j])
    assert math.isclose(float(total_variation(res)), tv, rel_tol=1e-5)
    mean_grid = [[[sum(rr[b, c, i, j] for b in range(3)) / 3 for j in range(4)] for i in range(4)]
                 for c in range(2)]
    bias = sum(v * v for plane in mean_grid for row in plane for v in row) / 32
    assert math.isclose(float(bias_reduce(res)), bias, rel_tol=1e-5)


def test_loss_weights_scale_named_terms() -> None:
    g = torch.Generator().manual_seed(4)
    x, r = torch.rand(2, 1, 8, 8, generator=g), torch.rand(2, 1, 8, 8, generator=g)
    ident = identity_grid(8)
    grid = (ident + 0.1 * torch.randn(2, 2, 8, 8, generator=g)).clamp(-1, 1)
    unit = DeformLoss(w_recon=1, w_tv=1, w_bias=1).terms(x, r, grid, ident)
    weighted = DeformLoss(recon="l1", w_recon=2, w_tv=1e-6, w_bias=1e-2).terms(x, r, grid, ident)
    assert set(unit) == {"recon", "tv", "bias"}
    assert torch.isclose(weighted["recon"], 2 * reconstruction_loss(r, x, "l1"))
    assert torch.isclose(weighted["tv"], 1e-6 * unit["tv"])
    assert torch.isclose(weighted["bias"], 1e-2 * unit["bias"])
    assert float(DeformLoss().terms(x, x, ident.expand(2, -1, -1, -1), ident)["tv"]) == 0.0
    with pytest.raises(ValueError, match="l2, l1"):
        DeformLoss(recon="l3")


# ---------------------------------------------------------------------------- extractor


def test_batches_cover_every_image_once() -> None:
    imgs = blobs(10, size=16)
    src = ImageBatches(imgs, batch_size=4)
    got = torch.cat(list(src.batches(1, torch.Generator().manual_seed(0))))
    assert got.shape == (10, 1, 16, 16)
    want = to_input(torch.from_numpy(imgs)).sum((1, 2, 3))
    assert sorted(got.sum((1, 2, 3)).tolist()) == pytest.approx(sorted(want.tolist()))
    assert len(list(ImageBatches(imgs, 4, steps_per_epoch=1).batches(1, torch.Generator()))) == 1


def test_smoke_preset_fits_and_embeds(tmp_path) -> None:
    X, y = blobs(24), dev_split()
    ext = make_extractor("dae-gunu", preset="smoke", device="cpu", run_dir=tmp_path)
    assert ext.uses_labels
    F = ext.fit(X, y).transform(X)
    assert F.shape == (24, 128) and F.dtype == np.float32 and np.isfinite(F).all()
    assert ext.n_train_ == 24 and len(ext.history_) == 2
    for name in ("checkpoint.pt", "train_log.csv", "train_curve.png", FIGURE):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.parametrize("name,n_train", [("dae-gu", 18), ("dae-gnu", 18), ("dae-gunu", 24)])
def test_variants_train_on_exactly_their_sets(name: str, n_train: int) -> None:
    ext = make_extractor(name, preset="smoke", device="cpu").fit(blobs(24), dev_split())
    assert ext.n_train_ == n_train and ext.uses_labels


def test_label_free_variant_and_errors() -> None:
    assert not DAEExtractor(train_sets=("generated",)).uses_labels
    X = blobs(6)
    with pytest.raises(TrainprintError, match="no images of real_used"):
        DAEExtractor(train_sets=("real_used",), preset="smoke").fit(X, np.array(["generated"] * 6))
    with pytest.raises(TrainprintError, match="recon_loss"):
        DAEExtractor(preset="smoke", recon_loss="l3").fit(X, np.array(["generated"] * 6))
    with pytest.raises(TrainprintError, match="unknown preset"):
        DAEExtractor(preset="huge").fit(X, np.array(["generated"] * 6))
    with pytest.raises(TrainprintError, match="power of two"):
        DAEExtractor(preset="smoke").fit(np.zeros((4, 96, 96), np.uint8), np.array(["generated"] * 4))


def _recon_error(model: torch.nn.Module, X: np.ndarray) -> float:
    """Eval-mode mean squared reconstruction error, BN statistics recalibrated on ``X``."""
    model = recalibrate_batchnorm(model, X, torch.device("cpu"))
    with torch.no_grad():
        x = to_input(torch.from_numpy(X))
        return float(((model(x).recon - x) ** 2).mean())


def test_short_training_lowers_reconstruction_error() -> None:
    X = blobs(32, seed=5)
    y = np.array(["generated"] * 32)
    ext = DAEExtractor(train_sets=("generated",), preset="fast", epochs=4, batch_size=8, device="cpu",
                       random_state=1)
    cfg = ext.config()
    torch.manual_seed(1)
    initial = DeformingAutoencoder(DAEArch(64, texture_dim=cfg.texture_dim, warp_dim=cfg.warp_dim,
                                           base_channels=cfg.base_channels))
    before = _recon_error(initial, X)
    after = _recon_error(ext.fit(X, y).model_, X)
    assert after < 0.6 * before, (before, after)
    assert ext.history_[-1]["recon"] < ext.history_[0]["recon"]


def test_resume_equals_uninterrupted_run(tmp_path) -> None:
    X, y = blobs(24), dev_split()
    kw = dict(train_sets=("generated", "real_used"), preset="smoke", device="cpu", random_state=7)
    full = DAEExtractor(epochs=3, run_dir=tmp_path / "full", **kw).fit(X, y)
    DAEExtractor(epochs=1, run_dir=tmp_path / "cut", **kw).fit(X, y)  # "interrupted" after epoch 1
    resumed = DAEExtractor(epochs=3, run_dir=tmp_path / "cut", **kw).fit(X, y)
    assert [r["loss"] for r in resumed.history_] == [r["loss"] for r in full.history_]
    np.testing.assert_array_equal(resumed.transform(X), full.transform(X))


def test_save_load_round_trip(tmp_path) -> None:
    X, y = blobs(24), dev_split()
    ext = make_extractor("dae-gnu", preset="smoke", device="cpu").fit(X, y)
    back = DAEExtractor.load(ext.save(tmp_path / "dae.pt"))
    assert back.get_params() == ext.get_params()
    np.testing.assert_array_equal(back.transform(X), ext.transform(X))
    with pytest.raises(TrainprintError, match="not a"):
        (tmp_path / "junk.pt").write_bytes(b"junk")
        DAEExtractor.load(tmp_path / "junk.pt")


def test_cli_fit_writes_fingerprints_and_figure(tmp_path) -> None:
    from PIL import Image

    from trainprint.cli.main import main

    X, y = blobs(16), dev_split(8, 4, 4)
    for i, (img, split) in enumerate(zip(X, y)):
        (tmp_path / "dev" / split).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(tmp_path / "dev" / split / f"{split}_{i:03d}.png")
    with pytest.raises(SystemExit) as e:
        main(["fit", "dae-gunu", str(tmp_path / "dev"), "--out", str(tmp_path / "run"), "--preset", "smoke",
              "--device", "cpu", "--quiet"])
    assert e.value.code == 0
    with np.load(tmp_path / "run" / "fingerprints.npz", allow_pickle=False) as z:
        assert z["X"].shape == (16, 128) and sorted(set(z["split"].tolist())) == sorted(set(y.tolist()))
    assert (tmp_path / "run" / FIGURE).stat().st_size > 0
