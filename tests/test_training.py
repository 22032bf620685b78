"""The generic training loop: logs, checkpoints, resume, NaN guard (tiny models, CPU, seconds)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from trainprint.core.errors import TrainprintError
from trainprint.core.files import read_csv
from trainprint.training import (CHECKPOINT, TRAIN_CURVE, TRAIN_LOG, TrainConfig, load_checkpoint,
                                 train)


class Regression:
    """BatchSource: y = x @ w_true + noise, shuffled per epoch by the given generator."""

    def __init__(self, n: int = 64, batch_size: int = 16) -> None:
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, 4, generator=g)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.01 * torch.randn(n, generator=g)
        self.batch_size = batch_size

    def batches(self, epoch: int, generator: torch.Generator):
        order = torch.randperm(len(self.x), generator=generator)
        for i in range(0, len(order), self.batch_size):
            idx = order[i : i + self.batch_size]
            yield {"x": self.x[idx], "y": self.y[idx]}


def mse_objective(model: nn.Module, batch: dict) -> dict[str, torch.Tensor]:
    pred = model(batch["x"]).squeeze(1)
    return {"mse": ((pred - batch["y"]) ** 2).mean(), "l1w": 1e-3 * model[0].weight.abs().sum()}


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.Linear(8, 1))


CFG = TrainConfig(epochs=6, batch_size=16, lr=5e-2, checkpoint_every_s=0.0)


def test_loss_goes_down_and_terms_are_logged(tmp_path):
    hist = train(make_model(), mse_objective, Regression(), CFG, device="cpu", seed=0, run_dir=tmp_path)
    assert len(hist) == CFG.epochs
    assert hist[-1]["loss"] < 0.5 * hist[0]["loss"]
    for row in hist:
        assert row["loss"] == pytest.approx(row["mse"] + row["l1w"], rel=1e-6)
    log = read_csv(tmp_path / TRAIN_LOG)
    assert [r["epoch"] for r in log] == [str(e) for e in range(1, CFG.epochs + 1)]
    assert {"loss", "mse", "l1w", "seconds"} <= set(log[0])
    assert (tmp_path / TRAIN_CURVE).read_bytes()[:4] == b"\x89PNG"


def test_same_seed_same_weights_other_seed_differs():
    a, b, c = make_model(), make_model(), make_model()
    train(a, mse_objective, Regression(), CFG, device="cpu", seed=1)
    train(b, mse_objective, Regression(), CFG, device="cpu", seed=1)
    train(c, mse_objective, Regression(), CFG, device="cpu", seed=2)
    for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.state_dict().values(), c.state_dict().values()))


def test_checkpoint_embeds_config_and_round_trips(tmp_path):
    model = make_model()
    train(model, mse_objective, Regression(), CFG, device="cpu", seed=3, run_dir=tmp_path, meta={"arch": "tiny"})
    state = load_checkpoint(tmp_path / CHECKPOINT)
    assert state["config"]["lr"] == CFG.lr and state["meta"] == {"arch": "tiny"}
    assert state["epoch"] == CFG.epochs and state["seed"] == 3 and len(state["history"]) == CFG.epochs
    fresh = make_model(seed=99)
    fresh.load_state_dict(state["model"])
    for pa, pb in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(pa, pb)


class Interrupt(Exception):
    pass


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    full = make_model()
    ref = train(full, mse_objective, Regression(), CFG, device="cpu", seed=5)

    calls = {"n": 0}

    def dies_in_epoch_4(model, batch):
        calls["n"] += 1
        if calls["n"] > 3 * 4 + 2:  # 4 steps per epoch: dies during epoch 4
            raise Interrupt
        return mse_objective(model, batch)

    with pytest.raises(Interrupt):
        train(make_model(), dies_in_epoch_4, Regression(), CFG, device="cpu", seed=5, run_dir=tmp_path)
    assert load_checkpoint(tmp_path / CHECKPOINT)["epoch"] == 3

    resumed = make_model(seed=42)  # different init: everything must come from the checkpoint
    hist = train(resumed, mse_objective, Regression(), CFG, device="cpu", seed=5, run_dir=tmp_path)
    for pa, pb in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(pa, pb)
    assert [r["loss"] for r in hist] == [r["loss"] for r in ref]


def test_extending_a_finished_run_equals_the_longer_run(tmp_path):
    long = make_model()
    train(long, mse_objective, Regression(), CFG, device="cpu", seed=6)
    short = dataclasses.replace(CFG, epochs=2)
    train(make_model(), mse_objective, Regression(), short, device="cpu", seed=6, run_dir=tmp_path)
    ext = make_model()
    train(ext, mse_objective, Regression(), CFG, device="cpu", seed=6, run_dir=tmp_path)
    for pa, pb in zip(long.state_dict().values(), ext.state_dict().values()):
        assert torch.equal(pa, pb)


@pytest.mark.parametrize("change", [{"lr": 0.5}, {"seed": 8}, {"meta": {"arch": "other"}}])
def test_resume_with_other_settings_is_an_error(tmp_path, change):
    short = dataclasses.replace(CFG, epochs=1)
    train(make_model(), mse_objective, Regression(), short, device="cpu", seed=7, run_dir=tmp_path,
          meta={"arch": "tiny"})
    cfg = dataclasses.replace(short, lr=change.get("lr", short.lr))
    with pytest.raises(TrainprintError, match="other settings"):
        train(make_model(), mse_objective, Regression(), cfg, device="cpu", seed=change.get("seed", 7),
              run_dir=tmp_path, meta=change.get("meta", {"arch": "tiny"}))


def test_nan_loss_stops_naming_epoch_step_and_term():
    def nan_at_step_3(model, batch, calls={"n": 0}):
        calls["n"] += 1
        terms = mse_objective(model, batch)
        if calls["n"] == 3:
            terms["l1w"] = terms["l1w"] * float("nan")
        return terms

    with pytest.raises(TrainprintError, match=r"'l1w' is nan at epoch 1, step 3"):
        train(make_model(), nan_at_step_3, Regression(), CFG, device="cpu", seed=0)


def test_bad_config_and_empty_epoch_are_errors():
    with pytest.raises(TrainprintError, match="epochs"):
        TrainConfig(epochs=0, batch_size=4, lr=1e-3)
    with pytest.raises(TrainprintError, match="lr"):
        TrainConfig(epochs=1, batch_size=4, lr=float("nan"))

    class Empty:
        def batches(self, epoch, generator):
            return iter(())

    with pytest.raises(TrainprintError, match="no batches"):
        train(make_model(), mse_objective, Empty(), CFG, device="cpu", seed=0)


def test_progress_bar_shows_the_loss_on_a_terminal_only(capsys, monkeypatch):
    import rich.console

    short = dataclasses.replace(CFG, epochs=1)
    train(make_model(), mse_objective, Regression(), short, device="cpu", seed=0, progress=True, desc="tiny")
    assert "tiny" not in capsys.readouterr().err  # stderr is captured, not a terminal: no bar lines
    monkeypatch.setattr(rich.console.Console, "is_terminal", property(lambda self: True))
    train(make_model(), mse_objective, Regression(), short, device="cpu", seed=0, progress=True, desc="tiny")
    err = capsys.readouterr().err
    assert "tiny" in err and "loss" in err
