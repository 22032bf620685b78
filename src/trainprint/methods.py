"""The method registry: a method id -> what it needs and how to build it (see docs/CONTRACT.md).

Method ids (names the user sees; keep them stable):

- ``<extractor>/<strategy>/<classifier>``, e.g. ``vectornet-12/real/svm-2``: a strategy and a
  classifier over the fingerprints of one extractor (``trainprint.classifiers``);
- ``sim-<space>/<rule>``, e.g. ``sim-ssim/realmax``, ``sim-vectornet-12/nn``: a similarity rule of
  ``trainprint.similarity`` in pixel space (``pixel``, ``ncc``, ``ssim``, over the ``raw``
  extractor's images) or in the fingerprint space of an extractor;
- ``baseline/all-used`` (answer "used" for every image) and ``baseline/chance`` (a fair coin).

Every method follows one estimator contract::

    fit(R, y, G, R_pool=None) -> self;  decision_function(R) -> (n,);  predict(R) -> (n,) 0/1;  notes_
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from trainprint.classifiers import CLASSIFIERS, STRATEGIES, FingerprintClassifier
from trainprint.errors import TrainprintError
from trainprint.extractors import EXTRACTORS, PAPER_EXTRACTORS

PIXEL_SPACES = ("pixel", "ncc", "ssim")  # similarity spaces computed on the ``raw`` images
BASELINES = ("baseline/all-used", "baseline/chance")

#: the paper's Table 1 grid, in its row order (6 extractors x 2 strategies x 3 classifiers)
GRID_METHODS = tuple(f"{e}/{s}/{c}" for e in PAPER_EXTRACTORS for s in STRATEGIES for c in CLASSIFIERS)


@dataclass(frozen=True)
class MethodSpec:
    """What a method id means.

    Attributes:
        id: the method id as the user wrote it.
        kind: ``classifier``, ``similarity`` or ``baseline``.
        extractor: extractor whose output the method reads (``raw`` for pixel spaces), or None.
        strategy, classifier: for ``classifier`` methods, else "".
        space, rule: for ``similarity`` methods, else "".
        uses_labels: whether ``fit`` reads the used / not-used labels ``y``.
        factory: ``factory(random_state, device) -> estimator`` with the method contract.
    """

    id: str
    kind: str
    extractor: str | None
    strategy: str = ""
    classifier: str = ""
    space: str = ""
    rule: str = ""
    uses_labels: bool = False
    factory: Callable[[int, str], Any] = field(default=lambda seed, device: None, repr=False, compare=False)


def parse_method(method_id: str) -> MethodSpec:
    """The ``MethodSpec`` of ``method_id``, or a TrainprintError naming what was expected."""
    parts = method_id.split("/")
    if method_id in BASELINES:
        cls = AllUsedBaseline if method_id.endswith("all-used") else ChanceBaseline
        return MethodSpec(method_id, "baseline", None, factory=lambda seed, device="cpu": cls(random_state=seed))
    if len(parts) == 3:
        return _classifier_spec(method_id, *parts)
    if len(parts) == 2 and parts[0].startswith("sim-"):
        return _similarity_spec(method_id, parts[0][len("sim-"):], parts[1])
    raise TrainprintError(
        f"method {method_id!r}: expected <extractor>/<strategy>/<classifier> (e.g. vectornet-12/real/svm-2), "
        f"sim-<space>/<rule> (e.g. sim-ssim/realmax) or one of {', '.join(BASELINES)}"
    )


def _classifier_spec(method_id: str, ext: str, strategy: str, clf: str) -> MethodSpec:
    _check_extractor(ext, method_id)
    if strategy not in STRATEGIES:
        raise TrainprintError(
            f"method {method_id!r}: unknown strategy {strategy!r}; expected {' or '.join(STRATEGIES)}")
    if clf not in CLASSIFIERS:
        raise TrainprintError(
            f"method {method_id!r}: unknown classifier {clf!r}; expected one of {', '.join(CLASSIFIERS)}")
    return MethodSpec(
        method_id, "classifier", ext, strategy=strategy, classifier=clf, uses_labels=True,
        factory=lambda seed, device="cpu": FingerprintClassifier(clf, strategy, random_state=seed),
    )


def _similarity_spec(method_id: str, space: str, rule: str) -> MethodSpec:
    if space not in PIXEL_SPACES:
        _check_extractor(space, method_id)
    rules = similarity_rules()
    if rule not in rules:
        raise TrainprintError(
            f"method {method_id!r}: unknown similarity rule {rule!r}; expected one of {', '.join(rules)}")
    sim = _similarity()
    make = sim.make_rule_method

    def factory(seed: int, device: str = "cpu") -> Any:
        return make(space, rule, **_optional_kw(make, random_state=seed, device=device))

    return MethodSpec(method_id, "similarity", "raw" if space in PIXEL_SPACES else space, space=space,
                      rule=rule, uses_labels=rule not in tuple(getattr(sim, "LABEL_FREE_RULES", ())),
                      factory=factory)


def similarity_rules() -> tuple[str, ...]:
    """Rule names known to ``trainprint.similarity`` (its ``RULES`` registry or ``rule_names()``)."""
    sim = _similarity()
    if hasattr(sim, "rule_names"):
        return tuple(sim.rule_names())
    if hasattr(sim, "RULES"):
        return tuple(sim.RULES)
    raise TrainprintError("trainprint.similarity lists no rules (expected RULES or rule_names())")


def known_methods() -> list[str]:
    """Every id ``expand_methods`` can match a glob against: the grid, the similarity rules in
    every pixel space (when the similarity module is importable) and the baselines."""
    ids = list(GRID_METHODS)
    try:
        rules = similarity_rules()
    except TrainprintError:
        rules = ()
    ids += [f"sim-{space}/{rule}" for space in PIXEL_SPACES for rule in rules]
    return ids + list(BASELINES)


def expand_methods(text: str | None) -> list[str]:
    """Comma-separated ids and globs (``vectornet-12/*/*``) -> ids in order, each once.
    ``None`` or empty gives the Table 1 grid. Every id is checked with ``parse_method``."""
    if not text or not text.strip():
        return list(GRID_METHODS)
    out: list[str] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if any(ch in item for ch in "*?["):
            matches = [m for m in known_methods() if fnmatch.fnmatchcase(m, item)]
            if not matches:
                raise TrainprintError(f"--methods: pattern {item!r} matches no known method")
        else:
            parse_method(item)
            matches = [item]
        out += [m for m in matches if m not in out]
    return out


# -- baselines ------------------------------------------------------------------------------------


class AllUsedBaseline:
    """Answers "used" for every image (F1 0.6667 on a balanced key)."""

    uses_labels = False

    def __init__(self, random_state: int = 0) -> None:
        self.random_state = random_state

    def fit(self, R: Any, y: Any = None, G: Any = None, R_pool: Any = None) -> "AllUsedBaseline":
        self.notes_: list[str] = []
        return self

    def decision_function(self, R: Any) -> np.ndarray:
        return np.ones(len(R))

    def predict(self, R: Any) -> np.ndarray:
        return np.ones(len(R), dtype=np.int64)


class ChanceBaseline(AllUsedBaseline):
    """A fair coin per image, seeded by ``random_state`` (score uniform in [0, 1), used if > 0.5)."""

    def decision_function(self, R: Any) -> np.ndarray:
        return np.random.default_rng(self.random_state).random(len(R))

    def predict(self, R: Any) -> np.ndarray:
        return (self.decision_function(R) > 0.5).astype(np.int64)


# -- helpers --------------------------------------------------------------------------------------


def _check_extractor(name: str, method_id: str) -> None:
    if name not in EXTRACTORS:
        raise TrainprintError(
            f"method {method_id!r}: unknown extractor {name!r}; expected one of {', '.join(EXTRACTORS)}")


def _similarity() -> Any:
    try:
        return importlib.import_module("trainprint.similarity")
    except ImportError as e:
        raise TrainprintError(f"sim-* methods need trainprint.similarity, which cannot be imported ({e})") from None


def _optional_kw(make: Callable[..., Any], **kw: Any) -> dict[str, Any]:
    """The keywords of ``kw`` that ``make`` (or the class it builds) names explicitly."""
    import inspect

    names: set[str] = set()
    for fn in (make, getattr(_similarity(), "SimilarityMethod", None)):
        try:
            names |= set(inspect.signature(fn).parameters)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
    return {k: v for k, v in kw.items() if k in names}
