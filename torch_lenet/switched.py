"""Unpooling and the transposed filter as one step, several projections at once: mirror of
``numpy_lenet.switched``.

Same names, same maths (numpy_lenet/switched.py explains them):
conv_transpose2d(max_unpool2d(x, switches), weight) as a gather of per-phase
filter tables by the switches, a batched matrix product per image and pooled
block, and the overlapping windows added in place. The public
unpool_conv_transpose2d takes and returns the same (n, C, h, w, S) arrays as
NumPy's. One layout differs inside, for speed on the CPU:

- blocks hold one (S, C * B * B) matrix per pooled block, (n, hb, wb, S, C, B, B),
  where NumPy's hold (C * B * B, S) ones, (n, C, B, B, hb, wb, S). torch's
  products go through MKL, which measured 1.2-1.5x faster (float64 and float32,
  one thread) computing (S x C*B*B) @ (C*B*B x Q) than the transposed product
  NumPy's OpenBLAS takes; the window tiles are then added as runs of
  O * 2B * 2B values, since a torch product cannot be written into a strided
  workspace the way NumPy's shifted adds need (torch copies it: measured slower).

Built from torch ops only (index_select, torch.matmul, in-place adds); every
tensor it makes lives on x's device and keeps x's dtype.
"""

from __future__ import annotations

import torch

#: Bytes of products (images x blocks x table rows x S) computed at once, as in NumPy.
#: Measured (thread CPU time, fc1 float64, one thread): 2 MB (about one image of the fast
#: fc path) 1.73 ms/image, 8 MB 2.47, 32 MB 2.55: bigger chunks leave the cache.
CHUNK_BYTES = 2 * 2**20


def block_for(height: int, width: int) -> int:
    """The block side B: 2 where the pooled plane splits into 2x2 blocks, else 1."""
    return 2 if height % 2 == 0 and width % 2 == 0 else 1


