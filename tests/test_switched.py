"""The switched step (unpooling and transposed filter fused, projections last) equals the two
loop-level reference ops it replaces, in both backends."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_lenet import reference
from numpy_lenet.switched import switch_phases, unpool_conv_transpose2d

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


def test_switched_torch_mirror_equals_numpy():
    torch = pytest.importorskip("torch")
    from torch_lenet.switched import unpool_conv_transpose2d as torch_switched

    rng = np.random.default_rng(3)
    for h, padding, c_in, c_out in ((5, 0, 16, 6), (14, 2, 6, 1)):
        x = rng.standard_normal((3, c_in, h, h, 7))
        weight = rng.standard_normal((c_in, c_out, 5, 5))
        switches = random_switches(rng, 3, c_in, h, h)
        want = unpool_conv_transpose2d(x, switches, weight, padding)
        got = torch_switched(
            torch.from_numpy(x), torch.from_numpy(switches), torch.from_numpy(weight), padding
        )
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=1e-12 * np.abs(want).max())


def test_a_switch_outside_its_window_is_refused():
    switches = np.zeros((1, 1, 2, 2), dtype=np.int64)  # every switch at (0, 0): wrong for 3 windows
    with pytest.raises(ValueError, match="outside its 2x2 pooling window"):
        switch_phases(switches, 2, 2)


def test_mismatched_shapes_are_refused():
    x = np.zeros((1, 2, 3, 3, 1))
    with pytest.raises(ValueError, match="input channels"):
        unpool_conv_transpose2d(x, np.zeros((1, 2, 3, 3), np.int64), np.zeros((3, 1, 5, 5)))
    with pytest.raises(ValueError, match="switches must be"):
        unpool_conv_transpose2d(x, np.zeros((1, 2, 3, 4), np.int64), np.zeros((2, 1, 5, 5)))


def torch_straightforward(torch, x, switches, weight, padding):
    """torch's own ops: F.max_unpool2d of each of the S signals, then F.conv_transpose2d."""
    import torch.nn.functional as F

    n, c, h, w, s = x.shape
    signals = x.permute(0, 4, 1, 2, 3).reshape(n * s, c, h, w)
    where = switches[:, None].expand(n, s, c, h, w).reshape(n * s, c, h, w)
    planes = F.max_unpool2d(signals, where, 2, 2, output_size=(2 * h, 2 * w))
    out = F.conv_transpose2d(planes, weight, padding=padding)
    return out.reshape(n, s, *out.shape[1:]).permute(0, 2, 3, 4, 1)


@settings(max_examples=40, deadline=None)
@given(**CASES)
def test_torch_switched_equals_torch_unpool_then_transposed_conv(
    seed, n, s, c_in, c_out, h, w, k, padding, dtype
):
    torch = pytest.importorskip("torch")
    from torch_lenet.switched import unpool_conv_transpose2d as torch_switched

    if 2 * padding >= min(2 * h, 2 * w) + k - 1:
        padding = 0
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((n, c_in, h, w, s)).astype(dtype))
    weight = torch.from_numpy(rng.standard_normal((c_in, c_out, k, k)).astype(dtype))
    switches = torch.from_numpy(random_switches(rng, n, c_in, h, w))
    got = torch_switched(x, switches, weight, padding)
    want = torch_straightforward(torch, x.double(), switches, weight.double(), padding)
    assert got.dtype == x.dtype
    assert got.shape == want.shape
    scale = max(want.abs().max().item(), 1.0)
    assert (got.double() - want).abs().max().item() <= TOLERANCE[dtype] * scale


def test_torch_mirror_refuses_what_numpy_refuses():
    torch = pytest.importorskip("torch")
    from torch_lenet.switched import switch_phases as torch_phases
    from torch_lenet.switched import unpool_conv_transpose2d as torch_switched

    with pytest.raises(ValueError, match="outside its 2x2 pooling window"):
        torch_phases(torch.zeros((1, 1, 2, 2), dtype=torch.int64), 2, 2)
    x = torch.zeros((1, 2, 3, 3, 1), dtype=torch.float64)
    with pytest.raises(ValueError, match="input channels"):
        torch_switched(x, torch.zeros((1, 2, 3, 3), dtype=torch.int64), x.new_zeros((3, 1, 5, 5)))
    with pytest.raises(ValueError, match="switches must be"):
        torch_switched(x, torch.zeros((1, 2, 3, 4), dtype=torch.int64), x.new_zeros((2, 1, 5, 5)))
    with pytest.raises(TypeError, match="share a dtype"):
        torch_switched(x, torch.zeros((1, 2, 3, 3), dtype=torch.int64), torch.zeros((2, 1, 5, 5)))
