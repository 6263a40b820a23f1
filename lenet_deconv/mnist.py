"""MNIST for the command line: which torchvision root holds it, and the images a command picks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from torch_lenet.data import images_to_float, load_mnist

from .images import check_indices

DATA_ENV_VAR = "LENET_DECONV_DATA"


def resolve_data_dir(arg: str | os.PathLike[str] | None) -> Path:
    """The MNIST root: the argument, else $LENET_DECONV_DATA, else the per-user cache folder."""
    if arg:
        return Path(arg).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "lenet-deconvnet" / "data"


def load_mnist_images(data_dir: str | None, split: str, indices: Sequence[int]) -> np.ndarray:
    """MNIST images at ``indices`` of ``split`` as float64 (N, 1, 28, 28) pixels in [0, 1]."""
    images, _ = load_mnist(resolve_data_dir(data_dir), split)
    check_indices(indices, len(images), f"the {split} split", "--index")
    return images_to_float(images[np.asarray(indices)], np.float64)


def first_images(
    images: np.ndarray, labels: np.ndarray, split: str, limit: int | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """The first ``limit`` images and labels of an MNIST split (all when None), and their name."""
    if limit is not None and limit < len(images):
        return images[:limit], labels[:limit], f"the first {limit} MNIST {split} images"
    return images, labels, f"the {len(images)} MNIST {split} images"
