"""Built-in demo data: a stand-in for the ImageCLEFmedical GANs task that needs no download.

``make_demo(out)`` draws patients with their own anatomy (``demo_phantoms``), renders several
consecutive axial slices per patient, splits the patients into used / not used, trains a small
DCGAN (``demo_generator``) on the used patients' slices only, samples it, and writes

    OUT/dev/generated/generated_0001.png ...        OUT/test/generated/generated_0001.png ...
    OUT/dev/real_used/real_used_0001.png ...        OUT/test/real_unknown/real_unknown_0001.png ...
    OUT/dev/real_not_used/real_not_used_0001.png ...
    OUT/test_key.csv     answer key of test/real_unknown in the run-file format (<id>,<0|1>)
    OUT/patients.csv     id, folder, split, patient, slice of every real image
    OUT/demo.json        how it was made: seed, preset, counts, generator settings, timings
    OUT/generator.pt     the trained generator's weights (the generated PNGs are its samples)
    OUT/samples.png      real slices, generated samples and each sample's nearest training slice

``make-demo --format nifti`` writes each real patient as one NIfTI volume instead
(``OUT/dev/real_used/real_used_001.nii.gz`` ..., ids ``real_used_001:000`` ...; the generated
images stay PNGs, as the demo's generator is 2-D).

Dev and test real images come from disjoint patients; every used patient's slices (dev and test)
form the generator's training set. The folder is built beside OUT and renamed into place, so an
interrupted run leaves nothing half-made. Same seed, CPU: byte-identical PNGs. Torch's thread
count is pinned to ``DEMO_THREADS`` while the generator trains and samples (and restored after), so
the seed alone decides the data, not the machine's ``OMP_NUM_THREADS``.

``make_demo(..., generator_file=...)`` skips training and samples the given weights instead: with the
``generator.pt`` of a demo folder and that folder's seed and preset it remakes the folder's images,
key and ``patients.csv`` (how the test suite checks the data shipped in the package).
"""

from __future__ import annotations

import dataclasses
import io
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from PIL import Image

from trainprint.core import files as tio
from trainprint.core.config import get_preset
from trainprint.demo.generator import GanConfig, Generator, TrainedGan, sample, train_gan
from trainprint.demo.phantoms import draw_anatomy, render_patient
from trainprint.core.device import resolve_device
from trainprint.core.errors import TrainprintError
from trainprint.core.progress import new_progress
from trainprint.core.runs import check_out_dir, versions
from trainprint.core.seeding import check_seed
from trainprint.core.torchstate import cpu_state_dict, load_state, save_state

DEMO_FILE = "demo.json"
GENERATOR_FILE = "generator.pt"  # the trained generator's weights, in every demo folder
DEMO_THREADS = 2  # torch's thread count while the generator trains and samples (restored after)
_GENERATOR_FORMAT = "trainprint-demo-generator/1"
FORMATS = ("png", "nifti")  # make-demo --format
KEY_FILE = "test_key.csv"


@dataclass(frozen=True)
class DemoConfig:
    """What the demo data holds and how its generator is trained."""

    size: int = 64  # image side in pixels (a power of two, 64 to 256)
    slices_per_patient: int = 4  # consecutive axial slices rendered per patient
    dev_used_patients: int = 12  # patients whose slices are dev/real_used (and train the generator)
    dev_not_used_patients: int = 12  # patients whose slices are dev/real_not_used
    test_used_patients: int = 12  # test/real_unknown patients that train the generator (key 1)
    test_not_used_patients: int = 12  # test/real_unknown patients that do not (key 0)
    dev_generated: int = 400  # generated images in dev/generated
    test_generated: int = 400  # generated images in test/generated
    gan: GanConfig = field(default_factory=GanConfig)  # the generator and its training

    @property
    def train_images(self) -> int:
        return (self.dev_used_patients + self.test_used_patients) * self.slices_per_patient


