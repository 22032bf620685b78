"""Shared test configuration: benchmark-folder location and seeding."""

from __future__ import annotations

from pathlib import Path

import pytest

#: ../shared/benchmarks beside the checkout; absent on a user's fresh clone.
BENCHMARKS = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


@pytest.fixture
def benchmark_dir():
    """Return a function ``name -> Path`` that skips the test when ../shared/benchmarks is absent."""

    def get(name: str) -> Path:
        path = BENCHMARKS / name
        if not path.is_dir():
            pytest.skip(f"{path} is absent (../shared/benchmarks exists only beside the project's checkout)")
        return path

    return get
