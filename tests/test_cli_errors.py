"""The README's error promise, case by case: exit 2, exactly one stderr line starting ``error:``, no
traceback, and nothing written (or a run.json with an honest status). Then Ctrl-C and SIGTERM sent
to a real ``evaluate`` process, and the resume that reaches the same results as a run never stopped.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers_eval import make_images, write_task
from helpers_data import run_cli as run
from trainprint.cli.main import main
from trainprint.core import files

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("errtask")
    dev, _ = make_images(n_used=6, n_not=6, n_gen=12, seed=1, source="dev")
    test, _ = make_images(n_used=5, n_not=5, n_gen=12, seed=2, source="test", unknown=True)
    write_task(root / "dev", dev)
    write_task(root / "test", test)
    tiny = root / "tiny"
    for split in ("generated", "real_used", "real_not_used"):
        (tiny / split).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((16, 16), 40 * i, np.uint8)).save(tiny / split / f"{split}{i}.png")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(root / "image.png")
    (root / "a_file").write_text("not a folder\n")
    (root / "a_run").mkdir()
    files.write_json(root / "a_run" / "run.json", {"command": "evaluate", "status": "finished"})
    return root


def unwritable(tmp_path: Path) -> Path:
    """A folder this process cannot create files in (root writes through permission bits, but not
    into sysfs)."""
    if ROOT_USER:
        return Path("/sys/trainprint-test-out")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return locked / "out"


OUT = "{out}"
CASES: list[tuple[str, list[str], str]] = [
    # (name, argv with {task} and {out}, what the message must contain)
    ("evaluate seed -1", ["evaluate", "{task}/dev", "--out", OUT, "--seed", "-1"], "--seed"),
    ("evaluate seed 2^40", ["evaluate", "{task}/dev", "--out", OUT, "--seed", "1099511627776"], "--seed"),
    ("submit seed -1", ["submit", "{task}/dev", "{task}/test", "--out", OUT, "--seed", "-1"], "--seed"),
    ("fit seed 2^40", ["fit", "raw", "{task}/dev", "--out", OUT, "--seed", "1099511627776"], "--seed"),
    ("evaluate out is a file", ["evaluate", "{task}/dev", "--out", "{task}/a_file"], "is a file"),
    ("submit out is a file", ["submit", "{task}/dev", "{task}/test", "--out", "{task}/a_file"], "is a file"),
    ("evaluate out not writable", ["evaluate", "{task}/dev", "--out", "{locked}"], "cannot write"),
    ("submit out not writable", ["submit", "{task}/dev", "{task}/test", "--out", "{locked}"], "cannot write"),
    ("report out not writable", ["report", "{task}/a_run", "--out", "{locked}/report.html"], "cannot write"),
    ("make-demo not writable", ["make-demo", "{locked}", "--preset", "smoke"], "cannot write"),
    ("validate a folder", ["validate", "{task}/dev", "{task}/test"], "is a folder"),
    ("score a PNG run file", ["score", "{task}/image.png", "{task}/image.png"], "not utf-8"),
    ("submit folds 1", ["submit", "{task}/dev", "{task}/test", "--out", OUT, "--folds", "1"], "--folds 1"),
    ("submit folds 1000", ["submit", "{task}/dev", "{task}/test", "--out", OUT, "--folds", "1000", "--methods",
                           "sim-pixel/realmax"], "1000-fold"),
    ("evaluate no cuda", ["evaluate", "{task}/dev", "--out", OUT, "--device", "cuda"], "cuda"),
    ("evaluate methods ''", ["evaluate", "{task}/dev", "--out", OUT, "--methods", ""], "--methods"),
    ("evaluate methods ','", ["evaluate", "{task}/dev", "--out", OUT, "--methods", ","], "--methods"),
    ("evaluate tiny images", ["evaluate", "{task}/tiny", "--out", OUT], "--skip-bad"),
    ("evaluate tiny images --skip-bad", ["evaluate", "{task}/tiny", "--out", OUT, "--skip-bad"], "none of its"),
    ("evaluate bad option value", ["evaluate", "{task}/dev", "--out", OUT, "--folds", "two"], "--folds"),
    ("unknown command", ["evaluat"], "no such command"),
]


@pytest.mark.parametrize("name,argv,message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_error_line(name: str, argv: list[str], message: str, task: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    if "cuda" in name:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA device")
    out = tmp_path / "run"
    locked = unwritable(tmp_path) if "{locked}" in " ".join(argv) else None
    args = [a.replace("{task}", str(task)).replace(OUT, str(out)).replace("{locked}", str(locked)) for a in argv]
    before = sorted(p.relative_to(task) for p in task.rglob("*"))
    code, stdout, err = run(capsys, *args)
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and message.lower() in lines[0].lower(), lines[0]
    assert not out.exists(), f"{name}: wrote {sorted(out.rglob('*'))}"  # nothing written
    if locked is not None:
        assert not locked.exists()
    assert sorted(p.relative_to(task) for p in task.rglob("*")) == before


def test_a_failure_after_the_start_leaves_an_honest_run_json(task: Path, tmp_path: Path, monkeypatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """A run that fails midway says so in run.json (status failed, the error in one line)."""
    from trainprint.evaluation import evaluate as evaluation

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(evaluation, "evaluate_fold", broken)
    with pytest.raises(RuntimeError):
        main(["evaluate", str(task / "dev"), "--out", str(tmp_path / "run"), "--methods", "sim-pixel/realmax",
              "--folds", "2", "--no-progress"])
    record = files.read_json(tmp_path / "run" / "run.json")
    assert record["status"] == "failed" and record["error"] == "RuntimeError: disk on fire"


def test_long_commands_log_one_line_per_stage_when_not_on_a_terminal(task: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "evaluate", task / "dev", "--out", tmp_path / "run", "--methods", "sim-pixel/realmax",
                       "--folds", "2", "--no-progress")
    assert code == 0, err
    lines = err.strip().splitlines()
    assert "trainprint: evaluate: fold-0 started" in lines
    assert any(ln.startswith("trainprint: evaluate: fold-1 done in ") and ln.endswith(" s") for ln in lines)
    assert any(ln.startswith("trainprint: evaluate: summary done in ") for ln in lines)


def test_16_bit_images_are_scaled_by_their_bit_depth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """12-bit values stored in 16-bit PNGs (a CT's usual case): 4095 is white, not 16/255."""
    from trainprint.data import load_dev

    for split in ("generated", "real_used", "real_not_used"):
        (tmp_path / "dev" / split).mkdir(parents=True)
        for i in range(2):
            a = np.tile(np.linspace(0, 4095, 64).round().astype(np.uint16), (64, 1))
            Image.fromarray(a).save(tmp_path / "dev" / split / f"{split}{i}.png")
    images = load_dev(tmp_path / "dev", cache_dir=False)
    assert images.pixels[0].max() == 255 and images.pixels[0].min() == 0
    code, out, err = run(capsys, "inspect", tmp_path / "dev", "--no-cache")
    assert code == 0, err
    assert "note: " in out and "12-bit values -> 8-bit (v * 255 / 4095)" in out


def test_demo_generator_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    """The demo GAN interrupted at step 2 and run again ends with the weights of an uninterrupted run."""
    import torch

    from trainprint.demo.generator import GanConfig, train_gan

    images = make_images(n_used=6, n_not=1, n_gen=2, seed=3)[0].pixels[:8]
    cfg = GanConfig(width=4, batch_size=4, steps=5)
    whole = train_gan(images, cfg, seed=1, device=torch.device("cpu"))
    ckpt = tmp_path / "gan.pt"

    def stop_at_3(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_gan(images, cfg, seed=1, device=torch.device("cpu"), on_step=stop_at_3, checkpoint=ckpt,
                  checkpoint_every_s=0.0)
    assert ckpt.exists()
    steps: list[int] = []
    resumed = train_gan(images, cfg, seed=1, device=torch.device("cpu"), on_step=steps.append, checkpoint=ckpt)
    assert steps[0] == 2 and steps[-1] == 5  # restarted after the last saved step, not from 0
    for a, b in zip(whole.generator.state_dict().values(), resumed.generator.state_dict().values()):
        assert torch.equal(a, b)


# ---------------------------------------------------------------------------------- signals


def _evaluate_argv(task: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "trainprint", "evaluate", str(task / "dev"), "--out", str(out), "--methods",
            "vectornet-12/real/svm-2,sim-ssim/realmax", "--preset", "smoke", "--folds", "4", "--device", "cpu",
            "--no-progress", "--no-cache"]


def _wait_for(proc: subprocess.Popen[str], seen: Callable[[str], bool], lines: list[str], timeout: float) -> None:
    end = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < end:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if seen(line):
            return
    pytest.fail(f"never saw the line; stderr so far: {lines}")


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def uninterrupted(task: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    whole = tmp_path_factory.mktemp("whole") / "run"
    subprocess.run(_evaluate_argv(task, whole), check=True, capture_output=True, env=ENV, timeout=600)
    return whole


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_saves_says_so_and_resumes_to_the_same_results(sig: signal.Signals, code: int, task: Path,
                                                                 uninterrupted: Path, tmp_path: Path) -> None:
    env, whole = ENV, uninterrupted

    out = tmp_path / "stopped"
    proc = subprocess.Popen(_evaluate_argv(task, out), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=env)
    lines: list[str] = []
    _wait_for(proc, lambda ln: "fold-2 started" in ln, lines, 300)
    proc.send_signal(sig)
    rest = proc.communicate(timeout=120)[1].strip().splitlines()
    lines += rest
    assert proc.returncode == code, lines
    assert "Traceback" not in "\n".join(lines)
    told = [ln for ln in lines if ln.startswith("interrupted")]
    assert len(told) == 1 and sig.name in told[0] and str(out) in told[0] and "run the same command" in told[0]
    assert files.read_json(out / "run.json")["status"] == "interrupted"
    done = {int(r["fold"]) for r in files.read_csv(out / "folds.csv")}
    assert {0, 1} <= done and 3 not in done  # what finished is kept; the run did stop

    subprocess.run(_evaluate_argv(task, out), check=True, capture_output=True, env=env, timeout=600)
    assert files.read_json(out / "run.json")["status"] == "finished"
    for name in ("folds.csv", "scores.csv", "results.csv"):
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name
