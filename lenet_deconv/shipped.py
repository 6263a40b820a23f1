"""The shipped model: the weights that come with the package, or with the checkout.

An installed wheel holds them in ``lenet_deconv/weights/``, a checkout in ``weights/``
(pyproject.toml maps it onto that package): the model, its ``epochs/`` and
``metrics.json``, and the shuffled-label model of the sanity checks.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

#: The shipped model, and the model trained on shuffled labels (docs/safety.md), by file name.
SHIPPED_NAME = "lenet5-mnist.npz"
SHUFFLED_NAME = "lenet5-mnist-shuffled-labels.npz"


def shipped_folder() -> Path:
    """The folder of the shipped weights: the installed package's, else the checkout's."""
    candidates = [Path(str(files("lenet_deconv").joinpath("weights")))]
    candidates.append(Path(__file__).resolve().parent.parent / "weights")
    for folder in candidates:
        if (folder / SHIPPED_NAME).is_file():
            return folder
    return candidates[-1]  # absent: loading it then names the checkout's path


def shipped_weights() -> Path:
    """The shipped model's weight file (``weights/lenet5-mnist.npz`` in a checkout)."""
    return shipped_folder() / SHIPPED_NAME
