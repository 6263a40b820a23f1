"""MNIST in a torchvision root (``<data dir>/MNIST/raw/``): checked, loaded, downloaded."""

from __future__ import annotations

import http.client
import math
import os
import socket
from pathlib import Path

import numpy as np

from numpy_lenet.atomic import make_folders, remove_empty_folders
from numpy_lenet.user_files import open_checked

#: The two files (images, labels) of each split: loading one split needs only its own.
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: The four files torchvision's MNIST reads, in ``<data dir>/MNIST/raw/``.
MNIST_FILES: tuple[str, ...] = SPLIT_FILES["train"] + SPLIT_FILES["test"]

# urllib waits forever by default; a dead network should fail in seconds, not hang.
_DOWNLOAD_TIMEOUT_S = 30.0


class DataError(ValueError):
    """MNIST is missing (and cannot be downloaded) or unreadable."""


def raw_folder(data_dir: str | os.PathLike[str]) -> Path:
    """The folder that must hold the four MNIST files."""
    return Path(data_dir) / "MNIST" / "raw"


def missing_files(data_dir: str | os.PathLike[str], split: str) -> list[str]:
    """The files of ``split`` not present in the raw folder."""
    raw = raw_folder(data_dir)
    # exists(), not is_file(): a FIFO or folder in a file's place is refused by
    # read_idx, never taken for a missing file to download over.
    return [name for name in SPLIT_FILES[split] if not (raw / name).exists()]


def _missing_message(data_dir: Path, reason: str, split: str) -> str:
    """Which of the split's two files to put where."""
    raw = raw_folder(data_dir)
    needed = SPLIT_FILES[split]
    missing = missing_files(data_dir, split)
    message = (
        f"MNIST not found in {data_dir} and {reason}. Put the two "
        f"uncompressed files {', '.join(needed)} in {raw}/ (missing: {', '.join(missing)}), "
        "or pass --data-dir (or set LENET_DECONV_DATA) to a folder that holds MNIST/raw/"
    )
    if all((data_dir / name).is_file() for name in needed):
        # A common slip: pointing at the raw folder itself rather than the root.
        message += f"; {data_dir} holds the files itself: pass {data_dir.parent.parent} instead"
    return message


def read_idx(path: str | os.PathLike[str], dims: int) -> np.ndarray:
    """The uint8 array of an IDX file (MNIST's format) of ``dims`` dimensions; DataError if not."""
    magic = 0x800 + dims  # unsigned bytes (0x08) in `dims` dimensions
    with open_checked(path, "MNIST file") as handle:
        header = handle.read(4 * (dims + 1))
        actual = os.fstat(handle.fileno()).st_size
        if len(header) < 4 * (dims + 1):
            raise DataError(f"{path}: only {len(header)} bytes, shorter than an IDX header")
        found = int.from_bytes(header[:4], "big")
        if found != magic:
            raise DataError(
                f"{path}: magic number 0x{found:08x}, expected 0x{magic:08x} "
                f"(an MNIST {'image' if dims == 3 else 'label'} file)"
            )
        sizes = [int.from_bytes(header[4 * i : 4 * i + 4], "big") for i in range(1, dims + 1)]
        expected = len(header) + math.prod(sizes)
        # Checked before reading: a wrong file is refused without loading it.
        if actual != expected:
            raise DataError(
                f"{path}: {actual} bytes, but its header declares {sizes} ({expected} bytes); "
                "the file is truncated or not MNIST"
            )
        return np.fromfile(handle, dtype=np.uint8).reshape(sizes)


def _download(data_dir: Path, split: str) -> None:
    """Let torchvision fetch the missing files; any failure becomes one DataError."""
    from torchvision.datasets import MNIST

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    created = make_folders(raw_folder(data_dir))
    try:
        MNIST(str(data_dir), train=True, download=True)
    except (RuntimeError, OSError, http.client.HTTPException) as exc:
        raise DataError(
            _missing_message(data_dir, f"the download failed ({_reason(exc)})", split)
        ) from exc
    finally:
        socket.setdefaulttimeout(previous)
        remove_empty_folders(created)  # only if still empty: a failed download leaves none


def _reason(exc: BaseException) -> str:
    """One line saying why a download failed, never empty."""
    # torchvision folds each mirror's error into a multi-line RuntimeError whose
    # first line ("Error downloading X:") says nothing: keep every line, joined.
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = " ".join(lines) or type(exc).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def load_mnist(
    data_dir: str | os.PathLike[str], split: str, download: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of the ``train`` or ``test`` split."""
    # Read as plain IDX arrays, not through torchvision, which is slow to import
    # (tests/test_data.py checks the arrays equal torchvision's own readers').
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLIT_FILES)}")
    data_dir = Path(data_dir)
    if missing_files(data_dir, split):
        if not download:
            raise DataError(_missing_message(data_dir, "downloading is off", split))
        _download(data_dir, split)
    image_file, label_file = (raw_folder(data_dir) / name for name in SPLIT_FILES[split])
    try:
        images = read_idx(image_file, 3)
        labels = read_idx(label_file, 1).astype(np.int64)
    except OSError as exc:
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
