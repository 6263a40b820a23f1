"""Unpooling and the transposed filter as one step, projections innermost: mirror of
``numpy_lenet.switched``.

Same names, same layout, same maths (numpy_lenet/switched.py explains them):
conv_transpose2d(max_unpool2d(x, switches), weight) as a gather of per-phase
filter tables by the switches, a batched matrix product per image and pooled
block, and the overlapping windows added in place. Built from torch ops only
(advanced indexing, torch.matmul, in-place adds); every tensor it makes lives
on x's device and keeps x's dtype.
"""

from __future__ import annotations

import torch

#: Bytes of products (images x blocks x table rows x S) computed at once, as in NumPy.
#: Measured separately (benchmarks/bench_switched.py, one thread): 0.5 to 32 MB gave the
#: same fc times within the noise, since one image's products in the fast fc path's groups
#: already exceed a few MB; the bound matters for the temporaries, not the speed.
CHUNK_BYTES = 2 * 2**20


def block_for(height: int, width: int) -> int:
    """The block side B: 2 where the pooled plane splits into 2x2 blocks, else 1."""
    return 2 if height % 2 == 0 and width % 2 == 0 else 1


def phase_table(weight: torch.Tensor, block: int) -> torch.Tensor:
    """(B, B, C, 4, Q): transposed filters placed at every block cell and switch phase.

    Mirror of ``numpy_lenet.switched.phase_table``: entry [by, bx, c, p] is
    weight[c] (O, k, k) placed at block cell (by, bx) and phase p = 2 * dy + dx
    in a block's output window (O, win, win), flattened to Q = O * win * win.
    """
    _check_float(weight, "weight", 4)
    c_in, c_out, kh, kw = weight.shape
    win_h, win_w = _window(block, kh), _window(block, kw)
    table = weight.new_zeros((block, block, c_in, 4, c_out, win_h, win_w))
    for by in range(block):
        for bx in range(block):
            for phase in range(4):
                y0, x0 = 2 * by + phase // 2, 2 * bx + phase % 2
                table[by, bx, :, phase, :, y0 : y0 + kh, x0 : x0 + kw] = weight
    return table.reshape(block, block, c_in, 4, -1)


