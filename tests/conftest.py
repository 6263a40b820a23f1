"""Shared fixtures and helpers: the read-only MNIST copy, the shipped weights, tolerances."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[1]
SHIPPED_WEIGHTS = REPO / "weights" / "lenet5-mnist.npz"
SHIPPED_METRICS = REPO / "weights" / "metrics.json"

#: Relative error ||a - b|| / ||b|| allowed where two computations add the same
#: products in different orders (docs/agreement.md).
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def assert_matches(actual: np.ndarray, expected: np.ndarray) -> None:
    """Same shape and dtype, and relative error ||a-b||/||b|| within the dtype's bound."""
    assert actual.shape == expected.shape
    assert actual.dtype == expected.dtype
    scale = np.linalg.norm(expected)
    error = np.linalg.norm(actual.astype(np.float64) - expected)
    assert error <= TOLERANCE[expected.dtype] * scale, (error, scale)


def pair_arg(draw, low: int, high: int) -> tuple[int | tuple[int, int], tuple[int, int]]:
    """An int-or-pair argument as the op receives it, and as an explicit (h, w) pair."""
    if draw(st.booleans()):
        value = draw(st.integers(low, high))
        return value, (value, value)
    pair = (draw(st.integers(low, high)), draw(st.integers(low, high)))
    return pair, pair


def _data_dir() -> Path:
    # CI clones the repo with ../shared beside it; LENET_DECONV_DATA overrides.
    env = os.environ.get("LENET_DECONV_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The MNIST torchvision root the tests read (never written to)."""
    root = _data_dir()
    raw = root / "MNIST" / "raw"
    if not (raw / "t10k-images-idx3-ubyte").is_file():
        # Not a skip: these checks must run; a missing copy is a broken setup.
        pytest.fail(f"MNIST not found in {raw}; set LENET_DECONV_DATA to a root holding MNIST/raw/")
    return root
