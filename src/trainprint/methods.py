"""The method registry: a method id -> what it needs and how to build it (see docs/CONTRACT.md).

Method ids (names the user sees; keep them stable):

- ``<extractor>/<strategy>/<classifier>``, e.g. ``vectornet-12/real/svm-2``: a strategy and a
  classifier over the fingerprints of one extractor (``trainprint.membership.classifiers``);
- ``sim-<space>/<rule>``, e.g. ``sim-ssim/realmax``, ``sim-vectornet-12/nn``: a similarity rule of
  ``trainprint.membership.similarity_method`` in pixel space (``pixel``, ``ncc``, ``ssim``, over the ``raw``
  extractor's images) or in the fingerprint space of an extractor;
- ``mia-<space>/<score>``, e.g. ``mia-ssim/domias-knn``: a membership-inference score of
  ``trainprint.membership.mia`` (DOMIAS density ratio by kNN, KDE or classifier; GAN-Leaks calibrated)
  in a pixel or fingerprint space, label-free;
- ``mia-<space>/domias-knn-nu`` and ``mia-<space>/gan-leaks-cal-nu``: the same with the training
  fold's not-used images as the reference (reads labels);
- ``mia-disc/cnn``: a CNN discriminator of generated vs real images, cross-fitted over the reals;
- ``mia-fusion/rank`` (label-free) and ``mia-fusion/features`` (fitted on labels): every label-free
  score of the pixel spaces combined; ``mia-fusion+<extractor>[+<extractor>...]/<rule>`` (e.g.
  ``mia-fusion+contrastive/rank``): also those of the extractors' fingerprint spaces;
- ``baseline/all-used`` (answer "used" for every image) and ``baseline/chance`` (a fair coin).

Every method follows one estimator contract::

    fit(R, y, G, R_pool=None) -> self;  decision_function(R) -> (n,);  predict(R) -> (n,) 0/1;  notes_
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable

from trainprint.core.errors import TrainprintError
from trainprint.extractors.registry import EXTRACTORS, PAPER_EXTRACTORS
from trainprint.membership.baselines import AllUsedBaseline, ChanceBaseline
from trainprint.membership.classifiers import CLASSIFIERS, STRATEGIES, FingerprintClassifier
from trainprint.membership.mia import MIA_SCORES, MiaMethod, check_space_score
from trainprint.membership.mia.fusion import FUSION_RULES, check_extractors, extractor_reads_labels
from trainprint.membership.rules import RULES
from trainprint.membership.similarity_method import SPACES, SimilarityMethod
from trainprint.similarity import PIXEL_SPACES

BASELINES = ("baseline/all-used", "baseline/chance")

#: the paper's Table 1 grid, in its row order (6 extractors x 2 strategies x 3 classifiers)
GRID_METHODS = tuple(f"{e}/{s}/{c}" for e in PAPER_EXTRACTORS for s in STRATEGIES for c in CLASSIFIERS)
#: the nine runs of the paper's Table 2 (submissions 1-9; submission 10 is their majority vote)
TABLE2_METHODS = tuple(f"vectornet-{c}/full/{k}" for c in ("1", "12", "123") for k in ("svm-linear", "svm-2")) + tuple(
    f"{e}/full/svm-linear" for e in ("dae-gu", "dae-gnu", "dae-gunu"))
#: every similarity rule in every pixel space (the 2023 winners' family and its labelled variants)
SIMILARITY_METHODS = tuple(f"sim-{s}/{r}" for s in PIXEL_SPACES for r in RULES)
DISCRIMINATOR = "mia-disc/cnn"
FUSION = "mia-fusion"
FUSION_METHODS = tuple(f"{FUSION}/{r}" for r in FUSION_RULES)


def mia_ids(spaces: tuple[str, ...]) -> tuple[str, ...]:
    """Every valid ``mia-<space>/<score>`` id of ``spaces`` (KDE and classifier only where the space has vectors)."""
    out = []
    for space in spaces:
        for score in MIA_SCORES:
            try:
                check_space_score(space, score)
            except TrainprintError:
                continue
            out.append(f"mia-{space}/{score}")
    return tuple(out)


#: suffix of the ``mia-`` scores whose reference is the training fold's not-used images (reads labels)
NOT_USED_SUFFIX = "-nu"
NOT_USED_SCORES = ("domias-knn", "gan-leaks-cal")  # cheap to refit under every null permutation


def mia_nu_ids(spaces: tuple[str, ...]) -> tuple[str, ...]:
    """Every ``mia-<space>/<score>-nu`` id of ``spaces``."""
    return tuple(f"mia-{s}/{sc}{NOT_USED_SUFFIX}" for s in spaces for sc in NOT_USED_SCORES)


#: the membership-inference family on the raw images: scores in every pixel space, the
#: discriminator, the fusions (label-free except mia-fusion/features)
MIA_METHODS = mia_ids(PIXEL_SPACES) + (DISCRIMINATOR,) + FUSION_METHODS
#: the self-supervised contrastive extractor's space, every rule and score (not in the default: it
#: trains an extractor per fold)
CONTRASTIVE_METHODS = tuple(f"sim-contrastive/{r}" for r in RULES) + mia_ids(("contrastive",))
#: what evaluate and submit run without --methods: the paper's grid, the similarity methods, then
#: the membership-inference family on pixels
DEFAULT_METHODS = GRID_METHODS + SIMILARITY_METHODS + MIA_METHODS
#: names --methods accepts for whole lists
METHOD_LISTS: dict[str, tuple[str, ...]] = {"default": DEFAULT_METHODS, "paper": GRID_METHODS,
                                            "table2": TABLE2_METHODS, "similarity": SIMILARITY_METHODS,
                                            "mia": MIA_METHODS, "contrastive": CONTRASTIVE_METHODS,
                                            "mia-nu": mia_nu_ids(PIXEL_SPACES)}


@dataclass(frozen=True)
class MethodOptions:
    """Settings a user gives to every method of one kind (the method id names the rest)."""

    fraction_q: float = 0.5  # share of images the ``fraction`` rule calls used (its assumed base rate)
    preset: str = "fast"  # training preset of methods that train a network (mia-disc)


@dataclass(frozen=True)
class MethodSpec:
    """What a method id means.

    Attributes:
        id: the method id as the user wrote it.
        kind: ``classifier``, ``similarity``, ``mia`` or ``baseline`` (``similarity`` and ``mia``
            methods get ``R_pool``, every real image unlabelled).
        extractor: extractor whose output the method reads (``raw`` for pixel spaces), or None.
        strategy, classifier: for ``classifier`` methods, else "".
        space, rule: for ``similarity`` methods, else "".
        uses_labels: whether ``fit`` reads the used / not-used labels ``y``.
        factory: ``factory(random_state, device, options) -> estimator`` with the method contract.
    """

    id: str
    kind: str
    extractor: str | None
    strategy: str = ""
    classifier: str = ""
    space: str = ""
    rule: str = ""
    uses_labels: bool = False
    #: the method trains, inside ``fit``, an extractor that reads labels (a fusion over its space):
    #: like a method whose ``extractor`` reads labels, its null test must retrain it (``--null-refits``)
    trains_on_labels: bool = False
    #: ``fit`` takes the generated images as a ``similarity.GeneratedSet`` and reads them a block at a
    #: time (similarity methods, ``mia-<space>/<score>``, a fusion of pixel spaces): they need never be
    #: one float32 array (``audit``, ``submit --engine local``)
    streams: bool = False
    factory: Callable[[int, str, MethodOptions], Any] = field(default=lambda seed, device, options: None,
                                                              repr=False, compare=False)


def parse_method(method_id: str) -> MethodSpec:
    """The ``MethodSpec`` of ``method_id``, or a TrainprintError naming what was expected."""
    parts = method_id.split("/")
    if method_id in BASELINES:
        cls = AllUsedBaseline if method_id.endswith("all-used") else ChanceBaseline
        return MethodSpec(method_id, "baseline", None,
                          factory=lambda seed, device="cpu", options=MethodOptions(): cls(random_state=seed))
    if len(parts) == 3:
        return _classifier_spec(method_id, *parts)
    if len(parts) == 2 and parts[0].startswith("sim-"):
        return _similarity_spec(method_id, parts[0][len("sim-"):], parts[1])
    if method_id == DISCRIMINATOR:
        return MethodSpec(method_id, "mia", "raw", space="pixel", rule="cnn", streams=True,
                          factory=_discriminator)
    if len(parts) == 2 and (parts[0] == FUSION or parts[0].startswith(FUSION + "+")):
        return _fusion_spec(method_id, tuple(parts[0].split("+")[1:]), parts[1])
    if len(parts) == 2 and parts[0].startswith("mia-") and parts[0] != "mia-disc":
        return _mia_spec(method_id, parts[0][len("mia-"):], parts[1])
    raise TrainprintError(
        f"method {method_id!r}: expected <extractor>/<strategy>/<classifier> (e.g. vectornet-12/real/svm-2), "
        f"sim-<space>/<rule> (e.g. sim-ssim/realmax), mia-<space>/<score> (e.g. mia-ssim/domias-knn), "
        f"{DISCRIMINATOR}, {FUSION}[+<extractor>...]/<{'|'.join(FUSION_RULES)}> or one of {', '.join(BASELINES)}"
    )


def _discriminator(seed: int, device: str = "cpu", options: MethodOptions = MethodOptions()) -> Any:
    from trainprint.membership.mia.discriminator import DiscriminatorMethod  # imports torch models

    return DiscriminatorMethod(options.preset, device=device, random_state=seed)


def _fusion_spec(method_id: str, extractors: tuple[str, ...], rule: str) -> MethodSpec:
    """``mia-fusion[+<extractor>...]/<rule>``: the pixel spaces plus these extractors' spaces."""
    if rule not in FUSION_RULES:
        raise TrainprintError(f"method {method_id!r}: unknown fusion rule {rule!r}; expected one of "
                              f"{', '.join(FUSION_RULES)}")
    try:
        check_extractors(extractors)
    except TrainprintError as e:
        raise TrainprintError(f"method {method_id!r}: {e}") from None
    readers = any(extractor_reads_labels(e) for e in extractors)

    def factory(seed: int, device: str = "cpu", options: MethodOptions = MethodOptions()) -> Any:
        from trainprint.membership.mia.fusion import FusionMethod

        return FusionMethod(rule, extractors=extractors, preset=options.preset, device=device, random_state=seed)

    return MethodSpec(method_id, "mia", "raw", space="pixel", rule=rule, uses_labels=rule == "features" or readers,
                      trains_on_labels=readers, streams=not extractors, factory=factory)


