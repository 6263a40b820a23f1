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
so they are stored with the projections innermost: (n, C, h, w, S). Inside,
the plane is cut into its blocks, (n, hb, wb, C, B, B, S) (to_blocks): each
block's signals are one contiguous (C*B*B x S) matrix, the product is
(weights of a block) @ (that matrix), and each window tile's outputs for a
block, (O, 2B, 2B, S), are one contiguous run, so every add of the
overlapping windows runs over long rows. The output comes in blocks of
2B x 2B, which is the next step's input layout when no padding is cropped:
the fast fc path runs pool2's and pool1's steps back to back without
reordering. This is the fast path's layout only; the loop-level meaning is
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
#: the products are still in cache when the windows are added up. Measured (thread
#: CPU time, one thread, fc1 / conv2 map, float64): 0.5 MB 0.93 / 0.46 ms/image,
#: 2 MB 0.85 / 0.48, 8 MB 1.22 / 0.54.
CHUNK_BYTES = 2 * 2**20


def block_for(height: int, width: int) -> int:
    """The block side B: 2 where the pooled plane splits into 2x2 blocks, else 1."""
    return 2 if height % 2 == 0 and width % 2 == 0 else 1


def phase_table(weight: np.ndarray, block: int) -> np.ndarray:
    """(B, B, C, 4, Q): transposed filters placed at every block cell and switch phase.

    Entry [by, bx, c, p] is channel c's transposed filter weight[c] (O, k, k)
    placed in a block's output window (O, win, win) at the offset of block
    cell (by, bx) and switch phase p = 2 * dy + dx; win = 2B + k - 1, rounded
    up to a multiple of 2B so the windows tile. The window is cut into its
    (win / 2B)^2 tiles of 2B x 2B and flattened tile-major, Q = (tile row q,
    tile column r, O, 2B, 2B): all of one tile's outputs lie together, so that
    adding a tile into its place in the output block runs over whole rows.
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
    b2 = 2 * block
    tiles = table.reshape(block, block, c_in, 4, c_out, win_h // b2, b2, win_w // b2, b2)
    return np.ascontiguousarray(tiles.transpose(0, 1, 2, 3, 5, 7, 4, 6, 8)).reshape(
        block, block, c_in, 4, -1
    )


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
    rows = table_rows(switch_phases(switches, h, w), block)
    out = np.zeros((n, c_out, full_h - 2 * padding, full_w - 2 * padding, s), dtype=x.dtype)
    if n == 0 or s == 0:
        return out
    blocks = to_blocks(x, block)
    for part in chunks(blocks, table):
        full = switched_blocks(blocks[part], rows[part], table, (kh, kw))
        out[part] = from_blocks(full, padding, (full_h - 2 * padding, full_w - 2 * padding))
    return out


def chunks(blocks: np.ndarray, table: np.ndarray) -> list[slice]:
    """Slices of the images of ``blocks``, each making about CHUNK_BYTES of switched products."""
    n, hb, wb = blocks.shape[:3]
    per_image = hb * wb * table.shape[-1] * blocks.shape[-1] * blocks.itemsize
    step = max(1, min(n, CHUNK_BYTES // max(per_image, 1)))
    return [slice(start, start + step) for start in range(0, n, step)]


def to_blocks(x: np.ndarray, block: int) -> np.ndarray:
    """(n, C, h, w, S) -> (n, h / B, w / B, C, B, B, S): a plane cut into its B x B blocks.

    Entry [.., y, x, c, by, bx, :] is channel c's (B * y + by, B * x + bx): one
    contiguous (C * B * B, S) matrix per block, the switched step's input
    layout, and the layout it returns with B = 2 * B_in.
    """
    n, c, h, w, s = x.shape
    cells = x.reshape(n, c, h // block, block, w // block, block, s)
    return np.ascontiguousarray(cells.transpose(0, 2, 4, 1, 3, 5, 6))


def block_positions(b: int, hb: int, wb: int, padding: int, size: tuple[int, int]) -> np.ndarray:
    """(H * W,): where each pixel of from_blocks' cropped plane lies in (hb, wb, b, b) blocks.

    Flat indexes into blocks[i].reshape(hb * wb * b * b, S) (one channel), the
    plane's pixels in row-major order: one take gathers a whole cropped plane.
    """
    y, cell_y = np.divmod(padding + np.arange(size[0]), b)
    x, cell_x = np.divmod(padding + np.arange(size[1]), b)
    blocks = y[:, None] * wb + x[None, :]
    return ((blocks * b + cell_y[:, None]) * b + cell_x[None, :]).reshape(-1)


def from_blocks(blocks: np.ndarray, padding: int, size: tuple[int, int]) -> np.ndarray:
    """(n, hb, wb, C, B, B, S) -> the (n, C, H, W, S) plane, ``padding`` cropped off each side."""
    n, hb, wb, c, b, _, s = blocks.shape
    plane = blocks.transpose(0, 3, 1, 4, 2, 5, 6).reshape(n, c, hb * b, wb * b, s)
    return plane[:, :, padding : padding + size[0], padding : padding + size[1]]


def table_rows(phases: np.ndarray, block: int) -> np.ndarray:
    """(n, h / B, w / B, C * B * B): the phase_table row each block's channels and cells read.

    Rows are flat (by, bx, c, phase) indexes into table.reshape(-1, Q), listed
    per block in to_blocks' (c, by, bx) order; phases are switch_phases(...).
    """
    n, c_in, h, w = phases.shape
    first = np.arange(block * block * c_in).reshape(block, block, c_in).transpose(2, 0, 1) * 4
    cells = phases.reshape(n, c_in, h // block, block, w // block, block).transpose(
        0, 2, 4, 1, 3, 5
    )
    rows = np.empty((n, h // block, w // block, c_in, block, block), dtype=np.intp)
    np.add(cells, first, out=rows)
    return rows.reshape(n, h // block, w // block, -1)


def switched_blocks(
    blocks: np.ndarray, rows: np.ndarray, table: np.ndarray, kernel: tuple[int, int]
) -> np.ndarray:
    """The switched step on to_blocks(x, B), table_rows(...) rows: (n, hb', wb', O, 2B, 2B, S).

    The uncropped output plane (2h + k - 1 rounded up to the windows' tiling)
    in blocks of 2B x 2B: from_blocks(result, padding, ...) is
    unpool_conv_transpose2d's answer, and it is already to_blocks(answer, 2B)
    where no padding is cropped, so one step can feed the next as it is.
    """
    n, hb, wb, c_in, block, _, s = blocks.shape
    b2 = 2 * block
    nq, nr = _tiles(block, kernel)
    q_rows = table.shape[-1]
    tile = q_rows // (nq * nr)  # O * 2B * 2B outputs per tile
    depth = c_in * block * block
    gathered = np.take(table.reshape(-1, q_rows), rows, axis=0)  # (n, hb, wb, C*B*B, Q)
    # (Q x C*B*B) @ (C*B*B x S) per image and block: (n, hb, wb, Q, S).
    products = np.matmul(gathered.swapaxes(-1, -2), blocks.reshape(n, hb, wb, depth, s))
    tiles = products.reshape(n, hb, wb, nq * nr, tile * s)
    # Tile (q, r) of every block's window lands q blocks down and r across; each block's
    # share of it, (O, 2B, 2B, S), is one contiguous run in both arrays.
    full = np.zeros((n, hb + nq - 1, wb + nr - 1, tile * s), dtype=blocks.dtype)
    for q in range(nq):  # a loop over window tiles: each add covers every block at once
        for r in range(nr):
            full[:, q : q + hb, r : r + wb] += tiles[:, :, :, q * nr + r]
    return full.reshape(n, hb + nq - 1, wb + nr - 1, tile // (b2 * b2), b2, b2, s)


def _tiles(block: int, kernel: tuple[int, int]) -> tuple[int, int]:
    """Tiles of 2B x 2B per block window: (rows, columns)."""
    return _window(block, kernel[0]) // (2 * block), _window(block, kernel[1]) // (2 * block)


def _window(block: int, k: int) -> int:
    """Side of a block's output window: 2B + k - 1 rounded up to a multiple of 2B."""
    return -(-(2 * block + k - 1) // (2 * block)) * 2 * block
