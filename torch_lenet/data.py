"""MNIST through torchvision: where the files live, loading them, and a clear error when absent.

The data directory is a torchvision root: the four uncompressed official files
sit in ``<data dir>/MNIST/raw/``. It is chosen, first match wins, from
1. the ``--data-dir`` argument,
2. the environment variable ``LENET_DECONV_DATA``,
3. ``$XDG_CACHE_HOME/lenet-deconvnet/data`` (``~/.cache/lenet-deconvnet/data`` when unset).
"""

from __future__ import annotations

import http.client
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from torch.utils.data import Dataset

DATA_ENV_VAR = "LENET_DECONV_DATA"
SPLITS: tuple[str, ...] = ("train", "test")

#: The four files torchvision's MNIST reads, in ``<data dir>/MNIST/raw/``.
MNIST_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
SPLIT_SIZES: dict[str, int] = {"train": 60_000, "test": 10_000}

#: MNIST's pixel mean and standard deviation (of pixel/255), for the optional normalisation.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# urllib waits forever by default; a dead network should fail in seconds, not hang.
_DOWNLOAD_TIMEOUT_S = 30.0


class DataError(ValueError):
    """MNIST is missing (and cannot be downloaded) or unreadable."""


def resolve_data_dir(arg: str | os.PathLike[str] | None) -> Path:
    """The MNIST root: the argument, else $LENET_DECONV_DATA, else the per-user cache folder."""
    if arg:
        return Path(arg).expanduser()
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "lenet-deconvnet" / "data"


def raw_folder(data_dir: str | os.PathLike[str]) -> Path:
    """The folder that must hold the four MNIST files."""
    return Path(data_dir) / "MNIST" / "raw"


def missing_files(data_dir: str | os.PathLike[str]) -> list[str]:
    """The names of MNIST_FILES not present in the data directory's raw folder."""
    raw = raw_folder(data_dir)
    return [name for name in MNIST_FILES if not (raw / name).is_file()]


def _missing_message(data_dir: Path, reason: str) -> str:
    raw = raw_folder(data_dir)
    missing = missing_files(data_dir)
    message = (
        f"MNIST not found in {data_dir} and {reason}. Put the four uncompressed files "
        f"{', '.join(MNIST_FILES)} in {raw}/ (missing: {', '.join(missing)}), "
        f"or pass --data-dir (or set {DATA_ENV_VAR}) to a folder that holds MNIST/raw/"
    )
    if all((data_dir / name).is_file() for name in MNIST_FILES):
        # A common slip: pointing at the raw folder itself rather than the root.
        message += f"; {data_dir} holds the files itself: pass {data_dir.parent.parent} instead"
    return message


def mnist_dataset(
    data_dir: str | os.PathLike[str], split: str, download: bool = True, transform=None
) -> Dataset:
    """torchvision's MNIST dataset for a split, downloading it only when files are missing."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    from torchvision.datasets import MNIST  # here: torchvision is slow to import

    data_dir = Path(data_dir)
    if missing_files(data_dir):
        if not download:
            raise DataError(_missing_message(data_dir, "downloading is off"))
        _download(data_dir)
    try:
        # With every file present torchvision only reads MNIST/raw; it writes nothing.
        return MNIST(str(data_dir), train=split == "train", transform=transform, download=False)
    except (RuntimeError, OSError, ValueError, AssertionError) as exc:
        raise DataError(f"MNIST files in {raw_folder(data_dir)} are unreadable: {exc}") from exc


def _download(data_dir: Path) -> None:
    """Let torchvision fetch the missing files; any failure becomes one DataError."""
    from torchvision.datasets import MNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        MNIST(str(data_dir), train=True, download=True)
    except (RuntimeError, OSError, http.client.HTTPException) as exc:
        # torchvision folds each mirror's URLError into a multi-line RuntimeError;
        # keep only its first line so the user sees one clear sentence.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = f"the download failed ({first_line})"
        raise DataError(_missing_message(data_dir, reason)) from exc
    finally:
        socket.setdefaulttimeout(previous)


def load_mnist(
    data_dir: str | os.PathLike[str], split: str, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of the ``train`` or ``test`` split."""
    dataset = mnist_dataset(data_dir, split, download=download)
    images = dataset.data.numpy()
    labels = dataset.targets.numpy().astype(np.int64)
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28) or len(labels) != len(images):
        raise DataError(
            f"MNIST {split} split in {raw_folder(data_dir)} has images {images.shape} "
            f"{images.dtype} and {len(labels)} labels; expected (N, 28, 28) uint8 and N labels"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"MNIST {split} labels in {raw_folder(data_dir)} fall outside 0..9")
    return images, labels


def images_to_float(images_uint8: np.ndarray, dtype: np.dtype | type = np.float32) -> np.ndarray:
    """Images (N, 28, 28) uint8 as (N, 1, 28, 28) floats pixel/255 in [0, 1]."""
    images = np.asarray(images_uint8)
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images, got {images.dtype}")
    # Divide in the target dtype: pixel/255 rounded once, as torchvision's ToTensor does.
    return (images.astype(dtype) / np.asarray(255, dtype=dtype))[:, None, :, :]


def normalize_images(images: np.ndarray) -> np.ndarray:
    """(x - 0.1307) / 0.3081 in the images' own dtype, as torchvision's Normalize computes it."""
    dtype = images.dtype
    return (images - np.asarray(MNIST_MEAN, dtype=dtype)) / np.asarray(MNIST_STD, dtype=dtype)
