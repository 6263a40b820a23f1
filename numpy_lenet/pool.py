"""Max pooling with switches and max unpooling, equal to torch.nn.functional's.

Switch rule (torch 2.14.1 on the CPU, see docs/deconvnet-spec.md): scanning a
window in row-major order, a value replaces the current maximum when it is
greater or when it is NaN. So ties go to the first position, a NaN beats any
number, and of several NaNs the last one wins. Padding never wins: when every
real value of a window is -inf the switch is the window's first real position.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._checks import check_float_array, check_int_array, nonnegative_pair, positive_pair
from .im2col import Pair, conv_geometry, pad_spatial


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
    planes = x.reshape(-1, h, w)
    padded = pad_spatial(planes, pad, -np.inf)
    if planes.size and np.isnan(np.max(planes)):
        values, code = _scan_torch_order(padded, kernel, stride_hw, (ho, wo))
    else:
        values, code = _scan_separable(padded, kernel, stride_hw, (ho, wo))
    indices = _switch_indices(code, kernel, stride_hw, pad, (h, w))
    out_shape = (*x.shape[:-2], ho, wo)
    return values.reshape(out_shape), indices.reshape(out_shape)


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
    # Range-checked above, so int64 holds them; unsigned dtypes would turn
    # the window arithmetic below into float.
    indices = indices.astype(np.int64, copy=False)
    if stride_hw == kernel and pad == (0, 0) and ho >= h * kernel[0] and wo >= w * kernel[1]:
        out = _unpool_disjoint(x, indices, kernel, (ho, wo))
        if out is not None:
            return out
    out = np.zeros((*lead, ho * wo), dtype=x.dtype)
    flat_x = x.reshape(*lead, h * w)
    flat_idx = np.broadcast_to(indices, x.shape).reshape(*lead, h * w)
    np.put_along_axis(out, flat_idx, flat_x, axis=-1)
    return out.reshape(*lead, ho, wo)


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


def _scan_separable(
    padded: np.ndarray, kernel: Pair, stride: Pair, out_hw: Pair
) -> tuple[np.ndarray, np.ndarray]:
    """Window maxima and their offset codes dy*kw+dx, for NaN-free input.

    Rows first, then columns of row winners: the first row holding the maximum,
    and the first position in that row, is exactly the first position in
    row-major order, so ties resolve as torch does, at fewer comparisons than
    scanning all kh*kw offsets.
    """
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    rows = sh * (ho - 1) + kh
    code_type = _code_dtype(kh * kw)
    # Stage 1: for every needed input row and every output column, the row max.
    row_best = padded[:, :rows, 0 : sw * (wo - 1) + 1 : sw].copy()
    row_dx = np.zeros(row_best.shape, dtype=code_type)
    upd = np.empty(row_best.shape, dtype=bool)
    for dx in range(1, kw):
        v = padded[:, :rows, dx : dx + sw * (wo - 1) + 1 : sw]
        np.greater(v, row_best, out=upd)
        np.copyto(row_best, v, where=upd)
        np.copyto(row_dx, dx, where=upd)
    # Stage 2: the first of the kh row maxima that is largest.
    best = row_best[:, 0 : sh * (ho - 1) + 1 : sh].copy()
    code = row_dx[:, 0 : sh * (ho - 1) + 1 : sh].copy()
    upd = upd[:, :ho]
    for dy in range(1, kh):
        v = row_best[:, dy : dy + sh * (ho - 1) + 1 : sh]
        np.greater(v, best, out=upd)
        np.copyto(best, v, where=upd)
        np.copyto(
            code, row_dx[:, dy : dy + sh * (ho - 1) + 1 : sh] + code_type.type(dy * kw), where=upd
        )
    return best, code


def _scan_torch_order(
    padded: np.ndarray, kernel: Pair, stride: Pair, out_hw: Pair
) -> tuple[np.ndarray, np.ndarray]:
    """Window maxima and offset codes by torch's own scan, which handles NaN."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    shape = (padded.shape[0], ho, wo)
    best = np.full(shape, -np.inf, dtype=padded.dtype)
    code = np.zeros(shape, dtype=_code_dtype(kh * kw))
    for dy in range(kh):
        for dx in range(kw):
            v = padded[:, dy : dy + sh * (ho - 1) + 1 : sh, dx : dx + sw * (wo - 1) + 1 : sw]
            upd = (v > best) | np.isnan(v)
            np.copyto(best, v, where=upd)
            np.copyto(code, dy * kw + dx, where=upd)
    return best, code


def _switch_indices(
    code: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, in_hw: Pair
) -> np.ndarray:
    """Flat int64 positions in the unpadded plane of the offsets ``code`` chose."""
    kw = kernel[1]
    (sh, sw), (ph, pw), w = stride, pad, in_hw[1]
    ho, wo = code.shape[-2:]
    # Window origins in unpadded coordinates (negative inside the padding).
    top = (np.arange(ho, dtype=np.int64) * sh - ph)[:, None]
    left = np.arange(wo, dtype=np.int64) * sw - pw
    if pad == (0, 0):
        offsets = np.arange(kernel[0] * kw, dtype=np.int64)
        offsets = (offsets // kw) * w + offsets % kw
        indices = np.take(offsets, code)
        indices += top * w + left
        return indices
    # A window whose real values are all -inf keeps code 0, possibly inside the
    # padding; clamping to the first real row and column is torch's answer.
    rows = np.maximum(top + code // kw, 0)
    cols = np.maximum(left + code % kw, 0)
    return rows * w + cols


def _unpool_disjoint(
    x: np.ndarray, indices: np.ndarray, kernel: Pair, out_hw: Pair
) -> np.ndarray | None:
    """Unpool when stride == kernel and every switch lies in its own window, else None.

    The windows tile the output, so the output is x repeated kh x kw times and
    masked to the switches: one pass, with the mask built at the (often
    broadcast, small) shape of the indices rather than x's.
    """
    kh, kw = kernel
    ho, wo = out_hw
    h, w = x.shape[-2:]
    rows, cols = np.divmod(indices, wo)
    dy = rows - (np.arange(h) * kh)[:, None]
    dx = cols - np.arange(w) * kw
    if not (np.all((dy >= 0) & (dy < kh)) and np.all((dx >= 0) & (dx < kw))):
        return None
    code = dy * kw + dx
    pattern = (np.arange(kh)[:, None, None] * kw + np.arange(kw)).astype(code.dtype)
    mask = code[..., :, None, :, None] == pattern
    tiles = np.where(mask, x[..., :, None, :, None], x.dtype.type(0))
    tiles = tiles.reshape(*x.shape[:-2], h * kh, w * kw)
    if (ho, wo) == tiles.shape[-2:]:
        return tiles
    out = np.zeros((*x.shape[:-2], ho, wo), dtype=x.dtype)
    out[..., : h * kh, : w * kw] = tiles
    return out


def _code_dtype(count: int) -> np.dtype:
    """The smallest integer dtype holding offset codes 0..count-1 (less memory traffic)."""
    return np.dtype(np.uint8 if count <= 256 else np.int64)