def _mia_spec(method_id: str, space: str, score: str) -> MethodSpec:
    if space not in PIXEL_SPACES:
        _check_extractor(space, method_id)
    reference = "pool"
    if score.endswith(NOT_USED_SUFFIX) and score[:-len(NOT_USED_SUFFIX)] in NOT_USED_SCORES:
        score, reference = score[:-len(NOT_USED_SUFFIX)], "not-used"
    try:
        check_space_score(space, score)
    except TrainprintError as e:
        raise TrainprintError(f"method {method_id!r}: {e}") from None

    def factory(seed: int, device: str = "cpu", options: MethodOptions = MethodOptions()) -> MiaMethod:
        return MiaMethod(space=space, score=score, reference=reference, device=device, random_state=seed)

    return MethodSpec(method_id, "mia", "raw" if space in PIXEL_SPACES else space, space=space, rule=score,
                      uses_labels=reference == "not-used", streams=True, factory=factory)


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
        factory=lambda seed, device="cpu", options=MethodOptions(): FingerprintClassifier(clf, strategy,
                                                                                          random_state=seed),
    )


def _similarity_spec(method_id: str, space: str, rule: str) -> MethodSpec:
    if space not in PIXEL_SPACES:
        _check_extractor(space, method_id)
    if rule not in RULES:
        raise TrainprintError(
            f"method {method_id!r}: unknown similarity rule {rule!r}; expected one of {', '.join(RULES)}")

    def factory(seed: int, device: str = "cpu", options: MethodOptions = MethodOptions()) -> SimilarityMethod:
        return SimilarityMethod(space=space, rule=rule, random_state=seed, device=device, q=options.fraction_q)

    return MethodSpec(method_id, "similarity", "raw" if space in PIXEL_SPACES else space, space=space,
                      rule=rule, uses_labels=RULES[rule].uses_labels, streams=True, factory=factory)


