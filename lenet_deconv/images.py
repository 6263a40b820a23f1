"""Images for the command line: a user's ``.npy`` file, and lists of indices."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from numpy_lenet.model import check_images
from numpy_lenet.user_files import DAMAGED, open_checked

from .memory_budget import human


def parse_int_list(text: str, what: str) -> list[int]:
    """Parse "3" or "0,5,7" into integers; a clear error otherwise."""
    try:
        values = [int(part) for part in text.split(",") if part.strip() != ""]
    except ValueError:
        raise ValueError(f"{what} must be integers separated by commas, got {text!r}") from None
    if not values:
        raise ValueError(f"{what}: no value given")
    return values


def check_indices(
    indices: Sequence[int], count: int, where: str, what: str = "image index"
) -> None:
    """Raise ValueError unless every index picks one of ``count`` images."""
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise ValueError(f"{what} {bad[0]} is out of range for {where} (0..{count - 1})")


def load_images_npy(path: str | os.PathLike[str], max_bytes: int | None = None) -> np.ndarray:
    """Read (N, 1, 28, 28) or (N, 28, 28) float pixels in [0, 1] from a checked .npy file."""
    path = Path(path)
    with open_checked(path, "input file", magic=(b"\x93NUMPY",), kind="a .npy array") as handle:
        try:
            images = _read_npy(path, handle, max_bytes)
        except DAMAGED as exc:  # ValueError among them
            if isinstance(exc, ValueError) and str(path) in str(exc):
                raise
            raise ValueError(f"{path}: not a readable .npy array ({exc})") from exc
    try:
        images = check_images(images)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    low, high = float(images.min()), float(images.max())
    if low < 0 or high > 1:
        raise ValueError(f"{path}: pixels must lie in [0, 1], found values in [{low}, {high}]")
    return images


def _read_npy(path: Path, handle: BinaryIO, max_bytes: int | None) -> np.ndarray:
    """The array of an open .npy file, its header checked against the file before reading."""
    version = np.lib.format.read_magic(handle)
    if version not in ((1, 0), (2, 0)):
        raise ValueError(f"{path}: .npy format version {version}; expected 1.0 or 2.0")
    read_header = {(1, 0): np.lib.format.read_array_header_1_0}.get(
        version, np.lib.format.read_array_header_2_0
    )
    shape, _, dtype = read_header(handle)
    if dtype.hasobject or not all(isinstance(n, int) and n >= 0 for n in shape):
        raise ValueError(f"{path}: header declares dtype {dtype} and shape {shape}")
    size = math.prod(shape) * dtype.itemsize  # Python integers: no overflow at 2**70
    if max_bytes is not None and size > max_bytes:
        raise ValueError(
            f"--input {path} holds {human(size)} of pixels, beyond the memory budget of "
            f"{human(max_bytes)}; raise it with --max-memory or project fewer images at a time"
        )
    data = os.fstat(handle.fileno()).st_size - handle.tell()
    if data != size:
        raise ValueError(f"{path}: {data} bytes of data, but its header declares {size}")
    handle.seek(0)
    return np.load(handle, allow_pickle=False)
