"""The kernels behind pool.py: a separable max scan, bit selects and offset codes.

Private: pool.py validates the arguments; these functions only compute. Their
loop-level twin is numpy_lenet.reference.max_pool2d (torch's scan).
"""

from __future__ import annotations

import numpy as np

from .im2col import Pair, pad_spatial

# max_pool2d scans blocks of planes of about this many input elements (1 MiB of
# float32): big enough that the ~20 NumPy calls per block cost little, small
# enough for the L2 cache.
POOL_BLOCK_ELEMENTS = 2**18


def max_pool2d_planes(
    planes: np.ndarray,
    kernel: Pair,
    stride: Pair,
    pad: Pair,
    values: np.ndarray,
    indices: np.ndarray,
) -> None:
    """Window maxima of planes (P, H, W) into values (P, Ho, Wo), their switches into indices."""
    h, w = planes.shape[1:]
    ho, wo = values.shape[1:]
    # Blocks of whole planes: the scan makes several passes over its block, and
    # these stay in the L2 cache instead of streaming the whole batch each time.
    block = max(1, POOL_BLOCK_ELEMENTS // max(h * w, 1))
    # Without padding a window's offset codes are its flat offsets dy*w+dx, so
    # that a switch is its window's origin plus the code: one add, no lookup.
    row_step = w if pad == (0, 0) else kernel[1]
    for start in range(0, len(planes), block):
        chunk = planes[start : start + block]
        out = values[start : start + block]
        padded = pad_spatial(chunk, pad, -np.inf)
        # NaN is rare: only blocks holding one pay for torch's full scan.
        scan = _scan_torch_order if chunk.size and np.isnan(np.max(chunk)) else _scan_separable
        code = scan(padded, kernel, stride, (ho, wo), row_step, out)
        _switch_indices(code, kernel, stride, pad, (h, w), indices[start : start + block])


def _scan_separable(
    padded: np.ndarray, kernel: Pair, stride: Pair, out_hw: Pair, row_step: int, out: np.ndarray
) -> np.ndarray:
    """Window maxima into ``out`` and their offset codes dy*row_step+dx, for NaN-free input.

    Rows first, then columns of row winners: the first row holding the maximum,
    and the first position in that row, is exactly the first position in
    row-major order, so ties resolve as torch does. A candidate replaces the best
    only when greater (torch's rule), and as later candidates have larger codes,
    the code is the running maximum of ``update * candidate code``.
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
    """``np.where(mask, new, old)`` bit for bit: old ^ ((old ^ new) * mask) on integer views."""
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