def known_methods() -> list[str]:
    """Every id ``expand_methods`` can match a glob against: the default methods, the similarity
    rules and membership-inference scores in every fingerprint space, and the baselines."""
    extra = ([f"sim-{s}/{r}" for s in SPACES if s not in PIXEL_SPACES for r in RULES] + list(mia_ids(SPACES))
             + list(mia_nu_ids(SPACES)) + [f"{FUSION}+{s}/{r}" for s in SPACES if s not in PIXEL_SPACES
                                           for r in FUSION_RULES])
    out = list(DEFAULT_METHODS) + list(BASELINES)
    return out + [m for m in extra if m not in out]


def expand_methods(text: str | None) -> list[str]:
    """Comma-separated ids, globs (``vectornet-12/*/*``) and list names (``METHOD_LISTS``: default,
    paper, table2, similarity, mia, contrastive, mia-nu) -> ids in order, each once. ``None`` (no ``--methods``) gives
    ``DEFAULT_METHODS``; an empty list is an error. Every id is checked with ``parse_method``."""
    if text is None:
        return list(DEFAULT_METHODS)
    if not text.replace(",", "").strip():
        raise TrainprintError(f"--methods {text!r}: no method given; expected comma-separated method ids or "
                              "globs, e.g. 'vectornet-12/real/svm-2,sim-ssim/*'")
    out: list[str] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item in METHOD_LISTS:
            matches = list(METHOD_LISTS[item])
        elif any(ch in item for ch in "*?["):
            matches = [m for m in known_methods() if fnmatch.fnmatchcase(m, item)]
            if not matches:
                raise TrainprintError(f"--methods: pattern {item!r} matches no known method")
        else:
            parse_method(item)
            matches = [item]
        out += [m for m in matches if m not in out]
    return out


def _check_extractor(name: str, method_id: str) -> None:
    if name not in EXTRACTORS:
        raise TrainprintError(
            f"method {method_id!r}: unknown extractor {name!r}; expected one of {', '.join(EXTRACTORS)}")
