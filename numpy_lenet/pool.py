"""LeNet's 2x2, stride-2 max pooling with switches and its unpooling, equal to torch's.

Switch rule (torch 2.14.1 on the CPU; docs/deconvnet.md, "Switches"): scanning
a window in row-major order, a value replaces the current maximum when it is
greater or when it is NaN. So ties go to the first position, a NaN beats any
number, and of several NaNs the last one wins. numpy_lenet/reference.py states
both ops, in torch's generality, as loops over windows.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_float_array, check_int_array


def _check_lenet_window(op: str, kernel_size: object, stride: object, padding: object) -> None:
    """Refuse any window but LeNet's: 2x2, stride 2 (or the kernel's), no padding."""
    for name, value, want in (
        ("kernel_size", kernel_size, 2),
        ("stride", 2 if stride is None else stride, 2),
        ("padding", padding, 0),
    ):
        pair = (value, value) if np.ndim(value) == 0 else tuple(value)
        if pair != (want, want):
            raise ValueError(
                f"{op} supports LeNet's 2x2 windows with stride 2 and no padding only, "
                f"got {name}={value!r}"
            )


def max_pool2d(
    x: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Max over 2x2 windows of x ((N,) C, H, W) and the int64 switches (flat positions in H*W)."""
    check_float_array(x, "x")
    if x.ndim not in (3, 4):
        raise ValueError(f"x must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape {x.shape}")
    _check_lenet_window("max_pool2d", kernel_size, stride, padding)
    h, w = x.shape[-2:]
    if h % 2 or w % 2 or not h:
        raise ValueError(f"max_pool2d needs an even, positive height and width, got {h}x{w}")
    a, b, c, d = x[..., ::2, ::2], x[..., ::2, 1::2], x[..., 1::2, ::2], x[..., 1::2, 1::2]
    top, bottom = np.maximum(a, b), np.maximum(c, d)
    values = np.maximum(top, bottom)
    # Strict comparisons: on a tie the top row, and in a row the left value, wins.
    dy = bottom > top
    dx = np.where(dy, d > c, b > a)
    nan = np.isnan(values)
    if nan.any():
        # The comparisons above are false for NaN; torch's scan picks the last NaN.
        nan_dy = np.isnan(c) | np.isnan(d)
        np.copyto(dx, np.where(nan_dy, np.isnan(d), np.isnan(b)), where=nan)
        np.copyto(dy, nan_dy, where=nan)
    switches = np.add(2 * w * np.arange(h // 2)[:, None] + 2 * np.arange(w // 2), dx)
    switches += w * dy
    return values, switches


def max_unpool2d(
    x: np.ndarray,
    indices: np.ndarray,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
) -> np.ndarray:
    """Put each value of x (..., H, W) at its switch in a zero (2H, 2W) plane, like F.max_unpool2d.

    ``indices`` only needs to broadcast to x's shape (one image's switches can
    serve many signals).
    """
    check_float_array(x, "x", min_ndim=2)
    check_int_array(indices, "indices")
    try:
        broadcast = np.broadcast_shapes(indices.shape, x.shape)
    except ValueError:
        broadcast = None
    if broadcast != x.shape:
        raise ValueError(
            f"indices of shape {indices.shape} do not broadcast to x's shape {x.shape}"
        )
    _check_lenet_window("max_unpool2d", kernel_size, stride, padding)
    h, w = x.shape[-2:]
    ho, wo = 2 * h, 2 * w
    if indices.size:
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= ho * wo:
            raise ValueError(
                f"indices must lie in [0, {ho * wo}) for an output plane of {ho}x{wo}, "
                f"got values in [{low}, {high}]"
            )
    # One flat scatter: each value goes to its plane's start plus its switch.
    # Fancy assignment through a 1-D index runs in order, so where switches
    # coincide (never after pooling) the last value wins.
    lead = x.shape[:-2]
    planes = math.prod(lead)
    starts = np.arange(0, planes * ho * wo, ho * wo, dtype=np.int64).reshape(*lead, 1, 1)
    positions = np.broadcast_to(np.add(indices, starts, dtype=np.int64), x.shape)
    out = np.zeros((*lead, ho, wo), dtype=x.dtype)
    out.reshape(-1)[positions.reshape(-1)] = x.reshape(-1)
    return out
