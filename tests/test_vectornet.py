"""Vector-Net: architecture, extractor contract, save/load, resume, and a short real training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from trainprint.core.errors import TrainprintError
from trainprint.extractors import make_extractor
from trainprint.extractors.vectornet import PRESETS, TripletBatches, VectorNetExtractor
from trainprint.losses.triplet import CONSTRAINTS, TripletTerm
from trainprint.nets.inputs import to_input
from trainprint.nets.vectornet import VectorNet, VectorNetArch, conv_flops
from trainprint.core.seeding import seed_everything
from trainprint.training import CHECKPOINT, TRAIN_CURVE, TRAIN_LOG

BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def tiny_dev(n_g: int = 8, n_u: int = 4, n_nu: int = 4, size: int = 64, seed: int = 0):
    """Smooth random blobs as (N, size, size) uint8 plus split names."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    imgs = []
    for _ in range(n_g + n_u + n_nu):
        cx, cy, r = rng.uniform(0.3, 0.7, 3)
        img = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.05 + 0.1 * r)) + 0.1 * rng.random((size, size))
        imgs.append((255 * img / img.max()).astype(np.uint8))
    split = ["generated"] * n_g + ["real_used"] * n_u + ["real_not_used"] * n_nu
    return np.stack(imgs), np.array(split)


def test_architecture_is_the_papers():
    net = VectorNet()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (1, 32), (32, 64), (64, 128), (128, 256), (256, 512), (512, 1024)
    ]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) and c.padding == (1, 1) for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 6
    assert sum(isinstance(m, nn.ReLU) for m in net.modules()) == 6
    assert (net.head.in_features, net.head.out_features) == (1024, 64)


@pytest.mark.parametrize("size", [64, 96, 128])
def test_any_square_size_from_64_gives_unit_64d_vectors(size):
    net = VectorNet().eval()
    with torch.no_grad():
        z = net(torch.rand(3, 1, size, size))
    assert z.shape == (3, 64) and z.dtype == torch.float32
    assert torch.allclose(z.norm(dim=1), torch.ones(3), atol=1e-5)


def test_too_small_or_not_square_is_an_error():
    with pytest.raises(ValueError, match="N >= 64"):
        VectorNet()(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError):
        VectorNet()(torch.rand(2, 1, 64, 80))


def test_conv_flops_counts_each_layer():
    # one 4x4 conv from 1 to 2 channels on 4x4 -> 2x2 output, plus a 2 -> 3 linear head
    arch = VectorNetArch(blocks=1, width=2, dim=3)
    assert conv_flops(arch, 4) == 2 * (2 * 2 * 2 * 1 * 16) + 2 * 2 * 3
    assert conv_flops(VectorNetArch(), 256) == 16 * (conv_flops(VectorNetArch(), 64) - 2 * 1024 * 64) + 2 * 1024 * 64


def test_presets_paper_settings_and_names():
    assert set(PRESETS) == {"paper", "fast", "smoke"}
    paper = PRESETS["paper"].train
    assert (paper.lr, paper.weight_decay, paper.batch_size, paper.epochs) == (1e-5, 1e-4, 32, 500)
    cfg = VectorNetExtractor(preset="paper", epochs=7, margin=0.5, mining="hard").config()
    assert (cfg.train.epochs, cfg.train.lr, cfg.margin, cfg.mining) == (7, 1e-5, 0.5, "hard")


def test_batches_hold_every_role_and_cover_the_real_images():
    pix = {"g": torch.zeros(10, 64, 64, dtype=torch.uint8), "u": torch.zeros(5, 64, 64, dtype=torch.uint8),
           "nu": torch.zeros(7, 64, 64, dtype=torch.uint8)}
    src = TripletBatches(pix, batch_size=3)
    batches = list(src.batches(1, torch.Generator().manual_seed(0)))
    assert len(batches) == 3  # ceil(max(5, 7) / 3)
    for b in batches:
        assert b["g"].shape == (3, 1, 64, 64) and b["g"].dtype == torch.float32
        assert b["u_index"].shape == (3,)
    assert set(torch.cat([b["nu_index"] for b in batches]).tolist()) == set(range(7))
    again = list(src.batches(1, torch.Generator().manual_seed(0)))
    assert all(torch.equal(a["g_index"], b["g_index"]) for a, b in zip(batches, again))


@pytest.mark.parametrize("name", ["vectornet-1", "vectornet-12", "vectornet-123"])
def test_smoke_fit_transform_contract(name):
    X, y = tiny_dev()
    ext = make_extractor(name, preset="smoke", device="cpu")
    assert ext.uses_labels
    F = ext.fit(X, y).transform(X[:5])
    assert F.shape == (5, 64) and F.dtype == np.float32
    assert np.allclose(np.linalg.norm(F, axis=1), 1, atol=1e-5)
    assert [f"c{c}" for c in ext.constraints] == [k for k in ext.history_[0] if k.startswith("c")]
    with pytest.raises(TrainprintError, match="fitted on 64 px"):
        ext.transform(np.zeros((1, 96, 96), np.uint8))