PRESETS: dict[str, DemoConfig] = {
    # About 5 minutes on a 2-core CPU: 192 training slices, 3,000 steps with the coverage term. Dev and
    # test are drawn alike (48 patients, 192 slices, 400 generated images each) and large enough that
    # dev CV can be checked on test (docs/evaluation.md, "The demo's estimate against its test set").
    "fast": DemoConfig(dev_used_patients=24, dev_not_used_patients=24, test_used_patients=24,
                       test_not_used_patients=24,
                       gan=GanConfig(steps=3000, coverage_weight=20.0, coverage_candidates=4)),
    # The 2023 task's proportions (dev 500 / 80 / 80, test 10,000 / 200 real) at 64 px: minutes.
    "paper": DemoConfig(slices_per_patient=5, dev_used_patients=16, dev_not_used_patients=16, test_used_patients=20,
                        test_not_used_patients=20, dev_generated=500, test_generated=10_000,
                        gan=GanConfig(steps=3000)),
    # Seconds, for the test suite: tiny counts, a few steps of a narrow network.
    "smoke": DemoConfig(slices_per_patient=2, dev_used_patients=2, dev_not_used_patients=2,
                        test_used_patients=1, test_not_used_patients=1, dev_generated=6,
                        test_generated=8, gan=GanConfig(width=4, batch_size=4, steps=3)),
}


@dataclass(frozen=True)
class _Real:
    """Real slices of one role: ``pixels`` (N, S, S) uint8 with their patient and slice index."""

    pixels: np.ndarray
    patient: np.ndarray  # (N,) int patient number
    slice: np.ndarray  # (N,) int slice index within the patient