def switch_phases(switches: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(n, C, h, w) switch phases 2 * dy + dx in 0..3 from flat switches into a (2h, 2w) plane."""
    if switches.dtype.is_floating_point or switches.dtype.is_complex:
        raise TypeError(f"switches must be an integer tensor, got {switches.dtype}")
    device = switches.device
    rows, cols = switches // (2 * width), switches % (2 * width)
    dy = rows - 2 * torch.arange(height, device=device)[:, None]
    dx = cols - 2 * torch.arange(width, device=device)
    if bool(torch.any((dy < 0) | (dy > 1) | (dx < 0) | (dx > 1))):
        raise ValueError("a switch lies outside its 2x2 pooling window")
    return (2 * dy + dx).long()


def unpool_conv_transpose2d(
    x: torch.Tensor,
    switches: torch.Tensor,
    weight: torch.Tensor,
    padding: int = 0,
    *,
    table: torch.Tensor | None = None,
) -> torch.Tensor:
    """conv_transpose2d(max_unpool2d(x, switches, 2, 2), weight, padding=padding), projections last.

    x is (n, C, h, w, S): S signals per image; switches (n, C, h, w) are flat
    positions in each (2h, 2w) plane, as F.max_pool2d returns them; weight is
    (C, O, k, k). Returns (n, O, H, W, S) with H = 2h + k - 1 - 2 * padding.
    ``table`` is phase_table(weight, block_for(h, w)), if the caller keeps one.
    """
    _check_float(x, "x", 5)
    _check_float(weight, "weight", 4)
    if x.dtype != weight.dtype:
        raise TypeError(f"x and weight must share a dtype, got {x.dtype} and {weight.dtype}")
    n, c_in, h, w, s = x.shape
    _, c_out, kh, kw = weight.shape
    if weight.shape[0] != c_in:
        raise ValueError(
            f"weight {tuple(weight.shape)} needs {c_in} input channels (dim 0) for x "
            f"{tuple(x.shape)}"
        )
    if tuple(switches.shape) != (n, c_in, h, w):
        raise ValueError(f"switches must be {(n, c_in, h, w)}, got {tuple(switches.shape)}")
    full_h, full_w = 2 * h + kh - 1, 2 * w + kw - 1
    if not 0 <= 2 * padding < min(full_h, full_w):
        raise ValueError(f"padding {padding} leaves no output of a {full_h}x{full_w} plane")
    block = block_for(h, w)
    if table is None:
        table = phase_table(weight, block)
    phases = switch_phases(switches, h, w)
    out = x.new_empty((n, c_out, full_h - 2 * padding, full_w - 2 * padding, s))
    if n == 0 or s == 0:
        return out.zero_()
    per_image = h * w * table.shape[-1] * s * x.element_size()
    step = max(1, min(n, CHUNK_BYTES // max(per_image, 1)))
    for start in range(0, n, step):
        rows = slice(start, start + step)
        out[rows] = _chunk(x[rows], phases[rows], table, block, (c_out, kh, kw), padding)
    return out


def _check_float(x: object, name: str, ndim: int) -> None:
    """Raise unless ``x`` is a float32/float64 tensor of rank ``ndim``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype not in (torch.float32, torch.float64):
        raise TypeError(f"{name} must be float32 or float64, got {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")


def _window(block: int, k: int) -> int:
    """Side of a block's output window: 2B + k - 1 rounded up to a multiple of 2B."""
    return -(-(2 * block + k - 1) // (2 * block)) * 2 * block


def _chunk(
    x: torch.Tensor,
    phases: torch.Tensor,
    table: torch.Tensor,
    block: int,
    kernel: tuple[int, int, int],
    padding: int,
) -> torch.Tensor:
    """One chunk of images: gathered tables @ signals, then the overlapping windows added."""
    n, c_in, h, w, s = x.shape
    c_out, kh, kw = kernel
    hb, wb, b2 = h // block, w // block, 2 * block
    win_h, win_w = _window(block, kh), _window(block, kw)
    nq, nr = win_h // b2, win_w // b2
    device = x.device
    # Which table row each (image, block, cell, channel) reads: its cell and its phase.
    cells = phases.reshape(n, c_in, hb, block, wb, block).permute(0, 2, 4, 3, 5, 1)
    first = torch.arange(block * block * c_in, device=device).reshape(block, block, c_in) * 4
    rows = (first + cells).reshape(-1)  # flat row (by, bx, c, phase) of the table
    # index_select of flat rows, not table[by, bx, ch, cells]: the same rows, and measured
    # 1.0-2x faster for the whole step on one CPU thread (most where S is small).
    gathered = table.reshape(-1, table.shape[-1]).index_select(0, rows)
    gathered = gathered.reshape(n, hb, wb, block * block * c_in, -1)
    signal = x.reshape(n, c_in, hb, block, wb, block, s).permute(0, 2, 4, 3, 5, 1, 6)
    signal = signal.reshape(n, hb, wb, block * block * c_in, s)
    # (Q x B*B*C) @ (B*B*C x S) per image and block: the transposed view goes to BLAS as is.
    products = torch.matmul(gathered.transpose(-1, -2), signal)
    products = products.reshape(n, hb, wb, c_out, nq, b2, nr, b2, s)
    full = x.new_zeros((n, c_out, hb + nq - 1, b2, wb + nr - 1, b2, s))
    for q in range(nq):  # a loop over window offsets: each add covers every block at once
        for r in range(nr):
            full[:, :, q : q + hb, :, r : r + wb] += products[:, :, :, :, q, :, r].permute(
                0, 3, 1, 4, 2, 5, 6
            )
    full = full.reshape(n, c_out, (hb + nq - 1) * b2, (wb + nr - 1) * b2, s)
    out_h, out_w = 2 * h + kh - 1 - 2 * padding, 2 * w + kw - 1 - 2 * padding
    return full[:, :, padding : padding + out_h, padding : padding + out_w]
