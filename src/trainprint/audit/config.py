"""``AuditConfig``: the settings of one ``audit`` run (saved as ``config.json``), and the default
label-free method.

``DEFAULT_LABEL_FREE_METHOD`` is what ``trainprint audit`` scores with when there is no dev set.
It was chosen from the benchmarks' dev sets (docs/audit.md, "Choosing the default"): AUC of each
label-free score in each pixel space, all 160 dev real images against the 500 dev generated ones,
pool = the dev real images. ``calibrated`` in SSIM (best SSIM to a generated image minus best SSIM
to another real image) was the only score above 0.5 on all three: 0.618 (cxrmem64-small), 0.535
(cxrmem64), 0.663 (ctmem64). The closest-match score ``max`` runs backwards on ctmem64 (0.36-0.40),
``nn`` is at chance on cxrmem64-small and ctmem64.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from trainprint.core.config import PRESET_NAMES
from trainprint.core.device import resolve_device
from trainprint.core.errors import TrainprintError
from trainprint.core.memory import DEFAULT_MEMORY, parse_memory
from trainprint.core.seeding import check_seed
from trainprint.evaluation.config import EvalConfig
from trainprint.evaluation.groups import AUTO, NONE
from trainprint.methods import BASELINES, SIMILARITY_METHODS, MethodSpec, parse_method
from trainprint.similarity import PIXEL_SPACES
from trainprint.similarity.generated import check_search

#: the method of an audit without a dev set (see the module docstring for why this one)
DEFAULT_LABEL_FREE_METHOD = "sim-ssim/calibrated"
#: the candidates a dev set chooses among by strict CV when ``--methods`` is not given
DEV_METHODS = SIMILARITY_METHODS


def _no_dev() -> EvalConfig:
    return EvalConfig(dev_dir="", methods=DEV_METHODS + BASELINES)


def streams(spec: MethodSpec) -> bool:
    """Whether ``spec`` can audit without a dev set, and reads the generated images as a
    ``GeneratedSet`` (uint8, a block at a time) when a dev set recommends it: it reads no labels,
    compares the images themselves (no trained extractor: its space is a pixel space) and can
    (``MethodSpec.streams``): ``sim-<pixel space>/<label-free rule>``, ``mia-<pixel space>/<score>``,
    ``mia-fusion/rank``, ``mia-disc/cnn``. The others (fingerprints, label-reading methods) read the
    generated images as rows of one representation."""
    return spec.streams and spec.extractor == "raw" and not spec.uses_labels and spec.space in PIXEL_SPACES


@dataclass(frozen=True)
class AuditConfig:
    """Settings of one ``audit`` run (saved as ``config.json``). ``evaluation`` holds what it shares
    with ``evaluate``: the dev folder (``""``: none) and its strict CV's candidates, folds,
    permutations and groups, and the preset, seed, device, size and skip-bad of every image read."""

    generated_dir: str  # folder of the generator's images
    real_dir: str  # folder of the real images to audit
    evaluation: EvalConfig = field(default_factory=_no_dev)  # the shared settings (see above)
    reference_dir: str | None = None  # folder of real images known not to be in training (the null's sample)
    method: str | None = None  # without a dev set: a label-free method on the pixels (streams); None: the default
    fdr: float = 0.05  # with a reference: images are called used at Benjamini-Hochberg q <= fdr
    search: str = "auto"  # SSIM / NCC against the generated images: auto | exhaustive | two-stage (similarity.generated)
    memory: int = DEFAULT_MEMORY  # bytes the run may hold at its peak (--memory): block sizes follow it

    @property
    def dev_dir(self) -> str | None:
        """The labelled dev folder (generated/, real_used/, real_not_used/) that chooses the method, or None."""
        return self.evaluation.dev_dir or None

    @property
    def mode(self) -> str:
        """``reference+dev``, ``dev``, ``reference`` or ``label-free`` (neither)."""
        parts = [p for p, on in (("reference", self.reference_dir), ("dev", self.dev_dir)) if on]
        return "+".join(parts) or "label-free"

    def eval_config(self) -> EvalConfig:
        """The strict CV on the dev set that picks the method (only with a dev set)."""
        return dataclasses.replace(self.evaluation, protocol="strict",
                                   methods=tuple(m for m in self.evaluation.methods if m not in BASELINES) + BASELINES)

    def check(self) -> "AuditConfig":
        """Every setting checked (errors name the value), before anything is read or written."""
        ev = self.evaluation
        check_seed(ev.seed)
        resolve_device(ev.device)
        if ev.preset not in PRESET_NAMES:
            raise TrainprintError(f"--preset {ev.preset!r}: expected one of {', '.join(PRESET_NAMES)}")
        check_search(self.search)
        parse_memory(self.memory)
        if not 0.0 < self.fdr < 1.0:
            raise TrainprintError(f"--fdr {self.fdr}: expected a share between 0 and 1")
        if self.dev_dir:
            if self.method:
                raise TrainprintError(f"--method {self.method}: with --dev the method is chosen by strict CV; "
                                      "give the candidates with --methods")
            self.eval_config().check()
        else:
            method = self.method or DEFAULT_LABEL_FREE_METHOD
            spec = parse_method(method)
            if not streams(spec):
                spaces = "|".join(PIXEL_SPACES)
                raise TrainprintError(f"--method {method}: without --dev the method must be label-free on the "
                                      f"images themselves: sim-<{spaces}>/<rule> (a rule that reads no labels), "
                                      f"mia-<{spaces}>/<score>, mia-fusion/rank or mia-disc/cnn")
            ev.group_rule.check()
            if ev.groups not in (AUTO, NONE) and not Path(ev.groups).is_file():
                raise TrainprintError(f"--groups {ev.groups}: file not found; expected auto, none or a CSV file")
        return self