def test_same_seed_same_fingerprints_and_save_load(tmp_path):
    X, y = tiny_dev()
    a = make_extractor("vectornet-12", preset="smoke", device="cpu", random_state=3).fit(X, y)
    b = make_extractor("vectornet-12", preset="smoke", device="cpu", random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    loaded = VectorNetExtractor.load(a.save(tmp_path / "vn.pt"))
    np.testing.assert_array_equal(loaded.transform(X), a.transform(X))
    assert loaded.get_params() == a.get_params()


def test_run_dir_files_and_resume_equals_uninterrupted(tmp_path):
    X, y = tiny_dev()
    full = make_extractor("vectornet-1", preset="smoke", epochs=3, device="cpu").fit(X, y)
    make_extractor("vectornet-1", preset="smoke", epochs=1, device="cpu", run_dir=tmp_path).fit(X, y)
    resumed = make_extractor("vectornet-1", preset="smoke", epochs=3, device="cpu", run_dir=tmp_path).fit(X, y)
    np.testing.assert_array_equal(full.transform(X), resumed.transform(X))
    for f in (CHECKPOINT, TRAIN_LOG, TRAIN_CURVE):
        assert (tmp_path / f).is_file()
    with pytest.raises(TrainprintError, match="other settings"):  # other data, same run folder
        X2, y2 = tiny_dev(seed=1)
        make_extractor("vectornet-1", preset="smoke", epochs=3, device="cpu", run_dir=tmp_path).fit(X2, y2)


@pytest.mark.parametrize("params,match", [
    (dict(preset="huge"), "unknown preset"),
    (dict(mining="semi"), "mining"),
    (dict(margin=-1.0), "margin"),
    (dict(epochs=0), "epochs"),
    (dict(constraints=(4,)), "constraints"),
])
def test_bad_parameters_name_the_value(params, match):
    X, y = tiny_dev()
    with pytest.raises(TrainprintError, match=match):
        VectorNetExtractor(**{"device": "cpu", **params}).fit(X, y)


def test_missing_role_is_an_error():
    X, y = tiny_dev(n_nu=0)
    with pytest.raises(TrainprintError, match="real_not_used"):
        make_extractor("vectornet-12", preset="smoke", device="cpu").fit(X, y)
    X, y = tiny_dev(n_u=1, n_nu=0)
    with pytest.raises(TrainprintError, match="at least 2 'real_used'"):
        VectorNetExtractor(constraints=(3,), preset="smoke", device="cpu").fit(X, y)


def triplet_loss_of(F: np.ndarray, y: np.ndarray) -> float:
    """Mean (not non-zero) loss of constraints 1 + 2 over every triplet of the given fingerprints."""
    emb = {r: torch.from_numpy(F[y == s]) for r, s in (("g", "generated"), ("u", "real_used"), ("nu", "real_not_used"))}
    return sum(float(TripletTerm(*CONSTRAINTS[c], reducer="mean")(emb)) for c in (1, 2))


def test_short_training_on_ctmem64_learns():
    dev = BENCHMARKS / "ctmem64" / "dev"
    if not dev.is_dir():
        pytest.skip(f"{dev} is absent (../shared/benchmarks exists only beside the project's checkout)")
    from PIL import Image  # read directly: this test is about Vector-Net, not the data layer

    rng = np.random.default_rng(0)
    X, y = [], []
    for split, n in (("generated", 64), ("real_used", 32), ("real_not_used", 32)):
        files = sorted((dev / split).glob("*.png"))
        for i in rng.choice(len(files), n, replace=False):
            X.append(np.asarray(Image.open(files[i]).convert("L")))
            y.append(split)
    X, y = np.stack(X), np.array(y)
    ext = make_extractor("vectornet-12", preset="fast", epochs=3, batch_size=16, device="cpu", random_state=0)
    seed_everything(0)
    untrained = VectorNet().eval()  # the same initial weights the extractor starts from
    with torch.no_grad():
        before = triplet_loss_of(untrained(to_input(torch.from_numpy(X))).numpy(), y)
    F = ext.fit(X, y).transform(X)
    assert triplet_loss_of(F, y) < before
    g, u, nu = (F[y == s] for s in ("generated", "real_used", "real_not_used"))
    d_gu = np.linalg.norm(g[:, None] - u[None], axis=-1).mean()
    d_gnu = np.linalg.norm(g[:, None] - nu[None], axis=-1).mean()
    assert d_gu < d_gnu
