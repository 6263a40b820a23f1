"""LeNet-5 parameters: validation and the ``.npz`` weight file format.

A weight file is an uncompressed ``.npz`` holding exactly the keys of
``PARAM_SHAPES`` (PyTorch's state_dict names), floating point, finite.
It is read with ``allow_pickle=False``: a weight file can never run code.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .architecture import PARAM_SHAPES
from .atomic import atomic_path
from .user_files import DAMAGED, open_checked

Params = dict[str, np.ndarray]

#: LeNet-5 has 61,706 parameters: ~0.5 MB in float64. Anything far beyond is not a weight file.
MAX_WEIGHT_FILE_BYTES = 16 * 2**20
#: One array of at most 48,000 values (fc1) in at most 16-byte floats, plus its header.
MAX_ARRAY_BYTES = 48_000 * 16 + 4096
#: Ten arrays; a zip listing hundreds of members is refused before any is opened.
MAX_NPZ_MEMBERS = 64


class WeightError(ValueError):
    """A weight file or parameter dict that does not describe this LeNet-5."""


def validate_params(params: Mapping[str, object], source: str = "parameters") -> Params:
    """Check keys, shapes, dtypes and finiteness; return the params as ndarrays."""
    _check_keys(params, source)
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
    """The same parameters in another float dtype; WeightError if a value overflows it."""
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below
        cast = {k: np.asarray(v, dtype=dtype) for k, v in params.items()}
    for key, value in cast.items():
        if not np.all(np.isfinite(value)):
            largest = float(np.max(np.abs(np.asarray(params[key], dtype=np.float64))))
            raise WeightError(
                f"{key} holds values up to {largest:.3g}, beyond {np.dtype(dtype).name}'s range "
                f"(max {float(np.finfo(dtype).max):.3g}); compute in float64 (--dtype float64)"
            )
    return cast


def load_npz(path: str | os.PathLike[str]) -> Params:
    """Read and validate a weight file; raise WeightError or FileNotFoundError naming it.

    The zip directory and every array's ``.npy`` header (name, dtype, shape,
    size) are checked before any array is read, so a file that declares a
    huge array or an object array is refused without allocating it.
    """
    path = Path(path)
    with open_checked(path, "weight file") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_WEIGHT_FILE_BYTES:
            raise WeightError(
                f"{path}: {size} bytes, far larger than a LeNet-5 weight file "
                f"(at most {MAX_WEIGHT_FILE_BYTES} bytes accepted)"
            )
        if handle.read(6) == b"\x93NUMPY":
            raise WeightError(
                f"{path}: a single .npy array, not a weight file: a weight file is a .npz "
                f"holding the arrays {', '.join(PARAM_SHAPES)}"
            )
        try:
            raw = _read_npz(path, handle)
        except WeightError:
            raise
        except DAMAGED as exc:
            raise WeightError(f"{path}: not a readable .npz weight file ({exc})") from exc
    return validate_params(raw, source=str(path))


def _read_npz(path: Path, handle: BinaryIO) -> dict[str, np.ndarray]:
    """Check a .npz's member names and each array's header, then read the arrays."""
    with zipfile.ZipFile(handle) as archive:
        infos = archive.infolist()
        if len(infos) > MAX_NPZ_MEMBERS:
            raise WeightError(f"{path}: {len(infos)} members, not a LeNet-5 weight file")
        names = [info.filename for info in infos]
        not_npy = [n for n in names if not n.endswith(".npy")]
        if not_npy:
            raise WeightError(f"{path}: member {not_npy[0]!r} is not a .npy array")
        keys = {n[: -len(".npy")]: info for n, info in zip(names, infos, strict=True)}
        _check_keys(keys, str(path))
        for key, info in keys.items():
            _check_member(path, archive, info, key)
        raw = {}
        for key, info in keys.items():
            with archive.open(info) as member:
                raw[key] = np.lib.format.read_array(member, allow_pickle=False)
    return raw


def _check_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, key: str) -> None:
    """One member's .npy header: float dtype, the expected shape, a size that matches."""
    expected = PARAM_SHAPES[key]
    if info.file_size > MAX_ARRAY_BYTES:
        raise WeightError(f"{path}: {key} declares {info.file_size} bytes; refusing to read it")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise WeightError(f"{path}: {key} uses .npy format version {version}; expected 1.0/2.0")
        header_bytes = member.tell()
    if dtype.hasobject or not np.issubdtype(dtype, np.floating):
        raise WeightError(f"{path}: {key} has dtype {dtype}, expected a float dtype")
    if tuple(shape) != expected:
        raise WeightError(f"{path}: {key} has shape {tuple(shape)}, expected {expected}")
    if info.file_size != header_bytes + int(np.prod(expected)) * dtype.itemsize:
        raise WeightError(
            f"{path}: {key} holds {info.file_size - header_bytes} bytes of data, but its header "
            f"declares {int(np.prod(expected)) * dtype.itemsize}"
        )


def _check_keys(params: Mapping[str, object], source: str) -> None:
    """Raise WeightError naming missing or unexpected parameter names."""
    missing = [k for k in PARAM_SHAPES if k not in params]
    extra = sorted(k for k in params if k not in PARAM_SHAPES)
    if missing:
        raise WeightError(f"{source}: missing key(s) {', '.join(missing)}")
    if extra:
        raise WeightError(f"{source}: unexpected key(s) {', '.join(extra)}")


def save_npz(path: str | os.PathLike[str], params: Mapping[str, np.ndarray]) -> Path:
    """Validate and write a weight file atomically (temporary file, then rename)."""
    path = Path(path)
    checked = validate_params(params)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **checked)
    return path
