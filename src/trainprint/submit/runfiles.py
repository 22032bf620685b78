"""Official run files: write, validate, read, score, vote.

A run file has one line per test real image, ``<id>,<label>``, no header, label 0 (not used) or 1
(used), every id of ``real_unknown/`` exactly once. ``validate_text`` makes the official
validator's checks (ImageCLEFmedical GANs 2023) and returns one message per problem:
empty line, wrong number of fields, unknown id, repeated id, label not 0/1, missing id.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from trainprint.core.errors import TrainprintError
from trainprint.core.files import atomic_path
from trainprint.data.imageset import REAL_UNKNOWN
from trainprint.data.load import is_volume_folder, read_folder
from trainprint.evaluation.metrics import LABEL_METRICS, confusion, from_confusion

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp")
MAX_MISSING_LISTED = 20


def real_unknown_ids(test_dir: str | Path) -> list[str]:
    """Ids (file names without extension) of the images in ``test_dir/real_unknown/``, sorted.
    When it holds DICOM series or NIfTI volumes: the ids ``<case>:<slice>`` of its slices as the
    current reading (``--axis``, ``--slice-step``, ``--window``) cuts them (the folder is read)."""
    folder = Path(test_dir) / "real_unknown"
    if not folder.is_dir():
        raise TrainprintError(f"{test_dir}: expected a test folder with a real_unknown/ sub-folder")
    if is_volume_folder(folder):
        images, _ = read_folder(test_dir, "test", cache_dir=False, splits=(REAL_UNKNOWN,))
        return sorted(images.ids.tolist())
    ids = sorted(p.stem for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not ids:
        raise TrainprintError(f"{folder}: no images found")
    return ids


def validate_text(text: str, expected_ids: Sequence[str]) -> list[str]:
    """Problems of a run file's ``text`` against the ids it must cover; [] when it is valid."""
    expected = set(expected_ids)
    problems: list[str] = []
    seen: dict[str, int] = {}
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the newline that ends the last line is not an empty line
        lines.pop()
    for no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            problems.append(f"line {no}: empty line")
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 2:
            problems.append(f"line {no}: expected 2 comma-separated fields <id>,<label>, got {len(fields)}")
            continue
        image_id, label = fields
        if image_id not in expected:
            problems.append(f"line {no}: unknown id {image_id!r} (not in real_unknown/)")
        elif image_id in seen:
            problems.append(f"line {no}: id {image_id!r} repeated (first on line {seen[image_id]})")
        else:
            seen[image_id] = no
        if label not in ("0", "1"):
            problems.append(f"line {no}: label {label!r} is not 0 or 1")
    missing = sorted(expected - set(seen))
    for image_id in missing[:MAX_MISSING_LISTED]:
        problems.append(f"missing id {image_id!r}: no line for it")
    if len(missing) > MAX_MISSING_LISTED:
        problems.append(f"... and {len(missing) - MAX_MISSING_LISTED} more missing ids")
    return problems


def _run_file_bytes(path: str | Path) -> bytes:
    """The bytes of a run file; a missing path or a folder is a TrainprintError naming it."""
    path = Path(path)
    if path.is_dir():
        raise TrainprintError(f"{path}: is a folder; expected a run file (<id>,<0|1> per line)")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise TrainprintError(f"{path}: run file not found") from None
    except OSError as e:
        raise TrainprintError(f"{path}: cannot read the run file ({e.strerror or e})") from None


def validate_file(path: str | Path, expected_ids: Sequence[str]) -> list[str]:
    """``validate_text`` of the file at ``path`` (a file that is not UTF-8 text is one problem)."""
    try:
        text = _run_file_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        return [f"not UTF-8 text (byte {e.start})"]
    return validate_text(text, expected_ids)


def read_run_file(path: str | Path, expected_ids: Sequence[str] | None = None) -> dict[str, int]:
    """``{id: label}`` of a valid run file; with ``expected_ids`` it must cover exactly those."""
    try:
        text = _run_file_bytes(path).decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TrainprintError(f"{path}: not UTF-8 text (byte {e.start}); expected a run file "
                              "(<id>,<0|1> per line)") from None
    ids = expected_ids if expected_ids is not None else [
        ln.split(",")[0].strip() for ln in text.splitlines() if ln.strip()
    ]
    problems = validate_text(text, ids)
    if problems:
        raise TrainprintError(f"{path}: invalid run file: {problems[0]}"
                              + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""))
    out = {}
    for ln in text.splitlines():
        image_id, label = (f.strip() for f in ln.split(","))
        out[image_id] = int(label)
    return out


def format_run(ids: Sequence[str], labels: np.ndarray) -> str:
    """The run file text: ``<id>,<label>`` per line, in the order given."""
    labels = np.asarray(labels)
    if labels.shape != (len(ids),):
        raise TrainprintError(f"run file: {len(ids)} ids but labels of shape {labels.shape}")
    return "".join(f"{i},{int(v)}\n" for i, v in zip(ids, labels))


def write_run_file(path: str | Path, ids: Sequence[str], labels: np.ndarray,
                   expected_ids: Sequence[str] | None = None) -> Path:
    """Write a run file atomically; it is validated (against ``expected_ids``, else ``ids``)
    before it is renamed into place, so an invalid file is never left behind."""
    text = format_run(ids, labels)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
        problems = validate_file(tmp, expected_ids if expected_ids is not None else ids)
        if problems:
            raise TrainprintError(f"{path}: refusing to write an invalid run file: {problems[0]}")
    return Path(path)


def score_run(run_path: str | Path, key_path: str | Path) -> dict[str, float | int]:
    """Metrics of a run file against a key file in the same format (the key fixes the ids)."""
    key = read_run_file(key_path)
    run = read_run_file(run_path, list(key))
    ids = sorted(key)
    tp, fp, tn, fn = confusion(np.array([key[i] for i in ids]), np.array([run[i] for i in ids]))
    out: dict[str, float | int] = {m: v for m, v in from_confusion(tp, fp, tn, fn).items() if m in LABEL_METRICS}
    out.update(n=len(ids), tp=tp, fp=fp, tn=tn, fn=fn)
    return out


def majority_vote(labels: np.ndarray, tie_break: np.ndarray | None = None) -> np.ndarray:
    """Per-image majority of ``labels`` (M runs, n images) -> (n,) 0/1.

    A tie (possible with an even number of runs) takes ``tie_break`` (n,) when given (submit
    passes the recommended method's answers), else 1 ("used")."""
    labels = np.asarray(labels, dtype=np.int64)
    if labels.ndim != 2 or labels.shape[0] == 0:
        raise TrainprintError(f"vote: expected labels of shape (M runs, n images), got {labels.shape}")
    ones = labels.sum(axis=0)  # (n,)
    zeros = labels.shape[0] - ones
    tie = np.ones(labels.shape[1], dtype=np.int64) if tie_break is None else np.asarray(tie_break, np.int64)
    return np.where(ones > zeros, 1, np.where(zeros > ones, 0, tie)).astype(np.int64)
