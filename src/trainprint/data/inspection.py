"""``inspect_folder``: what a user needs to know about a folder before a long run.

It reads the folder through the data layer (so it also fills the decode cache for the run that
follows) and returns an ``InspectReport``; ``InspectReport.lines()`` is what
``trainprint inspect`` prints. ``path`` may be a dev folder, a test folder, a folder holding
``dev/`` and/or ``test/`` (the layout ``trainprint make-demo`` writes), or a bare folder (or tree)
of DICOM series or NIfTI volumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainprint.data.imageset import REAL_UNKNOWN
from trainprint.data.load import CacheDir, LoadReport, is_volume_folder, read_folder, read_volume_folder
from trainprint.data.layout import describe, is_task_folder
from trainprint.data.reading import Reading
from trainprint.core.errors import TrainprintError


MODE_NAMES = {
    "L": "8-bit gray", "1": "1-bit", "P": "palette", "PA": "palette + alpha", "LA": "gray + alpha",
    "RGB": "color", "RGBA": "color + alpha", "RGBX": "color", "CMYK": "CMYK", "YCbCr": "YCbCr",
    "I;16": "16-bit gray", "I;16B": "16-bit gray", "I;16L": "16-bit gray", "I": "32-bit int",
    # stored types of DICOM and NIfTI volumes
    "uint8": "8-bit", "int8": "8-bit signed", "uint16": "16-bit", "int16": "16-bit signed", "int32": "32-bit signed",
    "uint32": "32-bit", "float32": "32-bit float", "float64": "64-bit float",
}


@dataclass(frozen=True)
class InspectReport:
    """Reports of the task folders found under ``path``, plus problems across them.

    Attributes:
        path: the folder inspected.
        folders: one ``LoadReport`` per task folder (``dev`` before ``test``).
        problems: problems across folders (e.g. dev and test images of different sizes).
    """

    path: Path
    folders: tuple[LoadReport, ...]
    problems: tuple[str, ...] = ()

    @property
    def all_problems(self) -> list[str]:
        return [p for f in self.folders for p in f.problems] + list(self.problems)

    def lines(self) -> list[str]:
        """Human-readable summary, one string per line."""
        out: list[str] = []
        for r in self.folders:
            out += _folder_lines(r)
        if self.problems:
            out += [f"problem: {p}" for p in self.problems]
        n = sum(r.n_images for r in self.folders)
        k = len(self.all_problems)
        out.append(f"usable: yes ({n} images; {k} problem{'' if k == 1 else 's'}{', see above' if k else ''})")
        return out


def inspect_folder(
    path: str | Path,
    *,
    size: int | None = None,
    skip_bad: bool = False,
    cache_dir: CacheDir = None,
    workers: int | None = None,
    progress: bool = False,
    reading: Reading | None = None,
) -> InspectReport:
    """Read every task folder at ``path``; raises ``TrainprintError`` when one is not usable."""
    path = Path(path)
    if is_volume_folder(path) and not is_task_folder(path):
        _, report = read_volume_folder(path, REAL_UNKNOWN, "folder", size=size, skip_bad=skip_bad, cache_dir=cache_dir,
                                       workers=workers, progress=progress, reading=reading)
        return InspectReport(path, (report,))
    options = dict(size=size, skip_bad=skip_bad, cache_dir=cache_dir, workers=workers, progress=progress,
                   reading=reading)
    subs = [path / k for k in ("dev", "test") if is_task_folder(path / k)]
    if path.is_dir() and not subs and not is_task_folder(path):
        raise TrainprintError(
            f"{path}: not a task folder; expected {describe('dev')}, {describe('test')}, "
            "a folder holding dev/ and test/, or a folder of DICOM series or NIfTI volumes"
        )
    targets = subs if subs and not is_task_folder(path) else [path]
    reports = tuple(read_folder(t, None, **options)[1] for t in targets)  # type: ignore[arg-type]
    problems: list[str] = []
    if len({r.size for r in reports}) > 1:
        sizes = ", ".join(f"{r.path.name} {r.size}x{r.size}" for r in reports)
        problems.append(f"{path}: folders differ in image size ({sizes}); pass --size N to use one size")
    return InspectReport(path, reports, tuple(problems))


def _folder_lines(r: LoadReport) -> list[str]:
    what = f"{r.source} folder" if r.source else "folder"
    out = [f"{r.path}: {what}, {r.n_images} images, {r.size}x{r.size} px"]
    width = max(len(s) for s in r.counts)
    out += [f"  {split:<{width}}  {n:>6}" for split, n in r.counts.items()]
    out.append("  file sizes:  " + _counts(r.native_sizes))
    modes = {f"{m} ({MODE_NAMES.get(m, 'other')})": n for m, n in r.modes.items()}
    out.append("  formats:     " + _counts(r.formats) + "   pixel modes: " + _counts(modes))
    if r.patients:
        out.append(f"  patients:    {r.patients} (named by the files: DICOM PatientID or StudyInstanceUID, NIfTI file)")
    conv = r.conversions
    out.append("  conversions: " + (_counts(conv, ": ") if conv else "none (8-bit gray, used as is)"))
    for note in r.notes:
        out.append(f"  note: {note}")
    n_problems = len(r.warnings) + len(r.skipped)
    out.append("  problems:    " + ("none" if not n_problems else str(n_problems)))
    out += [f"    warning: {w}" for w in r.warnings]
    out += [f"    skipped: {f}: {why}" for f, why in r.skipped]
    if r.cache_dir is None:
        cache = "off"
    else:
        cache = f"{r.cache_hits} from cache, {r.decoded} decoded ({r.cache_dir})"
    out.append(f"  read in {r.seconds:.2f} s: {cache}")
    return out


def _counts(d: dict[str, int], sep: str = " ") -> str:
    return ", ".join(f"{k}{sep}{v}" for k, v in d.items())
