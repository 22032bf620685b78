"""Fingerprint files and the ``fit`` run: train an extractor on a dev folder, embed every image.

``RUN_DIR/fingerprints.npz`` (loads with ``allow_pickle=False``):

    ids     (N,) unicode   image id (file name without extension)
    split   (N,) unicode   generated | real_used | real_not_used | real_unknown
    source  (N,) unicode   dev | test
    X       (N, D) float32 one fingerprint per row

``fit_run`` writes, besides it, ``run.json``, the extractor's training files (``checkpoint.pt``,
``train_log.csv``, ``train_curve.png``) and the fitted extractor (``extractor.pt``); run again on
the same folder it resumes the training from ``checkpoint.pt``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainprint.device import resolve_device
from trainprint.errors import TrainprintError
from trainprint.imageset import ALL_SPLITS, ImageSet
from trainprint.io import load_npz, save_npz
from trainprint.runs import RunRecord

FINGERPRINTS = "fingerprints.npz"
EXTRACTOR_FILE = "extractor.pt"


@dataclass(frozen=True, eq=False)
class Fingerprints:
    """The arrays of ``fingerprints.npz`` (see the module docstring for shapes)."""

    ids: np.ndarray
    split: np.ndarray
    source: np.ndarray
    X: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.split.shape != (n,) or self.source.shape != (n,) or self.X.ndim != 2 or len(self.X) != n:
            raise TrainprintError(
                f"fingerprints: ids {self.ids.shape}, split {self.split.shape}, source {self.source.shape} "
                f"and X {self.X.shape} must be (N,), (N,), (N,) and (N, D)"
            )
        bad = sorted(set(np.unique(self.split).tolist()) - set(ALL_SPLITS))
        if bad:
            raise TrainprintError(f"fingerprints: unknown split names {bad}; expected {ALL_SPLITS}")

    def __len__(self) -> int:
        return len(self.ids)


def save_fingerprints(path: str | Path, fp: Fingerprints) -> Path:
    """Write ``fp`` atomically as unicode arrays and float32 ``X``."""
    return save_npz(
        path, ids=fp.ids.astype(str), split=fp.split.astype(str), source=fp.source.astype(str),
        X=np.ascontiguousarray(fp.X, dtype=np.float32),
    )


def load_fingerprints(path: str | Path) -> Fingerprints:
    """Read and check a ``fingerprints.npz``; a missing or malformed file is a TrainprintError."""
    path = Path(path)
    if path.is_dir():
        path = path / FINGERPRINTS
    if not path.is_file():
        raise TrainprintError(f"{path}: no fingerprints file (run `trainprint fit` first)")
    try:
        arrays = load_npz(path)
    except Exception as e:  # numpy raises several types for a damaged file
        raise TrainprintError(f"{path}: not a readable .npz file ({type(e).__name__}: {e})") from e
    missing = sorted({"ids", "split", "source", "X"} - set(arrays))
    if missing:
        raise TrainprintError(f"{path}: missing arrays {missing}; expected ids, split, source, X")
    return Fingerprints(arrays["ids"], arrays["split"], arrays["source"], arrays["X"].astype(np.float32))


def fingerprints_of(extractor, images: ImageSet) -> Fingerprints:
    """Embed an ImageSet with a fitted extractor: ``(N, D)`` float32 rows in the set's order."""
    X = np.asarray(extractor.transform(images.pixels), dtype=np.float32)
    X = X.reshape(len(X), -1)
    return Fingerprints(images.ids, images.split, np.full(len(images), images.source or "dev"), X)


def fit_run(
    name: str,
    dev_dir: str | Path,
    out: str | Path,
    *,
    test_dir: str | Path | None = None,
    preset: str = "fast",
    epochs: int | None = None,
    seed: int = 0,
    device: str = "auto",
    size: int | None = None,
    skip_bad: bool = False,
    progress: bool = False,
) -> Path:
    """Train extractor ``name`` on ``dev_dir`` and write ``out/fingerprints.npz`` for every dev
    image (and every ``test_dir`` image). Returns the fingerprints path."""
    from trainprint.data import load_dev, load_test
    from trainprint.extractors import extractor_class, make_extractor

    out = Path(out)
    make_extractor(name)  # an unknown name fails before any folder is created
    config = {"extractor": name, "dev": str(dev_dir), "test": None if test_dir is None else str(test_dir),
              "preset": preset, "epochs": epochs, "device": device, "size": size}
    with_test = test_dir is not None
    dev = load_dev(dev_dir, size=size, skip_bad=skip_bad, progress=progress)
    test = load_test(test_dir, size=size, skip_bad=skip_bad, progress=progress) if with_test else None
    if test is not None and test.pixels.shape[1:] != dev.pixels.shape[1:]:
        raise TrainprintError(
            f"{test_dir}: images are {test.size} px but the dev images are {dev.size} px; pass --size N"
        )
    params = dict(preset=preset, epochs=epochs, device=device, random_state=seed, run_dir=out, progress=progress)
    accepted = inspect.signature(extractor_class(name)).parameters  # ``raw`` takes none of them
    extractor = make_extractor(name, **{k: v for k, v in params.items() if k in accepted})
    resolve_device(device)  # bad settings fail here, before the run folder is made
    if callable(getattr(extractor, "config", None)):
        extractor.config()
    record = RunRecord(out, command="fit", config=config, seed=seed)
    try:
        with record.stage("train"):
            extractor.fit(dev.pixels, dev.split)
        with record.stage("embed"):
            parts = [fingerprints_of(extractor, dev)] + ([fingerprints_of(extractor, test)] if test else [])
            fp = Fingerprints(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("ids", "split", "source", "X")))
    except BaseException as e:  # noqa: BLE001 - recorded, then raised again
        record.data["status"] = "interrupted" if isinstance(e, KeyboardInterrupt) else "failed"
        record.data["error"] = f"{type(e).__name__}: {e}"
        record.save()
        raise
    path = save_fingerprints(out / FINGERPRINTS, fp)
    if hasattr(extractor, "save"):
        extractor.save(out / EXTRACTOR_FILE)
    history = list(getattr(extractor, "history_", None) or [])
    record.finish(results={
        "images": {"dev": len(dev), "test": len(test) if test else 0},
        "dim": int(fp.X.shape[1]),
        "epochs_trained": len(history),
        "final_loss": history[-1].get("loss") if history else None,
    })
    return path