def phase_table(weight: torch.Tensor, block: int) -> torch.Tensor:
    """(B, B, C, 4, Q): transposed filters placed at every block cell and switch phase.

    Mirror of ``numpy_lenet.switched.phase_table``: entry [by, bx, c, p] is
    weight[c] (O, k, k) placed at block cell (by, bx) and phase p = 2 * dy + dx
    in a block's output window (O, win, win), the window cut into 2B x 2B tiles
    and flattened tile-major, Q = (tile row, tile column, O, 2B, 2B).
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
    b2 = 2 * block
    tiles = table.reshape(block, block, c_in, 4, c_out, win_h // b2, b2, win_w // b2, b2)
    return tiles.permute(0, 1, 2, 3, 5, 7, 4, 6, 8).reshape(block, block, c_in, 4, -1)


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
    rows = table_rows(switch_phases(switches, h, w), block)
    out = x.new_zeros((n, c_out, full_h - 2 * padding, full_w - 2 * padding, s))
    if n == 0 or s == 0:
        return out
    blocks = to_blocks(x, block)
    for part in chunks(blocks, table):
        full = switched_blocks(blocks[part], rows[part], table, (kh, kw))
        out[part] = from_blocks(full, padding, (full_h - 2 * padding, full_w - 2 * padding))
    return out


def chunks(blocks: torch.Tensor, table: torch.Tensor) -> list[slice]:
    """Slices of the images of ``blocks``, each making about CHUNK_BYTES of switched products."""
    n, hb, wb, s = blocks.shape[:4]
    per_image = hb * wb * table.shape[-1] * s * blocks.element_size()
    step = max(1, min(n, CHUNK_BYTES // max(per_image, 1)))
    return [slice(start, start + step) for start in range(0, n, step)]


def to_blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    """(n, C, h, w, S) -> (n, h / B, w / B, S, C, B, B): a plane cut into B x B blocks, contiguous.

    Entry [.., y, x, j, c, by, bx] is signal j's channel c at (B * y + by,
    B * x + bx): one (S, C * B * B) matrix per block, the switched step's input
    layout, and the layout it returns with B = 2 * B_in.
    """
    n, c, h, w, s = x.shape
    cells = x.reshape(n, c, h // block, block, w // block, block, s)
    # Two copies: blocks first (runs of S), then each block's (C*B*B, S) matrix transposed.
    # One 7-dimensional permute measured 3-4x slower (its innermost runs are B long).
    cells = cells.permute(0, 2, 4, 1, 3, 5, 6).contiguous()
    matrices = cells.reshape(n * (h // block) * (w // block), c * block * block, s)
    return (
        matrices.transpose(1, 2).contiguous().reshape(n, h // block, w // block, s, c, block, block)
    )


def block_positions(b: int, hb: int, wb: int, padding: int, size: tuple[int, int]) -> torch.Tensor:
    """(H * W,): where each pixel of the cropped plane lies in a (hb, wb, b, b) block plane.

    Flat indexes into one signal's channel of from_blocks' input, laid out as
    (hb, wb, b, b), the plane's pixels in row-major order.
    """
    y, x = padding + torch.arange(size[0]), padding + torch.arange(size[1])
    blocks = (y // b)[:, None] * wb + (x // b)[None, :]
    return ((blocks * b + (y % b)[:, None]) * b + (x % b)[None, :]).reshape(-1)


def from_blocks(blocks: torch.Tensor, padding: int, size: tuple[int, int]) -> torch.Tensor:
    """(n, hb, wb, S, C, B, B) -> the (n, C, H, W, S) plane, ``padding`` cropped off each side."""
    n, hb, wb, s, c, b, _ = blocks.shape
    plane = blocks.permute(0, 4, 1, 5, 2, 6, 3).reshape(n, c, hb * b, wb * b, s)
    return plane[:, :, padding : padding + size[0], padding : padding + size[1]]


def table_rows(phases: torch.Tensor, block: int) -> torch.Tensor:
    """(n, h / B, w / B, C * B * B): the phase_table row each block's channels and cells read.

    Rows are flat (by, bx, c, phase) indexes into table.reshape(-1, Q), listed
    per block in to_blocks' (c, by, bx) order; phases are switch_phases(...).
    """
    n, c_in, h, w = phases.shape
    first = torch.arange(block * block * c_in, device=phases.device)
    first = first.reshape(block, block, c_in).permute(2, 0, 1) * 4
    cells = phases.reshape(n, c_in, h // block, block, w // block, block)
    rows = cells.permute(0, 2, 4, 1, 3, 5) + first
    return rows.reshape(n, h // block, w // block, -1)


def switched_blocks(
    blocks: torch.Tensor, rows: torch.Tensor, table: torch.Tensor, kernel: tuple[int, int]
) -> torch.Tensor:
    """The switched step on to_blocks(x, B), table_rows(...) rows: (n, hb', wb', S, O, 2B, 2B).

    The uncropped output plane (2h + k - 1 rounded up to the windows' tiling)
    in blocks of 2B x 2B: from_blocks(result, padding, ...) is
    unpool_conv_transpose2d's answer, and it is already to_blocks(answer, 2B)
    where no padding is cropped, so one step can feed the next as it is.
    """
    n, hb, wb, s, c_in, block, _ = blocks.shape
    b2 = 2 * block
    nq, nr = _tiles(block, kernel)
    q_rows = table.shape[-1]
    tile = q_rows // (nq * nr)  # O * 2B * 2B outputs per tile
    depth = c_in * block * block
    gathered = table.reshape(-1, q_rows).index_select(0, rows.reshape(-1))
    # (S x C*B*B) @ (C*B*B x Q) per image and block, contiguous (n, hb, wb, S, Q): MKL
    # measured 1.2-1.5x faster on this side of the product than on (Q x .) @ (. x S).
    products = torch.matmul(
        blocks.reshape(n, hb, wb, s, depth), gathered.reshape(n, hb, wb, depth, q_rows)
    )
    tiles = products.reshape(n, hb, wb, s, nq * nr, tile)
    # Tile (q, r) of every block's window lands q blocks down and r across.
    full = blocks.new_zeros((n, hb + nq - 1, wb + nr - 1, s, tile))
    for q in range(nq):  # a loop over window tiles: each add covers every block at once
        for r in range(nr):
            full[:, q : q + hb, r : r + wb] += tiles[:, :, :, :, q * nr + r]
    return full.reshape(n, hb + nq - 1, wb + nr - 1, s, tile // (b2 * b2), b2, b2)


def _tiles(block: int, kernel: tuple[int, int]) -> tuple[int, int]:
    """Tiles of 2B x 2B per block window: (rows, columns)."""
    return _window(block, kernel[0]) // (2 * block), _window(block, kernel[1]) // (2 * block)


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
