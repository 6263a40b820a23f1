"""MNIST through torchvision: checking the files, loading them, and a clear error when absent.

The data directory is a torchvision root: the four uncompressed official files
sit in ``<data dir>/MNIST/raw/`` (lenet_deconv/mnist.py says which folder the
command line uses).
"""

from __future__ import annotations

import http.client
import math
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from numpy_lenet.atomic import make_folders, remove_empty_folders
from numpy_lenet.user_files import open_checked

if TYPE_CHECKING:
    from torch.utils.data import Dataset

SPLITS: tuple[str, ...] = ("train", "test")

#: The four files torchvision's MNIST reads, in ``<data dir>/MNIST/raw/``.
MNIST_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
#: The two files (images, labels) of each split: loading one split needs only its own.
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: IDX magic numbers: unsigned bytes (0x08) in 3 dimensions (images) or 1 (labels).
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801

#: MNIST's pixel mean and standard deviation (of pixel/255), for the optional normalisation.
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081

# urllib waits forever by default; a dead network should fail in seconds, not hang.
_DOWNLOAD_TIMEOUT_S = 30.0


class DataError(ValueError):
    """MNIST is missing (and cannot be downloaded) or unreadable."""


def raw_folder(data_dir: str | os.PathLike[str]) -> Path:
    """The folder that must hold the four MNIST files."""
    return Path(data_dir) / "MNIST" / "raw"


def missing_files(data_dir: str | os.PathLike[str], split: str | None = None) -> list[str]:
    """The MNIST files (of ``split``, or all four) not present in the raw folder."""
    raw = raw_folder(data_dir)
    names = MNIST_FILES if split is None else SPLIT_FILES[split]
    # exists(), not is_file(): a FIFO or folder in a file's place is refused by
    # check_headers, never taken for a missing file to download over.
    return [name for name in names if not (raw / name).exists()]


_COUNTS = {2: "two", 4: "four"}


def _missing_message(data_dir: Path, reason: str, split: str | None = None) -> str:
    """Which files to put where: the split's two, or all four when ``split`` is None."""
    raw = raw_folder(data_dir)
    needed = MNIST_FILES if split is None else SPLIT_FILES[split]
    missing = missing_files(data_dir, split)
    message = (
        f"MNIST not found in {data_dir} and {reason}. Put the {_COUNTS[len(needed)]} "
        f"uncompressed files {', '.join(needed)} in {raw}/ (missing: {', '.join(missing)}), "
        "or pass --data-dir (or set LENET_DECONV_DATA) to a folder that holds MNIST/raw/"
    )
    if all((data_dir / name).is_file() for name in needed):
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
    check_headers(data_dir)
    try:
        # With every file present torchvision only reads MNIST/raw; it writes nothing.
        return MNIST(str(data_dir), train=split == "train", transform=transform, download=False)
    except (RuntimeError, OSError, ValueError, AssertionError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"MNIST files in {raw_folder(data_dir)} are unreadable: {reason}") from exc


def check_headers(data_dir: str | os.PathLike[str], split: str | None = None) -> None:
    """Check each MNIST file's (of ``split``, or all four) magic number and size."""
    for name in MNIST_FILES if split is None else SPLIT_FILES[split]:
        path = raw_folder(data_dir) / name
        images = "images" in name
        magic, dims = (IMAGES_MAGIC, 3) if images else (LABELS_MAGIC, 1)
        with open_checked(path, "MNIST file") as handle:
            header = handle.read(4 * (dims + 1))
            actual = os.fstat(handle.fileno()).st_size
        if len(header) < 4 * (dims + 1):
            raise DataError(f"{path}: only {len(header)} bytes, shorter than an IDX header")
        found = int.from_bytes(header[:4], "big")
        if found != magic:
            raise DataError(
                f"{path}: magic number 0x{found:08x}, expected 0x{magic:08x} "
                f"(an MNIST {'image' if images else 'label'} file)"
            )
        sizes = [int.from_bytes(header[4 * i : 4 * i + 4], "big") for i in range(1, dims + 1)]
        expected = len(header) + math.prod(sizes)
        if actual != expected:
            raise DataError(
                f"{path}: {actual} bytes, but its header declares {sizes} ({expected} bytes); "
                "the file is truncated or not MNIST"
            )


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """The uint8 array of an IDX file (MNIST's format): a big-endian header, then the bytes."""
    with open_checked(path, "MNIST file") as handle:
        header = handle.read(4)
        if len(header) < 4 or header[:3] != b"\x00\x00\x08":
            raise ValueError(f"{path} is not an IDX file of unsigned bytes")
        dims = header[3]
        sizes = [int.from_bytes(handle.read(4), "big") for _ in range(dims)]
        data = np.fromfile(handle, dtype=np.uint8)
    if data.size != math.prod(sizes):
        raise ValueError(f"{path} holds {data.size} bytes after its header, expected {sizes}")
    return data.reshape(sizes)


def _download(data_dir: Path, split: str | None = None) -> None:
    """Let torchvision fetch the missing files; any failure becomes one DataError."""
    from torchvision.datasets import MNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    created = make_folders(raw_folder(data_dir))
    try:
        MNIST(str(data_dir), train=True, download=True)
    except (RuntimeError, OSError, http.client.HTTPException) as exc:
        remove_empty_folders(created)  # a failed download leaves no empty MNIST/raw/ behind
        raise DataError(
            _missing_message(data_dir, f"the download failed ({_reason(exc)})", split)
        ) from exc
    except BaseException:
        remove_empty_folders(created)
        raise
    finally:
        socket.setdefaulttimeout(previous)


def _reason(exc: BaseException) -> str:
    """One line saying why a download failed, never empty.

    torchvision folds each mirror's error into a multi-line RuntimeError whose
    first line ("Error downloading X:") says nothing; keep every line, joined.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines) or type(exc).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def load_mnist(
    data_dir: str | os.PathLike[str], split: str, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of the ``train`` or ``test`` split.

    Only the split's own two files are needed (the test images load without the
    training files). They are the files torchvision downloads and checks; they
    are read here as plain IDX arrays (read_idx) because importing torchvision
    takes about 3 s, longer than the rest of a small command
    (tests/test_data.py checks the arrays equal torchvision's own readers').
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    data_dir = Path(data_dir)
    if missing_files(data_dir, split):
        if not download:
            raise DataError(_missing_message(data_dir, "downloading is off", split))
        _download(data_dir, split)
    check_headers(data_dir, split)
    image_file, label_file = (raw_folder(data_dir) / name for name in SPLIT_FILES[split])
    try:
        images = read_idx(image_file)
        labels = read_idx(label_file).astype(np.int64)
    except (OSError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"MNIST files in {raw_folder(data_dir)} are unreadable: {reason}") from exc
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
