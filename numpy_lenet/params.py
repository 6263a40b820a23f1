"""LeNet-5 parameters: validation and the ``.npz`` weight file format.

A weight file is an uncompressed ``.npz`` holding exactly the keys of
``PARAM_SHAPES`` (PyTorch's state_dict names), floating point, finite.
It is read with ``allow_pickle=False``: a weight file can never run code.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from .architecture import PARAM_SHAPES

Params = dict[str, np.ndarray]


class WeightError(ValueError):
    """A weight file or parameter dict that does not describe this LeNet-5."""


def validate_params(params: Mapping[str, object], source: str = "parameters") -> Params:
    """Check keys, shapes, dtypes and finiteness; return the params as ndarrays."""
    missing = [k for k in PARAM_SHAPES if k not in params]
    extra = sorted(k for k in params if k not in PARAM_SHAPES)
    if missing:
        raise WeightError(f"{source}: missing key(s) {', '.join(missing)}")
    if extra:
        raise WeightError(f"{source}: unexpected key(s) {', '.join(extra)}")
    checked: Params = {}
    for key, shape in PARAM_SHAPES.items():
        value = np.asarray(params[key])
        if not np.issubdtype(value.dtype, np.floating):
            raise WeightError(f"{source}: {key} has dtype {value.dtype}, expected a float dtype")
        if value.shape != shape:
            raise WeightError(f"{source}: {key} has shape {value.shape}, expected {shape}")
        if not np.all(np.isfinite(value)):
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            raise WeightError(f"{source}: {key} has {bad} non-finite value(s) (NaN or inf)")
        checked[key] = value
    return checked


def cast_params(params: Mapping[str, np.ndarray], dtype: np.dtype | type) -> Params:
    """The same parameters in another float dtype."""
    return {k: np.asarray(v, dtype=dtype) for k, v in params.items()}


def load_npz(path: str | os.PathLike[str]) -> Params:
    """Read and validate a weight file; raise WeightError or FileNotFoundError naming it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            raw = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise WeightError(f"{path}: not a readable .npz weight file ({exc})") from exc
    return validate_params(raw, source=str(path))


def save_npz(path: str | os.PathLike[str], params: Mapping[str, np.ndarray]) -> Path:
    """Validate and write a weight file atomically (temporary file, then rename)."""
    path = Path(path)
    checked = validate_params(params)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **checked)
    return path


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``target`` that replaces it only if the block succeeds.

    A crash or an exception leaves the target untouched and removes the temporary.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        # mkstemp makes the file owner-only; give the result the usual umask permissions.
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _current_umask() -> int:
    """The process umask (reading it means setting it, so put it straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask
