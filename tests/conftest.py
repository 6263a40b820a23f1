"""Shared fixtures: where the read-only MNIST copy lives, and the shipped weights."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHIPPED_WEIGHTS = REPO / "weights" / "lenet5-mnist.npz"
SHIPPED_METRICS = REPO / "weights" / "metrics.json"


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
