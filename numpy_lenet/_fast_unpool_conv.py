"""conv_transpose2d(max_unpool2d(x, switches), weight) as one step (the switched step).

Signals are (n, C, h, w, S), the S projections of one image last, cut into
B x B blocks (to_blocks). docs/deconvnet.md ("The switched step") gives the
maths and the layout; tests/test_switched.py checks the step against
reference.max_unpool2d then reference.conv_transpose2d. The mirror ReLU
commutes with the unpooling, so callers rectify x before.
"""

from __future__ import annotations

import numpy as np

from ._checks import check_float_array, check_int_array

#: Rows of the product (images x positions x table rows x S) computed at once,
#: in bytes: big enough to amortise the per-call overhead, small enough that
#: the products are still in cache when the windows are added up.
CHUNK_BYTES = 2 * 2**20


def block_for(height: int, width: int) -> int:
    """The block side B: 2 where the pooled plane splits into 2x2 blocks, else 1."""
    return 2 if height % 2 == 0 and width % 2 == 0 else 1


def phase_table(weight: np.ndarray, block: int) -> np.ndarray:
    """(B, B, C, 4, Q): transposed filters placed at every block cell and switch phase.

    Entry [by, bx, c, p] is channel c's filter weight[c] (O, k, k) placed in a
    block's output window at cell (by, bx) and phase p = 2 * dy + dx, flattened
    tile by tile (Q = tile row, tile column, O, 2B, 2B; see _window).
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


def chunks(blocks: np.ndarray, table: np.ndarray) -> list[slice]:
    """Slices of the images of ``blocks``, each making about CHUNK_BYTES of switched products."""
    n, hb, wb = blocks.shape[:3]
    per_image = hb * wb * table.shape[-1] * blocks.shape[-1] * blocks.itemsize
    step = max(1, min(n, CHUNK_BYTES // max(per_image, 1)))
    return [slice(start, start + step) for start in range(0, n, step)]


def to_blocks(x: np.ndarray, block: int) -> np.ndarray:
    """(n, C, h, w, S) -> (n, h / B, w / B, C, B, B, S): a plane cut into its B x B blocks."""
    n, c, h, w, s = x.shape
    cells = x.reshape(n, c, h // block, block, w // block, block, s)
    return np.ascontiguousarray(cells.transpose(0, 2, 4, 1, 3, 5, 6))


def block_positions(b: int, hb: int, wb: int, padding: int, size: tuple[int, int]) -> np.ndarray:
    """(H * W,): flat indexes of a cropped plane's pixels in one channel's (hb, wb, b, b) blocks.

    ``padding`` is cropped off each side; the pixels come in row-major order.
    """
    y, cell_y = np.divmod(padding + np.arange(size[0]), b)
    x, cell_x = np.divmod(padding + np.arange(size[1]), b)
    blocks = y[:, None] * wb + x[None, :]
    return ((blocks * b + cell_y[:, None]) * b + cell_x[None, :]).reshape(-1)


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
    in blocks of 2B x 2B, so one step can feed the next as it is.
    """
    n, hb, wb, c_in, block, _, s = blocks.shape
    b2 = 2 * block
    nq, nr = _window(block, kernel[0]) // b2, _window(block, kernel[1]) // b2
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


def _window(block: int, k: int) -> int:
    """Side of a block's output window: 2B + k - 1 rounded up to a multiple of 2B."""
    return -(-(2 * block + k - 1) // (2 * block)) * 2 * block
