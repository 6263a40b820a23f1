"""Argument checks shared by the NumPy ops, so every op words its errors the same way."""

from __future__ import annotations

import numpy as np

#: The float dtypes the ops accept; results keep the input's dtype.
FLOAT_DTYPES: tuple[np.dtype, ...] = (np.dtype(np.float32), np.dtype(np.float64))


def check_float_array(
    x: object, name: str, ndim: int | None = None, min_ndim: int = 0
) -> np.ndarray:
    """Return ``x`` unchanged if it is a float32/float64 ndarray of the right rank, else raise."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} has dtype {x.dtype}; expected float32 or float64")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {x.shape}")
    if x.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {x.shape}")
    return x


def check_int_array(x: object, name: str) -> np.ndarray:
    """Return ``x`` unchanged if it is an integer ndarray, else raise TypeError."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy.ndarray, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.integer):
        raise TypeError(f"{name} has dtype {x.dtype}; expected an integer dtype")
    return x


def check_same_dtype(x: np.ndarray, x_name: str, other: np.ndarray, other_name: str) -> None:
    """Raise TypeError unless two arrays share a dtype (mixing would silently upcast)."""
    if other.dtype != x.dtype:
        raise TypeError(f"{other_name} has dtype {other.dtype} but {x_name} has dtype {x.dtype}")


def check_bias(bias: object, x: np.ndarray, channels: int) -> np.ndarray | None:
    """Validate an optional bias of shape (channels,) with x's dtype."""
    if bias is None:
        return None
    bias = check_float_array(bias, "bias", ndim=1)
    check_same_dtype(x, "x", bias, "bias")
    if bias.shape[0] != channels:
        raise ValueError(f"bias has shape {bias.shape}, expected ({channels},)")
    return bias
