"""Unpooling and the transposed filter as one step, with the projections innermost.

A mirror block unpools with the switches and then filters with the transposed
weights: conv_transpose2d(max_unpool2d(x, switches), weight). After 2x2/2
unpooling only one value in four is non-zero, so a transposed convolution of
the unpooled plane spends three quarters of its work on zeros. Here each
pooled value is taken to its switch directly: the transposed filter of channel
c, placed at the switch's phase (which of the window's four cells won), is a
fixed pattern on a 6x6 window (for a 5x5 filter), so the whole step is

    out[window at (2y, 2x)] += sum_c x[c, y, x] * table[c, phase(c, y, x)]

- a matrix product per image and pooled position, with the weights gathered
  from a table by the image's switches, followed by adding the overlapping
  windows (col2im at stride 2). B x B pooled positions can share one product
  (``block``): a deeper product and fewer overlapping windows; LeNet's pool1
  (14x14) takes 2x2, pool2 (5x5) takes 1x1 (benchmarks/bench_crosscheck.py).

Layout. The signals of S projections of the same image share its switches,
so they are stored with the projections innermost: (n, C, h, w, S). The
product is then (weights of a position) @ (its C x S signal), and every add
of the overlapping windows runs over long contiguous rows. This is the fast
path's layout only; the loop-level meaning is
reference.conv_transpose2d(reference.max_unpool2d(x, switches), weight), and
tests/test_switched.py checks the two against each other.

The mirror ReLU between the unpooling and the filter commutes with the
unpooling (relu(unpool(x)) = unpool(relu(x))), so callers rectify x before.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_float_array, check_int_array, check_same_dtype

#: Rows of the product (images x positions x table rows x S) computed at once,
#: in bytes: big enough to amortise the per-call overhead, small enough that
#: the products are still in cache when the windows are added up.
CHUNK_BYTES = 2 * 2**20


def block_for(height: int, width: int) -> int:
    """The block side B: 2 where the pooled plane splits into 2x2 blocks, else 1."""
    return 2 if height % 2 == 0 and width % 2 == 0 else 1


def phase_table(weight: np.ndarray, block: int) -> np.ndarray:
    """(B, B, C, 4, Q): transposed filters placed at every block cell and switch phase.

    Entry [by, bx, c, p] is channel c's transposed filter weight[c] (O, k, k)
    placed in a block's output window (O, win, win) at the offset of block
    cell (by, bx) and switch phase p = 2 * dy + dx, flattened to Q = O*win*win;
    win = 2B + k - 1, rounded up to a multiple of 2B so the windows tile.
    """
    check_float_array(weight, "weight", ndim=4)
    c_in, c_out, kh, kw = weight.shape
    win_h, win_w = _window(block, kh), _window(block, kw)
    table = np.zeros((block, block, c_in, 4, c_out, win_h, win_w), dtype=weight.dtype)
    for by in range(block):
        for bx in range(block):
            for phase in range(4):
                y0, x0 = 2 * by + phase // 2, 2 * bx + phase % 2
                table[by, bx, :, phase, :, y0 : y0 + kh, x0 : x0 + kw] = weight
    return table.reshape(block, block, c_in, 4, -1)


def switch_phases(switches: np.ndarray, height: int, width: int) -> np.ndarray:
    """(n, C, h, w) switch phases 2 * dy + dx in 0..3 from flat switches into a (2h, 2w) plane."""
    check_int_array(switches, "switches")
    rows, cols = np.divmod(switches, 2 * width)
    dy = rows - 2 * np.arange(height)[:, None]
    dx = cols - 2 * np.arange(width)
    if np.any((dy < 0) | (dy > 1) | (dx < 0) | (dx > 1)):
        raise ValueError("a switch lies outside its 2x2 pooling window")
    return (2 * dy + dx).astype(np.intp)


def unpool_conv_transpose2d(
    x: np.ndarray,
    switches: np.ndarray,
    weight: np.ndarray,
    padding: int = 0,
    *,
    table: np.ndarray | None = None,
) -> np.ndarray:
    """conv_transpose2d(max_unpool2d(x, switches, 2, 2), weight, padding=padding), projections last.

    x is (n, C, h, w, S): S signals per image; switches (n, C, h, w) are flat
    positions in each (2h, 2w) plane, as F.max_pool2d returns them; weight is
    (C, O, k, k). Returns (n, O, H, W, S) with H = 2h + k - 1 - 2 * padding.
    ``table`` is phase_table(weight, block_for(h, w)), if the caller keeps one.
    """
    check_float_array(x, "x", ndim=5)
    check_float_array(weight, "weight", ndim=4)
    check_same_dtype(x, "x", weight, "weight")
    n, c_in, h, w, s = x.shape
    _, c_out, kh, kw = weight.shape
    if weight.shape[0] != c_in:
        raise ValueError(
            f"weight {weight.shape} needs {c_in} input channels (dim 0) for x {x.shape}"
        )
    if switches.shape != (n, c_in, h, w):
        raise ValueError(f"switches must be {(n, c_in, h, w)}, got {switches.shape}")
    full_h, full_w = 2 * h + kh - 1, 2 * w + kw - 1
    if not 0 <= 2 * padding < min(full_h, full_w):
        raise ValueError(f"padding {padding} leaves no output of a {full_h}x{full_w} plane")
    block = block_for(h, w)
    if table is None:
        table = phase_table(weight, block)
    phases = switch_phases(switches, h, w)
    out = np.zeros((n, c_out, full_h - 2 * padding, full_w - 2 * padding, s), dtype=x.dtype)
    if n == 0 or s == 0:
        return out
    per_image = h * w * table.shape[-1] * s * x.itemsize
    step = max(1, min(n, CHUNK_BYTES // max(per_image, 1)))
    for start in range(0, n, step):
        rows = slice(start, start + step)
        out[rows] = _chunk(x[rows], phases[rows], table, block, (c_out, kh, kw), padding)
    return out


def _window(block: int, k: int) -> int:
    """Side of a block's output window: 2B + k - 1 rounded up to a multiple of 2B."""
    return -(-(2 * block + k - 1) // (2 * block)) * 2 * block


def _chunk(
    x: np.ndarray,
    phases: np.ndarray,
    table: np.ndarray,
    block: int,
    kernel: tuple[int, int, int],
    padding: int,
) -> np.ndarray:
    """One chunk of images: gathered tables @ signals, then the overlapping windows added."""
    n, c_in, h, w, s = x.shape
    c_out, kh, kw = kernel
    hb, wb, b2 = h // block, w // block, 2 * block
    win_h, win_w = _window(block, kh), _window(block, kw)
    nq, nr = win_h // b2, win_w // b2
    # Which table row each (image, block, cell, channel) reads: its cell and its phase.
    cells = phases.reshape(n, c_in, hb, block, wb, block).transpose(0, 2, 4, 3, 5, 1)
    by = np.arange(block)[:, None, None]
    bx = np.arange(block)[None, :, None]
    ch = np.arange(c_in)[None, None, :]
    gathered = table[by, bx, ch, cells]  # (n, hb, wb, B, B, C, Q)
    gathered = gathered.reshape(n, hb, wb, block * block * c_in, -1)
    signal = x.reshape(n, c_in, hb, block, wb, block, s).transpose(0, 2, 4, 3, 5, 1, 6)
    signal = np.ascontiguousarray(signal).reshape(n, hb, wb, block * block * c_in, s)
    # (Q x B*B*C) @ (B*B*C x S) per image and block: the transposed view goes to BLAS as is.
    products = np.matmul(gathered.swapaxes(-1, -2), signal)
    products = products.reshape(n, hb, wb, c_out, nq, b2, nr, b2, s)
    full = np.zeros((n, c_out, hb + nq - 1, b2, wb + nr - 1, b2, s), dtype=x.dtype)
    for q in range(nq):  # a loop over window offsets: each add covers every block at once
        for r in range(nr):
            full[:, :, q : q + hb, :, r : r + wb] += products[:, :, :, :, q, :, r].transpose(
                0, 3, 1, 4, 2, 5, 6
            )
    full = full.reshape(n, c_out, (hb + nq - 1) * b2, (wb + nr - 1) * b2, s)
    out_h, out_w = 2 * h + kh - 1 - 2 * padding, 2 * w + kw - 1 - 2 * padding
    return full[:, :, padding : padding + out_h, padding : padding + out_w]
