"""The ``fit`` run: train an extractor on a dev folder and embed every image.

``fit_run`` writes ``RUN_DIR/fingerprints.npz`` (``trainprint.extractors.fingerprints``),
``run.json``, the extractor's training files (``checkpoint.pt``, ``train_log.csv``,
``train_curve.png``) and the fitted extractor (``extractor.pt``); run again on the same folder it
resumes the training from ``checkpoint.pt``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainprint.core.device import resolve_device
from trainprint.core.errors import TrainprintError
from trainprint.core.files import write_json
from trainprint.core.runs import CONFIG_FILE, RunRecord, check_out_dir, check_resume, to_jsonable
from trainprint.core.seeding import check_seed
from trainprint.data.load import CacheDir, load_dev, load_test
from trainprint.data.reading import Reading, current_reading
from trainprint.extractors.fingerprints import FINGERPRINTS, Fingerprints, fingerprints_of, save_fingerprints
from trainprint.extractors.registry import make_extractor, run_params
from trainprint.extractors.trained import TrainedExtractor

EXTRACTOR_FILE = "extractor.pt"
#: settings a fit run folder is resumed with only when equal (its checkpoint was trained with them)
RESUME_KEYS = ("extractor", "dev", "test", "preset", "epochs", "size", "seed", "reading")


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
    cache_dir: CacheDir = None,
    progress: bool = False,
    reading: Reading | None = None,
) -> Path:
    """Train extractor ``name`` on ``dev_dir`` and write ``out/fingerprints.npz`` for every dev
    image (and every ``test_dir`` image). Returns the fingerprints path. ``reading``: how volumes
    are read (``None``: the current reading). A run folder is resumed only with the same settings."""
    out = check_out_dir(out)
    check_seed(seed)
    resolve_device(device)
    reading = (reading or current_reading()).check()
    make_extractor(name)  # an unknown name fails before any folder is created
    config = {"extractor": name, "dev": str(dev_dir), "test": None if test_dir is None else str(test_dir),
              "preset": preset, "epochs": epochs, "device": device, "size": size, "seed": seed, "reading": reading}
    check_resume(out, "fit", config, RESUME_KEYS)
    with_test = test_dir is not None
    kw = dict(size=size, skip_bad=skip_bad, cache_dir=cache_dir, progress=progress, reading=reading)
    dev = load_dev(dev_dir, **kw)  # type: ignore[arg-type]
    test = load_test(test_dir, **kw) if with_test else None  # type: ignore[arg-type]
    if test is not None and test.pixels.shape[1:] != dev.pixels.shape[1:]:
        raise TrainprintError(
            f"{test_dir}: images are {test.size} px but the dev images are {dev.size} px; pass --size N"
        )
    extractor = make_extractor(name, **run_params(name, preset=preset, epochs=epochs, device=device,
                                                  random_state=seed, run_dir=out, progress=progress))
    if isinstance(extractor, TrainedExtractor):
        extractor.config()  # bad settings fail here, before the run folder is made
    with RunRecord(out, command="fit", config=config, seed=seed) as record:
        write_json(out / CONFIG_FILE, to_jsonable(config))
        with record.stage("train"):
            extractor.fit(dev.pixels, dev.split)
        with record.stage("embed"):
            parts = [fingerprints_of(extractor, dev)] + ([fingerprints_of(extractor, test)] if test else [])
            fp = Fingerprints(np.concatenate([p.ids for p in parts]), np.concatenate([p.split for p in parts]),
                              np.concatenate([p.source for p in parts]), np.concatenate([p.X for p in parts]))
        path = save_fingerprints(out / FINGERPRINTS, fp)
        history: list[dict[str, float]] = []
        if isinstance(extractor, TrainedExtractor):
            extractor.save(out / EXTRACTOR_FILE)
            history = list(extractor.history_)
        record.finish(results={
            "images": {"dev": len(dev), "test": len(test) if test else 0},
            "dim": int(fp.X.shape[1]),
            "epochs_trained": len(history),
            "final_loss": history[-1].get("loss") if history else None,
        })
    return path
