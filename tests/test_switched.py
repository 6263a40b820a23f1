"""The switched step (unpooling and transposed filter fused, projections last) equals the two
loop-level reference ops it replaces (NumPy's fast path)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_lenet import reference
from numpy_lenet._fast_unpool_conv import (
    _window,
    block_for,
    block_positions,
    phase_table,
    switch_phases,
    switched_blocks,
    table_rows,
    to_blocks,
)

TOLERANCE = {np.float64: 1e-12, np.float32: 2e-5}
#: The shapes, paddings and dtypes both backends' switched steps are checked over.
CASES = {
    "seed": st.integers(0, 2**16),
    "n": st.integers(1, 3),
    "s": st.integers(1, 4),
    "c_in": st.integers(1, 3),
    "c_out": st.integers(1, 3),
    "h": st.integers(1, 4),
    "w": st.integers(1, 4),
    "k": st.integers(1, 5),
    "padding": st.integers(0, 2),
    "dtype": st.sampled_from([np.float64, np.float32]),
}


def random_switches(rng: np.random.Generator, n: int, c: int, h: int, w: int) -> np.ndarray:
    """Flat switches into (2h, 2w) planes, each inside its own 2x2 window."""
    dy, dx = rng.integers(0, 2, (2, n, c, h, w))
    rows = 2 * np.arange(h)[:, None] + dy
    cols = 2 * np.arange(w) + dx
    return (rows * 2 * w + cols).astype(np.int64)


def from_blocks(blocks, padding, size):
    """(n, hb, wb, C, B, B, S) blocks -> the (n, C, H, W, S) plane, ``padding`` cropped off."""
    n, hb, wb, c, b, _, s = blocks.shape
    plane = blocks.transpose(0, 3, 1, 4, 2, 5, 6).reshape(n, c, hb * b, wb * b, s)
    return plane[:, :, padding : padding + size[0], padding : padding + size[1]]


def unpool_conv_transpose2d(x, switches, weight, padding):
    """One switched step on (n, C, h, w, S) signals, cropped to (n, O, H, W, S)."""
    h, w, k = x.shape[2], x.shape[3], weight.shape[2]
    block = block_for(h, w)
    rows = table_rows(switch_phases(switches, h, w), block)
    full = switched_blocks(to_blocks(x, block), rows, phase_table(weight, block), (k, k))
    return from_blocks(full, padding, (2 * h + k - 1 - 2 * padding, 2 * w + k - 1 - 2 * padding))


def straightforward(x, switches, weight, padding):
    """Loop-level reference: unpool each of the S signals, then the transposed convolution."""
    n, c, h, w, s = x.shape
    signals = np.moveaxis(x, -1, 1)  # (n, S, C, h, w)
    planes = reference.max_unpool2d(signals, switches[:, None], 2, 2, output_size=(2 * h, 2 * w))
    out = reference.conv_transpose2d(
        planes.reshape(n * s, c, 2 * h, 2 * w), weight, padding=padding
    )
    return np.moveaxis(out.reshape(n, s, *out.shape[1:]), 1, -1)


@settings(max_examples=40, deadline=None)
@given(**CASES)
def test_switched_equals_unpool_then_transposed_conv(
    seed, n, s, c_in, c_out, h, w, k, padding, dtype
):
    if 2 * padding >= min(2 * h, 2 * w) + k - 1:
        padding = 0
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w, s)).astype(dtype)
    weight = rng.standard_normal((c_in, c_out, k, k)).astype(dtype)
    switches = random_switches(rng, n, c_in, h, w)
    got = unpool_conv_transpose2d(x, switches, weight, padding)
    want = straightforward(x.astype(np.float64), switches, weight.astype(np.float64), padding)
    assert got.dtype == dtype
    assert got.shape == want.shape
    scale = max(np.abs(want).max(), 1.0)
    assert np.abs(got - want).max() <= TOLERANCE[dtype] * scale


def test_a_switch_outside_its_window_is_refused():
    switches = np.zeros((1, 1, 2, 2), dtype=np.int64)  # every switch at (0, 0): wrong for 3 windows
    with pytest.raises(ValueError, match="outside its 2x2 pooling window"):
        switch_phases(switches, 2, 2)


#: Two switched steps in a row, as the fast fc path runs them below pool2 and pool1.
CHAIN_CASES = {
    "seed": st.integers(0, 2**16),
    "n": st.integers(1, 2),
    "s": st.integers(1, 3),
    "c_in": st.integers(1, 3),
    "c_mid": st.integers(1, 3),
    "h": st.integers(1, 3),
    "w": st.integers(1, 3),
    "k": st.integers(1, 5),
    "padding": st.integers(0, 2),
    "dtype": st.sampled_from([np.float64, np.float32]),
}


def chain_inputs(seed, n, s, c_in, c_mid, h, w, k, dtype, plane):
    """x, the two steps' switches and weights; the second step's pooled plane is ``plane``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c_in, h, w, s)).astype(dtype)
    weights = [rng.standard_normal(shape).astype(dtype) for shape in ((c_in, c_mid, k, k),)]
    weights.append(rng.standard_normal((c_mid, 1, 5, 5)).astype(dtype))
    switches = [random_switches(rng, n, c_in, h, w), random_switches(rng, n, c_mid, *plane)]
    return x, switches, weights


