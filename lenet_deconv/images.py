"""Images for the command line: a user's ``.npy`` file, and lists of indices."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from numpy_lenet.model import check_images


def parse_int_list(text: str, what: str) -> list[int]:
    """Parse "3" or "0,5,7" into integers; a clear error otherwise."""
    try:
        values = [int(part) for part in text.split(",") if part.strip() != ""]
    except ValueError:
        raise ValueError(f"{what} must be integers separated by commas, got {text!r}") from None
    if not values:
        raise ValueError(f"{what}: no value given")
    return values


def load_images_npy(path: str | os.PathLike[str]) -> np.ndarray:
    """Read (N, 1, 28, 28) or (N, 28, 28) float pixels in [0, 1] from a .npy file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    try:
        images = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable .npy array ({exc})") from exc
    try:
        images = check_images(images)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        raise ValueError(f"{path}: pixels must lie in [0, 1], found values in [{low}, {high}]")
    return images
