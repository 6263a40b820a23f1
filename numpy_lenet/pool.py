"""Max pooling with switches and max unpooling, equal to torch.nn.functional's.

Switch rule (torch 2.14.1 on the CPU; docs/deconvnet.md, "Switches"): scanning
a window in row-major order, a value replaces the current maximum when it is
greater or when it is NaN. So ties go to the first position, a NaN beats any
number, and of several NaNs the last one wins. Padding never wins: when every
real value of a window is -inf the switch is the window's first real position.
numpy_lenet/reference.py states both ops as loops over windows; the scan is in
_fast_pool.py.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from . import _fast_pool
from ._checks import check_float_array, check_int_array, nonnegative_pair, positive_pair
from .im2col import Pair, conv_geometry


def max_pool2d(
    x: np.ndarray,
    kernel_size: int | Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Max over windows of x ((N,) C, H, W) and the int64 switches (flat positions in H*W)."""
    check_float_array(x, "x")
    if x.ndim not in (3, 4):
        raise ValueError(f"x must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape {x.shape}")
    kernel = positive_pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else stride
    kernel, stride_hw, pad, (ho, wo) = conv_geometry(x.shape[-2:], kernel, stride, padding)
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"padding {pad} must be at most half of kernel_size {kernel}")
    h, w = x.shape[-2:]
    values = np.empty((*x.shape[:-2], ho, wo), dtype=x.dtype)
    indices = np.empty(values.shape, dtype=np.int64)
    _fast_pool.max_pool2d_planes(
        x.reshape(-1, h, w),
        kernel,
        stride_hw,
        pad,
        values.reshape(-1, ho, wo),
        indices.reshape(-1, ho, wo),
    )
    return values, indices


def max_unpool2d(
    x: np.ndarray,
    indices: np.ndarray,
    kernel_size: int | Pair,
    stride: int | Pair | None = None,
    padding: int | Pair = 0,
    output_size: Sequence[int] | None = None,
) -> np.ndarray:
    """Put each value of x (..., H, W) at its switch in a zero plane, like F.max_unpool2d.

    ``indices`` only needs to broadcast to x's shape (one image's switches can
    serve many signals). Where overlapping windows share a switch the last value
    wins; torch leaves that case unspecified (its result varies with size).
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
    kernel = positive_pair(kernel_size, "kernel_size")
    stride_hw = kernel if stride is None else positive_pair(stride, "stride")
    pad = nonnegative_pair(padding, "padding")
    h, w = x.shape[-2:]
    ho, wo = _unpool_output_size((h, w), kernel, stride_hw, pad, output_size, x.ndim)
    lead = x.shape[:-2]
    if ho * wo == 0:
        # An empty plane has nowhere to put a value; torch returns it without
        # looking at the switches, and so do we.
        return np.zeros((*lead, ho, wo), dtype=x.dtype)
    if indices.size:
        low, high = int(indices.min()), int(indices.max())
        if low < 0 or high >= ho * wo:
            raise ValueError(
                f"indices must lie in [0, {ho * wo}) for an output plane of {ho}x{wo}, "
                f"got values in [{low}, {high}]"
            )
    # One flat scatter: each value goes to its plane's start plus its switch.
    # Fancy assignment through a 1-D index runs in order, so where switches
    # coincide the last value wins, as documented above.
    planes = math.prod(lead)
    starts = np.arange(0, planes * ho * wo, ho * wo, dtype=np.int64).reshape(*lead, 1, 1)
    positions = np.broadcast_to(np.add(indices, starts, dtype=np.int64), x.shape)
    out = np.zeros((*lead, ho, wo), dtype=x.dtype)
    out.reshape(-1)[positions.reshape(-1)] = x.reshape(-1)
    return out


def _unpool_output_size(
    in_hw: Pair,
    kernel: Pair,
    stride: Pair,
    pad: Pair,
    output_size: Sequence[int] | None,
    ndim: int,
) -> Pair:
    """torch's _unpool_output_size: the default size, or a checked explicit one."""
    default = tuple((in_hw[d] - 1) * stride[d] - 2 * pad[d] + kernel[d] for d in range(2))
    if output_size is None:
        if min(default) < 0:
            raise ValueError(f"output size {default} is negative")
        return default  # type: ignore[return-value]
    size = tuple(int(s) for s in output_size)
    if len(size) in (4, ndim):  # torch also takes a full (N, C, H, W) size
        size = size[-2:]
    if len(size) != 2:
        raise ValueError(
            f"output_size must have 2 entries (or {ndim}, like x), got {tuple(output_size)}"
        )
    for d in range(2):
        low, high = default[d] - stride[d], default[d] + stride[d]
        if not low < size[d] < high or size[d] < 0:
            raise ValueError(
                f"output_size {size} is invalid: each size must lie strictly between "
                f"{(default[0] - stride[0], default[1] - stride[1])} and "
                f"{(default[0] + stride[0], default[1] + stride[1])}"
            )
    return size  # type: ignore[return-value]
