"""Max pooling with switches and max unpooling, equal to torch.nn.functional's.

Switch rule (torch 2.14.1 on the CPU, see docs/deconvnet-spec.md): scanning a
window in row-major order, a value replaces the current maximum when it is
greater or when it is NaN. So ties go to the first position, a NaN beats any
number, and of several NaNs the last one wins. Padding never wins: when every
real value of a window is -inf the switch is the window's first real position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._checks import check_float_array, check_int_array, nonnegative_pair, positive_pair
from .im2col import Pair, conv_geometry, pad_spatial

# max_pool2d scans blocks of planes of about this many input elements (1 MiB of
# float32): big enough that the ~20 NumPy calls per block cost little, small
# enough for the L2 cache (measured on LeNet's shapes: 4x smaller is ~15% slower).
_POOL_BLOCK_ELEMENTS = 2**18


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
    values = np.empty((len(planes), ho, wo), dtype=x.dtype)
    indices = np.empty((len(planes), ho, wo), dtype=np.int64)
    # Blocks of whole planes: the scan makes several passes over its block, and
    # these stay in the L2 cache instead of streaming the whole batch each time.
    block = max(1, _POOL_BLOCK_ELEMENTS // max(h * w, 1))
    # Without padding a window's offset codes are its flat offsets dy*w+dx, so
    # that a switch is its window's origin plus the code: one add, no lookup.
    row_step = w if pad == (0, 0) else kernel[1]
    for start in range(0, len(planes), block):
        chunk = planes[start : start + block]
        out = values[start : start + block]
        padded = pad_spatial(chunk, pad, -np.inf)
        # NaN is rare: only blocks holding one pay for torch's full scan.
        scan = _scan_torch_order if chunk.size and np.isnan(np.max(chunk)) else _scan_separable
        code = scan(padded, kernel, stride_hw, (ho, wo), row_step, out)
        _switch_indices(code, kernel, stride_hw, pad, (h, w), indices[start : start + block])
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
    # One flat scatter: each value goes to its plane's start plus its switch.
    # Fancy assignment through a 1-D index runs in order, so where switches
    # coincide the last value wins, as documented above. 4-30x faster than
    # put_along_axis, and the int64 positions are built at x's shape only once.
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


def _scan_separable(
    padded: np.ndarray, kernel: Pair, stride: Pair, out_hw: Pair, row_step: int, out: np.ndarray
) -> np.ndarray:
    """Window maxima into ``out`` and their offset codes dy*row_step+dx, for NaN-free input.

    Rows first, then columns of row winners: the first row holding the maximum,
    and the first position in that row, is exactly the first position in
    row-major order, so ties resolve as torch does, at fewer comparisons than
    scanning all kh*kw offsets. A candidate replaces the best only when greater
    (torch's rule), and as later candidates have larger codes, the code is the
    running maximum of ``update * candidate code``: no slow masked copies.
    """
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    rows = sh * (ho - 1) + kh
    code_type = _code_dtype(kh * row_step).type
    # Stage 1: for every needed input row and every output column, the row max.
    row_best = padded[:, :rows, 0 : sw * (wo - 1) + 1 : sw]
    row_dx = np.zeros(row_best.shape, dtype=code_type)
    for dx in range(1, kw):
        v = padded[:, :rows, dx : dx + sw * (wo - 1) + 1 : sw]
        update = np.greater(v, row_best)
        row_best = _select(update, v, row_best)
        np.maximum(row_dx, update * code_type(dx), out=row_dx)
    # Stage 2: the first of the kh row maxima that is largest.
    best = row_best[:, 0 : sh * (ho - 1) + 1 : sh]
    code = row_dx[:, 0 : sh * (ho - 1) + 1 : sh].copy()
    for dy in range(1, kh):
        v = row_best[:, dy : dy + sh * (ho - 1) + 1 : sh]
        update = np.greater(v, best)
        best = _select(update, v, best, out if dy == kh - 1 else None)
        candidate = row_dx[:, dy : dy + sh * (ho - 1) + 1 : sh] + code_type(dy * row_step)
        candidate *= update
        np.maximum(code, candidate, out=code)
    if kh == 1:
        np.copyto(out, best)
    return code


def _select(
    mask: np.ndarray, new: np.ndarray, old: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """``np.where(mask, new, old)`` bit for bit, on the floats' integer views.

    old ^ ((old ^ new) * mask): three fast integer passes, where np.where and
    np.copyto(where=) take 5-30x longer on float32. Exact, signed zeros included.
    """
    ints = np.dtype(f"i{new.itemsize}")
    old_bits = old.view(ints)
    diff = np.bitwise_xor(old_bits, new.view(ints))
    diff *= mask  # & -mask, in one pass
    result = np.bitwise_xor(old_bits, diff, out=None if out is None else out.view(ints))
    return result.view(new.dtype)


def _scan_torch_order(
    padded: np.ndarray, kernel: Pair, stride: Pair, out_hw: Pair, row_step: int, out: np.ndarray
) -> np.ndarray:
    """Window maxima into ``out`` and offset codes by torch's own scan, which handles NaN."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    best = out
    best.fill(-np.inf)
    code = np.zeros(best.shape, dtype=_code_dtype(kh * row_step))
    for dy in range(kh):
        for dx in range(kw):
            v = padded[:, dy : dy + sh * (ho - 1) + 1 : sh, dx : dx + sw * (wo - 1) + 1 : sw]
            upd = (v > best) | np.isnan(v)
            np.copyto(best, v, where=upd)
            np.copyto(code, dy * row_step + dx, where=upd)
    return code


def _switch_indices(
    code: np.ndarray, kernel: Pair, stride: Pair, pad: Pair, in_hw: Pair, out: np.ndarray
) -> None:
    """Write into ``out`` the flat int64 positions in the unpadded plane that ``code`` chose.

    Codes are dy*w+dx (the offset in the plane) without padding, dy*kw+dx with.
    """
    kw = kernel[1]
    (sh, sw), (ph, pw), w = stride, pad, in_hw[1]
    ho, wo = code.shape[-2:]
    # Window origins in unpadded coordinates (negative inside the padding).
    top = (np.arange(ho, dtype=np.int64) * sh - ph)[:, None]
    left = np.arange(wo, dtype=np.int64) * sw - pw
    if pad == (0, 0):
        np.add(code, top * w + left, out=out)
        return
    # A window whose real values are all -inf keeps code 0, possibly inside the
    # padding; clamping to the first real row and column is torch's answer.
    rows = np.maximum(top + code // kw, 0)
    cols = np.maximum(left + code % kw, 0)
    np.add(rows * w, cols, out=out)


def _code_dtype(count: int) -> np.dtype:
    """The smallest integer dtype holding offset codes 0..count-1 (less memory traffic)."""
    return np.dtype(np.uint8 if count <= 256 else np.int64)