def chain_straightforward(x, switches, weights, plane, padding):
    """Loop-level reference of two steps with the mirror ReLU between, in float64.

    The first step's output is padded with zeros to ``plane`` (the blocks' tiling rounds
    it up); zeros add nothing whatever their switches.
    """
    mid = straightforward(x.astype(np.float64), switches[0], weights[0].astype(np.float64), 0)
    wide = np.zeros((*mid.shape[:2], *plane, mid.shape[-1]))
    wide[:, :, : mid.shape[2], : mid.shape[3]] = np.maximum(mid, 0)
    return straightforward(wide, switches[1], weights[1].astype(np.float64), padding)


def chain_planes(h, w, k):
    """The first step's output plane in the blocks' tiling, and its block side."""
    block = block_for(h, w)
    tiles_h, tiles_w = _window(block, k) // (2 * block), _window(block, k) // (2 * block)
    return (2 * block * (h // block + tiles_h - 1), 2 * block * (w // block + tiles_w - 1)), block


@settings(max_examples=25, deadline=None)
@given(**CHAIN_CASES)
def test_one_switched_step_feeds_the_next_in_its_own_blocks(
    seed, n, s, c_in, c_mid, h, w, k, padding, dtype
):
    plane, block = chain_planes(h, w, k)
    x, switches, weights = chain_inputs(seed, n, s, c_in, c_mid, h, w, k, dtype, plane)
    rows = table_rows(switch_phases(switches[0], h, w), block)
    mid = switched_blocks(to_blocks(x, block), rows, phase_table(weights[0], block), (k, k))
    assert mid.shape == (
        n,
        plane[0] // (2 * block),
        plane[1] // (2 * block),
        c_mid,
        2 * block,
        2 * block,
        s,
    )
    np.maximum(mid, 0, out=mid)
    rows = table_rows(switch_phases(switches[1], *plane), 2 * block)
    out = switched_blocks(mid, rows, phase_table(weights[1], 2 * block), (5, 5))
    want = chain_straightforward(x, switches, weights, plane, padding)
    got = from_blocks(out, padding, want.shape[2:4])
    assert got.dtype == dtype
    scale = max(np.abs(want).max(), 1.0)
    assert np.abs(got - want).max() <= TOLERANCE[dtype] * scale


@pytest.mark.parametrize("block", [1, 2, 4])
@pytest.mark.parametrize("padding", [0, 2])
def test_block_positions_pick_the_cropped_plane(block, padding):
    rng = np.random.default_rng(block + 10 * padding)
    hb, wb, s = 5, 6, 2
    size = (hb * block - 2 * padding, wb * block - 2 * padding)
    blocks = rng.standard_normal((2, hb, wb, 1, block, block, s))
    want = from_blocks(blocks, padding, size)  # (2, 1, H, W, S)
    where = block_positions(block, hb, wb, padding, size)
    got = np.take(blocks.reshape(2, -1, s), where, axis=1).reshape(2, *size, s)
    np.testing.assert_array_equal(got, want[:, 0])
