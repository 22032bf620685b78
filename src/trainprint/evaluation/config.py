"""``EvalConfig``: the settings of one evaluation (saved as ``config.json`` of its run folder)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainprint.core.config import PRESET_NAMES
from trainprint.core.device import resolve_device
from trainprint.core.errors import TrainprintError
from trainprint.core.seeding import check_seed
from trainprint.data.reading import Reading, current_reading
from trainprint.evaluation.groups import AUTO, NONE, GroupRule
from trainprint.evaluation.null import PERMUTATIONS
from trainprint.evaluation.protocol import PROTOCOLS
from trainprint.scoring.siblings import check_siblings
from trainprint.methods import BASELINES, DEFAULT_METHODS, MethodOptions, parse_method

#: settings that must match for a run folder to be resumed (methods may be added)
RESUME_KEYS = ("dev_dir", "reading", "siblings", "protocol", "preset", "folds", "seed", "epochs", "size", "groups", "group_space",
               "group_z", "group_k", "skip_bad", "fraction_q")


@dataclass(frozen=True)
class EvalConfig:
    """Settings of one ``evaluate`` run (saved as ``config.json``)."""

    dev_dir: str  # the dev folder (generated/, real_used/, real_not_used/)
    protocol: str = "strict"  # strict | paper (see the module docstring)
    preset: str = "fast"  # preset of every trained extractor: paper | fast | smoke
    methods: tuple[str, ...] = DEFAULT_METHODS + BASELINES  # method ids, in output order
    folds: int = 10  # K of the stratified K-fold CV over U and NU
    seed: int = 0  # the one seed: folds, extractors, classifiers, resampling
    epochs: int | None = None  # overrides the preset's epochs of every trained extractor
    device: str = "auto"  # auto | cpu | cuda for extractors and similarities
    size: int | None = None  # resize images to size x size when loading
    keep_checkpoints: bool = False  # True: keep each fit's checkpoint.pt (Vector-Net ~135 MB); logs and curves always stay
    groups: str = AUTO  # auto (inferred siblings) | none (folds by image) | a CSV with columns id, group (or patient)
    group_space: str = "pixel"  # similarity space of --groups auto
    group_z: float | None = None  # robust z a link needs from both sides (--groups auto); None: from n
    group_k: int = 2  # ... and one of them among the other's k most similar images (--groups auto)
    skip_bad: bool = False  # skip unreadable image files (listed in the log) instead of stopping
    permutations: int = PERMUTATIONS  # label permutations of the null test (0: no test)
    null_refits: int = 0  # permutations that retrain label-reading extractors (0: such methods are not recommended)
    include_fraction: bool = False  # let the recommendation pick a fraction rule (it assumes the base rate)
    fraction_q: float = 0.5  # share of images the fraction rules call used
    siblings: str = "leave-out"  # leave-out | named | keep: which groups the scores leave out (scoring/siblings.py)
    # how volumes and 16-bit files are read (--axis, --slice-step, --window); default: the current reading
    reading: Reading = field(default_factory=current_reading)

    @property
    def group_rule(self) -> GroupRule:
        return GroupRule(self.group_space, self.group_z, self.group_k)

    @property
    def options(self) -> MethodOptions:
        return MethodOptions(fraction_q=self.fraction_q, preset=self.preset)

    def check(self) -> "EvalConfig":
        """Every setting checked (errors name the value), before anything is read or written."""
        check_seed(self.seed)
        resolve_device(self.device)
        self.reading.check()
        check_siblings(self.siblings)
        if self.protocol not in PROTOCOLS:
            raise TrainprintError(f"--protocol {self.protocol!r}: expected one of {', '.join(PROTOCOLS)}")
        if self.preset not in PRESET_NAMES:
            raise TrainprintError(f"--preset {self.preset!r}: expected one of {', '.join(PRESET_NAMES)}")
        if self.folds < 2:
            raise TrainprintError(f"--folds {self.folds}: expected at least 2")
        if self.epochs is not None and self.epochs < 1:
            raise TrainprintError(f"--epochs {self.epochs}: expected at least 1")
        if not self.methods:
            raise TrainprintError("--methods: no method to evaluate")
        for m in self.methods:
            parse_method(m)
        self.group_rule.check()
        if self.groups not in (AUTO, NONE) and not Path(self.groups).is_file():
            raise TrainprintError(f"--groups {self.groups}: file not found; expected auto, none or a CSV file")
        if self.permutations < 0:
            raise TrainprintError(f"--permutations {self.permutations}: expected 0 or more")
        if self.null_refits < 0:
            raise TrainprintError(f"--null-refits {self.null_refits}: expected 0 or more")
        if not 0.0 <= self.fraction_q <= 1.0:
            raise TrainprintError(f"--fraction-q {self.fraction_q}: expected a share between 0 and 1")
        return self
