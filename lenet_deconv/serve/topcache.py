"""The top-9 table of the explorer, kept on disk between runs in a per-user cache folder.

The search over the 10,000 test images takes a few seconds; its result only
depends on the weights, the images, the backend and the dtype, so it is stored
under a name made of their hash and read back on the next start. The folder is
``$XDG_CACHE_HOME/lenet-deconvnet/serve`` (``~/.cache/lenet-deconvnet/serve``
when unset), never the repository. A file that cannot be read is recomputed.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES
from numpy_lenet.atomic import atomic_path

from ..top_activations import TOP_K, TopK

#: Bump when the stored layout or the search's meaning changes.
FORMAT = "top9-v1"
_FIELDS = ("values", "images", "positions")


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/lenet-deconvnet/serve``, or ``~/.cache/lenet-deconvnet/serve``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "lenet-deconvnet" / "serve"


def cache_key(
    params: Mapping[str, np.ndarray], images: np.ndarray, backend: str, dtype: type
) -> str:
    """A hex digest of everything the top-k search depends on."""
    digest = hashlib.sha256(f"{FORMAT}|{backend}|{np.dtype(dtype).name}|{TOP_K}".encode())
    for name in sorted(params):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(params[name]).tobytes())
    digest.update(str(images.shape).encode())
    digest.update(np.ascontiguousarray(images).tobytes())
    return digest.hexdigest()[:32]


def load_topk(path: Path) -> dict[str, TopK] | None:
    """The table stored at ``path``, or None when it is missing or not a valid table."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            table = {
                layer: TopK(*(stored[f"{layer}.{field}"] for field in _FIELDS))
                for layer in LAYER_NAMES
            }
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    for layer, top in table.items():
        channels = LAYER_SHAPES[layer][0]
        if any(getattr(top, f).shape != (TOP_K, channels) for f in _FIELDS):
            return None
    return table


def save_topk(path: Path, table: Mapping[str, TopK]) -> None:
    """Store ``table`` at ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        f"{layer}.{field}": getattr(top, field) for layer, top in table.items() for field in _FIELDS
    }
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def cached_topk(
    cache_dir: Path | None, key: str, compute: Callable[[], dict[str, TopK]]
) -> tuple[dict[str, TopK], str]:
    """The table from ``cache_dir`` when stored there, else computed (and stored); and whence."""
    if cache_dir is None:
        return compute(), "computed (no cache)"
    path = cache_dir / f"top{TOP_K}-{key}.npz"
    table = load_topk(path)
    if table is not None:
        return table, f"read from {path}"
    table = compute()
    try:
        save_topk(path, table)
    except OSError as exc:  # a read-only home must not stop the explorer
        return table, f"computed (not cached: {exc})"
    return table, f"computed, cached in {path}"
