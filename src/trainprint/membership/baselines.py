"""Reference answers every evaluation reports beside the real methods: ``baseline/all-used`` and
``baseline/chance``. They follow the method contract (``fit``, ``decision_function``, ``predict``,
``notes_``) and read no label."""

from __future__ import annotations

from typing import Any

import numpy as np


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