def make_demo(
    out_dir: str | Path,
    *,
    seed: int = 0,
    size: int | None = None,
    device: str = "cpu",
    preset: str = "fast",
    force: bool = False,
    progress: bool = False,
    fmt: str = "png",
    generator_file: str | Path | None = None,
) -> Path:
    """Write the demo task folder at ``out_dir`` (see the module docstring); returns its path.
    ``fmt``: ``"png"`` (the task's layout) or ``"nifti"`` (real patients as NIfTI volumes).
    ``generator_file``: a demo folder's ``generator.pt``, sampled instead of training a generator
    (its settings must be the preset's).

    Raises ``TrainprintError`` when ``out_dir`` is a non-empty folder (unless ``force`` and it holds
    an earlier demo, i.e. a ``demo.json``), a file, or ``size`` is not 64, 128 or 256.
    """
    out = Path(out_dir)
    check_seed(seed)
    cfg = get_preset(PRESETS, preset, "make-demo")
    if size is not None:
        if size not in (64, 128, 256):
            raise TrainprintError(f"--size {size}: the demo makes 64, 128 or 256 px images")
        cfg = dataclasses.replace(cfg, size=size)
    if fmt not in FORMATS:
        raise TrainprintError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    if fmt == "nifti":
        import importlib.util

        if importlib.util.find_spec("nibabel") is None:
            raise TrainprintError("--format nifti: writing NIfTI volumes needs nibabel; pip install 'trainprint[medical]'")
    _check_target(out, force)
    check_out_dir(out, "demo folder")
    dev = resolve_device(device)
    t_start = time.perf_counter()

    # Independent streams from the one seed: anatomy and noise, id order, GAN, dev and test samples.
    s_anat, s_ids, *s_torch = np.random.SeedSequence(seed).spawn(5)
    rng_anat, rng_ids = np.random.default_rng(s_anat), np.random.default_rng(s_ids)
    seed_gan, seed_dev, seed_test = (int(s.generate_state(1)[0]) for s in s_torch)
    roles = _render_roles(cfg, rng_anat)
    train = np.concatenate([roles["dev_used"].pixels, roles["test_used"].pixels])  # (T, S, S)

    # beside OUT, so that a run interrupted while the generator trains resumes it (deleted when done)
    checkpoint = out.parent / f".{out.name}.generator-checkpoint.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch_threads(DEMO_THREADS):
        if generator_file is not None:
            trained = TrainedGan(load_generator(generator_file, cfg).to(dev), [], 0.0)
        else:
            with _progress_bar(progress, cfg.gan.steps) as on_step:
                trained = train_gan(train, cfg.gan, seed=seed_gan, device=dev, on_step=on_step, checkpoint=checkpoint)
        gen_dev = sample(trained.generator, cfg.dev_generated, seed=seed_dev, device=dev)
        gen_test = sample(trained.generator, cfg.test_generated, seed=seed_test, device=dev)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; the demo folder gets the usual permissions
    try:
        rows = _write_folders(tmp, roles, gen_dev, gen_test, rng_ids, fmt)
        info = {
            "seed": seed, "preset": preset, "format": fmt, "device": str(dev), "config": dataclasses.asdict(cfg),
            "counts": {
                "dev": {"generated": cfg.dev_generated, "real_used": len(roles["dev_used"].pixels),
                        "real_not_used": len(roles["dev_not_used"].pixels)},
                "test": {"generated": cfg.test_generated, "real_unknown": len(roles["test_used"].pixels)
                         + len(roles["test_not_used"].pixels),
                         "real_unknown_used": len(roles["test_used"].pixels)},
                "generator_training_images": int(train.shape[0]),
            },
            "generator": {"model": "DCGAN", "train_seconds": round(trained.seconds, 2),
                          "losses_last": trained.losses[-1] if trained.losses else None, "losses": trained.losses,
                          "torch_threads": DEMO_THREADS,
                          "weights": "trained" if generator_file is None else f"loaded from {generator_file}"},
            "membership_signal": _membership_signal(roles, train, gen_dev, gen_test),
            "seconds_total": round(time.perf_counter() - t_start, 2),
            "versions": versions(),
        }
        tio.write_json(tmp / DEMO_FILE, info)
        save_generator(tmp / GENERATOR_FILE, trained.generator, cfg)
        tio.write_csv(tmp / "patients.csv", rows, ["id", "folder", "split", "patient", "slice"])
        _write_png(tmp / "samples.png", _sample_sheet(roles, train, gen_dev))
        _move_into_place(tmp, out, force)
        checkpoint.unlink(missing_ok=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Torch's intra-op thread count set to ``n`` inside, the caller's restored on exit. The float
    sums of a convolution are split by thread, so the count changes the bits of what trains."""
    import torch

    was = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(was)


def save_generator(path: Path, gen: Generator, cfg: DemoConfig) -> Path:
    """The trained generator's weights and the settings that built it (same weights, same bytes)."""
    return save_state(path, {"size": cfg.size, "gan": dataclasses.asdict(cfg.gan), "weights": cpu_state_dict(gen)},
                      _GENERATOR_FORMAT)


def load_generator(path: str | Path, cfg: DemoConfig) -> Generator:
    """A generator saved by ``save_generator`` (eval mode, CPU); its settings must be ``cfg``'s."""
    state = load_state(path, _GENERATOR_FORMAT, "demo generator")
    if state["size"] != cfg.size or state["gan"] != dataclasses.asdict(cfg.gan):
        raise TrainprintError(f"{path}: a demo generator made with other settings (size {state['size']}, "
                              f"{state['gan']}) than the preset's")
    gen = Generator(cfg.size, cfg.gan.latent_dim, cfg.gan.width)
    gen.load_state_dict(state["weights"])
    return gen.eval()


def _check_target(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise TrainprintError(f"{out}: is a file; expected a new or empty folder for the demo data")
    if out.is_dir() and any(out.iterdir()):
        if not force:
            raise TrainprintError(f"{out}: folder is not empty; choose a new folder or pass --force")
        if not (out / DEMO_FILE).is_file():
            raise TrainprintError(
                f"{out}: not empty and not an earlier demo (no {DEMO_FILE}); --force replaces only demo folders"
            )


def _move_into_place(tmp: Path, out: Path, force: bool) -> None:
    """Rename the finished ``tmp`` folder to ``out`` (replacing an earlier demo when ``force``)."""
    _check_target(out, force)
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()
    if not out.exists():
        os.replace(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.replace(out, old / "old")
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _render_roles(cfg: DemoConfig, rng: np.random.Generator) -> dict[str, _Real]:
    """Draw every patient and render its slices; consecutive patients go to each role in turn."""
    counts = {"dev_used": cfg.dev_used_patients, "dev_not_used": cfg.dev_not_used_patients,
              "test_used": cfg.test_used_patients, "test_not_used": cfg.test_not_used_patients}
    for role, k in counts.items():
        if k < 1:
            raise TrainprintError(f"demo config: {role}_patients must be >= 1, got {k}")
    roles, patient = {}, 0
    for role, k in counts.items():
        pix, pat, sl = [], [], []
        for _ in range(k):
            patient += 1
            pix.append(render_patient(draw_anatomy(rng), cfg.slices_per_patient, cfg.size, rng))
            pat += [patient] * cfg.slices_per_patient
            sl += list(range(cfg.slices_per_patient))
        roles[role] = _Real(np.concatenate(pix), np.array(pat), np.array(sl))
    return roles


#: the real folders of the demo task: (folder, split, [(role, key label), ...])
REAL_FOLDERS = [("dev", "real_used", [("dev_used", 1)]), ("dev", "real_not_used", [("dev_not_used", 0)]),
                ("test", "real_unknown", [("test_used", 1), ("test_not_used", 0)])]


def _write_generated(root: Path, gen_dev: np.ndarray, gen_test: np.ndarray) -> None:
    """The generated images of dev and test as ``<folder>/generated/generated_<nnnn>.png``."""
    for folder, pixels in (("dev", gen_dev), ("test", gen_test)):
        for i, img in enumerate(pixels, 1):
            _write_png(root / folder / "generated" / f"generated_{i:04d}.png", img)


def _write_folders(root: Path, roles: dict[str, _Real], gen_dev: np.ndarray, gen_test: np.ndarray,
                   rng: np.random.Generator, fmt: str = "png") -> list[dict[str, object]]:
    """Write the PNGs, the key and return the rows of ``patients.csv``. Real ids are shuffled, so
    neither an id's number nor the file order tells the patient or (in test) the membership.
    ``fmt="nifti"``: each real patient is one volume instead (``_write_volumes``)."""
    if fmt == "nifti":
        return _write_volumes(root, roles, gen_dev, gen_test, rng)
    _write_generated(root, gen_dev, gen_test)
    rows: list[dict[str, object]] = []
    key: list[str] = []
    for folder, split, parts in REAL_FOLDERS:
        items = [(roles[r], j, label) for r, label in parts for j in range(len(roles[r].pixels))]
        for n, k in enumerate(rng.permutation(len(items)), 1):
            real, j, label = items[k]
            image_id = f"{split}_{n:04d}"
            _write_png(root / folder / split / f"{image_id}.png", real.pixels[j])
            rows.append({"id": image_id, "folder": folder, "split": split,
                         "patient": f"p{real.patient[j]:03d}", "slice": int(real.slice[j])})
            if folder == "test":
                key.append(f"{image_id},{label}")
    tio.write_text(root / KEY_FILE, "\n".join(sorted(key)) + "\n")
    return rows


def _write_volumes(root: Path, roles: dict[str, _Real], gen_dev: np.ndarray, gen_test: np.ndarray,
                   rng: np.random.Generator) -> list[dict[str, object]]:
    """``make-demo --format nifti``: each real patient's slices as one NIfTI volume
    ``<split>_<nnn>.nii.gz`` (patients numbered in a shuffled order; slices in anatomical order,
    read back as ids ``<split>_<nnn>:<slice>``); the generated images stay PNGs (the demo's
    generator is 2-D). Returns the rows of ``patients.csv``; writes the key, one line per slice."""
    _write_generated(root, gen_dev, gen_test)
    rows: list[dict[str, object]] = []
    key: list[str] = []
    for folder, split, parts in REAL_FOLDERS:
        patients = [(roles[r], p, label) for r, label in parts for p in np.unique(roles[r].patient)]
        for n, k in enumerate(rng.permutation(len(patients)), 1):
            real, p, label = patients[k]
            index = np.flatnonzero(real.patient == p)
            index = index[np.argsort(real.slice[index], kind="stable")]
            case = f"{split}_{n:03d}"
            _write_nifti(root / folder / split / f"{case}.nii.gz", real.pixels[index])
            for j in index:
                image_id = f"{case}:{int(real.slice[j]):03d}"
                rows.append({"id": image_id, "folder": folder, "split": split, "patient": f"p{p:03d}",
                             "slice": int(real.slice[j])})
                if folder == "test":
                    key.append(f"{image_id},{label}")
    tio.write_text(root / KEY_FILE, "\n".join(sorted(key)) + "\n")
    return rows


def _write_nifti(path: Path, slices: np.ndarray) -> None:
    """``(Z, S, S)`` uint8 axial slices as a gzipped NIfTI-1 volume (RAS+, 1 mm) that trainprint
    reads back to the same slices; written atomically, same pixels -> same bytes."""
    import gzip

    import nibabel as nib

    from trainprint.data.volume import volume_from_slices

    img = nib.Nifti1Image(volume_from_slices(np.asarray(slices, dtype=np.uint8)), np.eye(4))
    tio.write_bytes(path, gzip.compress(img.to_bytes(), mtime=0))


def _write_png(path: Path, img: np.ndarray) -> None:
    """8-bit gray PNG, written atomically; same pixels -> same bytes."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)).save(buf, format="PNG")
    tio.write_bytes(path, buf.getvalue())


def _nearest(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each image of ``a`` (N, S, S): index of and pixel L2 distance to its nearest in ``b``."""
    x = a.reshape(len(a), -1).astype(np.float64)
    y = b.reshape(len(b), -1).astype(np.float64)
    d2 = (x * x).sum(1)[:, None] - 2 * x @ y.T + (y * y).sum(1)[None]  # (N, M)
    idx = d2.argmin(1)
    return idx, np.sqrt(np.maximum(d2[np.arange(len(a)), idx], 0.0))


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC-AUC of scores ``pos`` (label 1) against ``neg`` (label 0), ties counted half."""
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def _membership_signal(roles: dict[str, _Real], train: np.ndarray, gen_dev: np.ndarray,
                       gen_test: np.ndarray) -> dict[str, float]:
    """How detectable membership is with the simplest label-free score (a sanity figure, not a
    method): ROC-AUC of minus each real image's pixel L2 distance to its nearest generated image,
    and the smallest distance of any generated image to a training slice (> 0: no copies)."""
    d = {r: _nearest(v.pixels, gen_dev if r.startswith("dev") else gen_test)[1] for r, v in roles.items()}
    _, d_train = _nearest(np.concatenate([gen_dev, gen_test]), train)
    return {
        "dcr_auc_dev": round(_auc(-d["dev_used"], -d["dev_not_used"]), 4),
        "dcr_auc_test": round(_auc(-d["test_used"], -d["test_not_used"]), 4),
        "generated_to_train_l2_min": round(float(d_train.min()), 2),
        "generated_to_train_l2_median": round(float(np.median(d_train)), 2),
    }


def _sample_sheet(roles: dict[str, _Real], train: np.ndarray, gen: np.ndarray, cols: int = 8) -> np.ndarray:
    """Rows: used slices, not-used slices, generated samples, each sample's nearest training slice;
    shown at twice the image size."""
    from PIL import ImageDraw

    s = train.shape[1]
    nearest = train[_nearest(gen[:cols], train)[0]]
    bands = [("real used (training set)", roles["dev_used"].pixels[::max(1, len(roles["dev_used"].pixels) // cols)]),
             ("real not used", roles["dev_not_used"].pixels[::max(1, len(roles["dev_not_used"].pixels) // cols)]),
             ("generated", gen), ("nearest training slice to the sample above", nearest)]
    label_h, gap = 14, 2
    sheet = np.zeros((len(bands) * (label_h + s + gap), cols * (s + gap)), np.uint8)
    canvas = Image.fromarray(sheet)
    draw = ImageDraw.Draw(canvas)
    for b, (label, imgs) in enumerate(bands):
        top = b * (label_h + s + gap)
        draw.text((2, top + 1), label, fill=255)
        for c, img in enumerate(imgs[:cols]):
            canvas.paste(Image.fromarray(img), (c * (s + gap), top + label_h))
    return np.asarray(canvas.resize((canvas.width * 2, canvas.height * 2), Image.Resampling.NEAREST))


@contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar over the GAN's training steps (yields ``on_step``), or nothing."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    bar = new_progress(enabled, TextColumn("training the demo generator"), BarColumn(), MofNCompleteColumn(),
                       TimeRemainingColumn())
    if bar is None:
        yield None
        return
    with bar:
        task = bar.add_task("train", total=total)
        yield lambda step: bar.update(task, completed=step)
