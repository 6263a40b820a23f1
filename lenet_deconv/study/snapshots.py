"""A training run's per-epoch weights (``epochs/epoch-NN.npz``): which exist, and loading them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from itertools import pairwise
from pathlib import Path

from numpy_lenet.params import Params
from torch_lenet.checkpoint import RunDir, epoch_file
from torch_lenet.weights import load_params

#: The epochs Figure 4 shows by default, as in Zeiler & Fergus (whose run was longer).
DEFAULT_EPOCHS: tuple[int, ...] = (1, 2, 5, 10, 15)


def epochs_beside(weights: str | os.PathLike[str]) -> Path | None:
    """The epochs folder beside a weight file, if there is one."""
    beside = RunDir(Path(weights).parent).epochs_dir
    return beside if beside.is_dir() else None


def check_epochs(epochs: Sequence[int]) -> list[int]:
    """The epochs as a list, checked: at least one, each >= 1, strictly increasing."""
    epochs = [int(e) for e in epochs]
    if not epochs:
        raise ValueError("--epochs: no epoch given")
    if min(epochs) < 1:
        raise ValueError(f"--epochs: epochs count from 1, got {min(epochs)}")
    if any(b <= a for a, b in pairwise(epochs)):
        raise ValueError(f"--epochs must increase strictly, got {','.join(map(str, epochs))}")
    return epochs


def load_snapshots(epochs_dir: str | os.PathLike[str], epochs: Sequence[int]) -> dict[int, Params]:
    """The weights of every epoch asked for, checked; a clear error naming what is missing."""
    epochs_dir = Path(epochs_dir)
    missing = [e for e in epochs if not epoch_file(epochs_dir, e).is_file()]
    if missing:
        found = sorted(p.name for p in epochs_dir.glob("epoch-*.npz"))
        have = f"it holds {', '.join(found)}" if found else "it holds no epoch-NN.npz"
        raise FileNotFoundError(
            f"{epoch_file(epochs_dir, missing[0])} not found ({len(missing)} of the "
            f"{len(epochs)} epochs asked for are missing; {have}): pass --epochs"
        )
    return {e: load_params(epoch_file(epochs_dir, e)) for e in epochs}
