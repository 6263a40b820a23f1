"""The weight bridge: a LeNet5's state_dict to and from the ``.npz`` weight file."""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from numpy_lenet.params import (
    MAX_WEIGHT_FILE_BYTES,
    Params,
    WeightError,
    cast_params,
    load_npz,
    save_npz,
    validate_params,
)
from numpy_lenet.user_files import DAMAGED, open_checked

from .model import LeNet5

#: Tensor dtypes that NumPy holds exactly (bfloat16 has no NumPy twin).
NUMPY_FLOAT_DTYPES = (torch.float16, torch.float32, torch.float64)

#: What torch.load(weights_only=True) raises for a damaged, truncated or hostile file.
TORCH_LOAD_ERRORS: tuple[type[BaseException], ...] = (
    pickle.UnpicklingError,
    TypeError,
    AttributeError,
    *DAMAGED,
)


def state_dict_to_params(state_dict: Mapping[str, object], source: str = "state_dict") -> Params:
    """The state_dict as validated float32 NumPy arrays, keyed like a .npz weight file."""
    return cast_params(validate_params(tensors_to_numpy(state_dict, source), source), np.float32)


def model_from_params(
    params: Mapping[str, np.ndarray], dtype: torch.dtype = torch.float32
) -> LeNet5:
    """A LeNet5 (CPU, eval mode, ``dtype``) holding these parameters without rounding."""
    numpy_dtype = torch.empty((), dtype=dtype).numpy().dtype
    checked = cast_params(validate_params(params), numpy_dtype)  # refuses overflow
    model = LeNet5().to(dtype)
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in checked.items()})
    return model.eval()


def load_params(path: str | os.PathLike[str]) -> Params:
    """Read a weight file, ``.npz`` or ``.pt``, as validated NumPy parameters."""
    path = Path(path)
    if path.suffix != ".pt":
        return load_npz(path)
    with open_checked(path, "weight file") as handle:
        _check_pt_size(path, handle)
        try:
            # weights_only: a weight file is data, never code to run.
            loaded = torch.load(handle, map_location="cpu", weights_only=True)
        except TORCH_LOAD_ERRORS as exc:
            raise WeightError(f"{path}: not a readable PyTorch weight file ({exc})") from exc
    if not isinstance(loaded, Mapping):
        raise WeightError(f"{path}: holds a {type(loaded).__name__}, expected a state_dict")
    return state_dict_to_params(loaded, str(path))


def _check_pt_size(path: Path, handle: BinaryIO) -> None:
    """Refuse a .pt whose file, or whose zip members once unpacked, exceed MAX_WEIGHT_FILE_BYTES."""
    size = os.fstat(handle.fileno()).st_size
    if size > MAX_WEIGHT_FILE_BYTES:
        raise WeightError(f"{path}: {size} bytes, far larger than a LeNet-5 weight file")
    if zipfile.is_zipfile(handle):
        try:
            with zipfile.ZipFile(handle) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
        except DAMAGED as exc:
            raise WeightError(f"{path}: not a readable PyTorch weight file ({exc})") from exc
        if unpacked > MAX_WEIGHT_FILE_BYTES:
            raise WeightError(f"{path}: unpacks to {unpacked} bytes; refusing to read it")
    handle.seek(0)


def tensors_to_numpy(tensors: Mapping[str, object], source: str) -> dict[str, np.ndarray]:
    """Float tensors of a state_dict as NumPy arrays; WeightError for anything else."""
    arrays = {}
    for key, value in tensors.items():
        if not isinstance(value, torch.Tensor):
            raise WeightError(f"{source}: {key} is a {type(value).__name__}, not a tensor")
        if value.is_nested or value.layout != torch.strided:
            layout = "nested" if value.is_nested else str(value.layout).removeprefix("torch.")
            raise WeightError(f"{source}: {key} is a {layout} tensor; weight files hold dense ones")
        if value.dtype not in NUMPY_FLOAT_DTYPES:
            raise WeightError(
                f"{source}: {key} has dtype {value.dtype}; weight files hold float16, float32 "
                "or float64 (convert with tensor.float())"
            )
        arrays[key] = value.detach().cpu().numpy()
    return arrays


def save_params_from_model(model: LeNet5, path: str | os.PathLike[str]) -> Path:
    """Write a model's weights as a float32 ``.npz`` weight file, atomically."""
    return save_npz(path, state_dict_to_params(model.state_dict()))
