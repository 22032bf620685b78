"""``trainprint fit`` end to end on a tiny hand-made folder of PNGs (smoke preset, CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from trainprint.cli.main import main
from trainprint.core.errors import TrainprintError
from trainprint.extractors.fingerprints import Fingerprints, load_fingerprints, save_fingerprints
from trainprint.core.files import read_json


def write_pngs(folder: Path, n: int, seed: int, size: int = 64) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i in range(n):
        img = (rng.random((size, size)) * 64 + np.linspace(0, 190, size)[None, :]).astype(np.uint8)
        Image.fromarray(img, mode="L").save(folder / f"{folder.name}_{i:02d}.png")


@pytest.fixture(scope="module")
def task(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("task")
    for sub, n, seed in (("generated", 6, 0), ("real_used", 4, 1), ("real_not_used", 4, 2)):
        write_pngs(root / "dev" / sub, n, seed)
    for sub, n, seed in (("generated", 3, 3), ("real_unknown", 5, 4)):
        write_pngs(root / "test" / sub, n, seed)
    return root


def run(argv: list[str], capsys) -> tuple[int, str]:
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    return code, capsys.readouterr().err


def test_fit_smoke_writes_every_file_and_resumes(task, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["fit", "vectornet-12", task / "dev", "--out", out, "--test", task / "test",
            "--preset", "smoke", "--device", "cpu", "--seed", "1", "--quiet"]
    code, err = run(args, capsys)
    assert code == 0, err
    for f in ("checkpoint.pt", "train_log.csv", "train_curve.png", "run.json", "fingerprints.npz", "extractor.pt"):
        assert (out / f).is_file(), f
    fp = load_fingerprints(out)
    with np.load(out / "fingerprints.npz", allow_pickle=False) as z:
        assert {z[k].dtype.kind for k in ("ids", "split", "source")} == {"U"}
    assert fp.X.shape == (14 + 8, 64) and fp.X.dtype == np.float32
    assert (fp.source == "dev").sum() == 14 and (fp.source == "test").sum() == 8
    assert set(fp.split[fp.source == "test"]) == {"generated", "real_unknown"}
    assert "real_used_00" in fp.ids
    rec = read_json(out / "run.json")
    assert rec["status"] == "finished" and rec["seed"] == 1 and rec["config"]["extractor"] == "vectornet-12"

    code, err = run(args, capsys)  # again: resumes from the finished checkpoint, same fingerprints
    assert code == 0, err
    np.testing.assert_array_equal(load_fingerprints(out).X, fp.X)
    assert read_json(out / "run.json")["resumed"] is True


@pytest.mark.parametrize("args,match", [
    (["fit", "vectornet-9", "{dev}"], "unknown extractor"),
    (["fit", "vectornet-1", "{missing}"], "missing"),
    (["fit", "vectornet-1", "{dev}", "--preset", "huge"], "--preset 'huge': expected one of paper, fast, smoke"),
    (["fit", "vectornet-1", "{dev}", "--epochs", "0"], "epochs"),
])
def test_bad_input_is_one_line_and_exit_2(task, tmp_path, capsys, args, match):
    out = tmp_path / "run"
    argv = [a.format(dev=task / "dev", missing=tmp_path / "missing") for a in args]
    code, err = run(argv + ["--out", out, "--device", "cpu", "--quiet"], capsys)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and match in err.lower()
    assert not out.exists()  # nothing written for a run that could not start


def test_dae_through_the_same_command(task, tmp_path, capsys):
    out = tmp_path / "dae"
    code, err = run(["fit", "dae-gu", task / "dev", "--out", out, "--preset", "smoke", "--device", "cpu",
                     "--quiet"], capsys)
    assert code == 0, err
    fp = load_fingerprints(out)
    assert fp.X.shape[0] == 14 and fp.X.dtype == np.float32


def test_fingerprint_file_checks(tmp_path):
    fp = Fingerprints(np.array(["a", "b"]), np.array(["generated", "real_used"]), np.array(["dev", "dev"]),
                      np.ones((2, 3), np.float32))
    back = load_fingerprints(save_fingerprints(tmp_path / "f.npz", fp))
    np.testing.assert_array_equal(back.X, fp.X)
    with pytest.raises(TrainprintError, match="no fingerprints file"):
        load_fingerprints(tmp_path / "nothing")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(TrainprintError, match="not a readable"):
        load_fingerprints(tmp_path / "bad.npz")
    with pytest.raises(TrainprintError, match="unknown split"):
        Fingerprints(fp.ids, np.array(["generated", "other"]), fp.source, fp.X)
