"""The NumPy and PyTorch LeNet-5 compute the same traces and the same projections."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet_deconv.backends import torch_model, torch_trace, trace_to_torch
from lenet_deconv.crosscheck.agreement import relative_error
from lenet_deconv.crosscheck.ties import find_flips
from numpy_lenet import deconv as np_deconv
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES, POOL_NAMES, PRE_POOL, is_spatial
from numpy_lenet.model import Trace, forward
from torch_lenet import deconv as torch_deconv

from .lenet_factories import random_images, random_params

TOLERANCE = {np.float64: 1e-12, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]


def torch_trace_of(params, images) -> Trace:
    """The PyTorch forward trace of images, as NumPy arrays."""
    return torch_trace(torch_model(params, images.dtype.type), images)


def assert_switches_agree(params, images, np_trace: Trace, torch_trace: Trace) -> None:
    """Switches are equal, or differ only in windows that are near-ties."""
    real = [f for f in find_flips(params, images, np_trace, torch_trace) if not f.near_tie]
    assert not real, f"switches differ in {len(real)} window(s) that are not near-ties: {real[:3]}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_forward_traces_agree(dtype, seed):
    params = random_params(seed, dtype)
    images = random_images(seed, 64, dtype)
    ours, theirs = forward(params, images), torch_trace_of(params, images)
    for layer in LAYER_NAMES:
        assert ours.activations[layer].dtype == dtype
        err = relative_error(ours.activations[layer], theirs.activations[layer])
        assert err < TOLERANCE[dtype], f"{layer}: relative error {err}"
    assert relative_error(ours.log_probs, theirs.log_probs) < TOLERANCE[dtype]
    assert_switches_agree(params, images, ours, theirs)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_ties_give_identical_switches(dtype, seed):
    """Dyadic weights and pixels make every sum exact, so ties are true ties in both backends."""
    rng = np.random.default_rng(seed)
    params = {
        k: (rng.integers(-4, 5, size=v.shape) / 8).astype(dtype)
        for k, v in random_params(seed).items()
    }
    images = (rng.integers(0, 3, size=(8, 1, 28, 28)) / 4).astype(dtype)
    images[0] = 0  # blank: every conv map is constant, every window a 4-way tie
    ours, theirs = forward(params, images), torch_trace_of(params, images)
    for layer in ("conv1", "pool1", "conv2", "pool2"):
        np.testing.assert_array_equal(ours.activations[layer], theirs.activations[layer])
    for pool in POOL_NAMES:
        np.testing.assert_array_equal(ours.switches[pool], theirs.switches[pool])
        pre_h, pre_w = LAYER_SHAPES[PRE_POOL[pool]][1:]
        rows, cols = np.meshgrid(np.arange(pre_h // 2), np.arange(pre_w // 2), indexing="ij")
        first = 2 * rows * pre_w + 2 * cols  # top-left corner of every window
        assert np.all(ours.switches[pool][0] == first)
    ties = ours.activations["conv1"].reshape(8, 6, 14, 2, 14, 2).max(axis=(3, 5))
    assert np.mean(ties == 0) > 0.1, "the test should be tie-heavy"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layer", LAYER_NAMES)
@pytest.mark.parametrize("mode", ["map", "max", "unit"])
def test_projections_agree_on_the_same_trace(dtype, layer, mode):
    params = random_params(7, dtype)
    images = random_images(7, 12, dtype)
    trace = forward(params, images)
    units = None
    channels = None
    if mode == "unit":
        shape = LAYER_SHAPES[layer]
        rng = np.random.default_rng(0)
        units = [tuple(int(rng.integers(n)) for n in shape) for _ in range(5)]
    ours = np_deconv.project(params, trace, layer, mode, channels, units)
    model = torch_model(params, dtype)
    theirs = torch_deconv.project(model, trace_to_torch(trace), layer, mode, channels, units)
    count = 5 if mode == "unit" else LAYER_SHAPES[layer][0]
    assert ours.shape == (12, count, 1, 28, 28)
    assert ours.dtype == dtype
    assert np.any(ours != 0), "a projection test on all-zero output proves nothing"
    err = relative_error(ours, theirs.numpy())
    assert err < TOLERANCE[dtype], f"{layer}/{mode}: relative error {err}"


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 6),
    layer=st.sampled_from(LAYER_NAMES),
    mode=st.sampled_from(["map", "max"]),
    dtype=st.sampled_from(DTYPES),
    gain=st.sampled_from([0.5, 1.0, 3.0]),
)
def test_end_to_end_backends_agree(seed, n, layer, mode, dtype, gain):
    """Each backend traces and projects on its own; they agree unless a near-tie flipped."""
    params = random_params(seed, dtype, gain)
    images = random_images(seed + 1, n, dtype)
    ours, theirs = forward(params, images), torch_trace_of(params, images)
    assert_switches_agree(params, images, ours, theirs)
    flipped = any(np.any(ours.switches[p] != theirs.switches[p]) for p in POOL_NAMES)
    a = np_deconv.project(params, ours, layer, mode)
    model = torch_model(params, dtype)
    b = torch_deconv.project(model, trace_to_torch(theirs), layer, mode).numpy()
    if not flipped:
        assert relative_error(a, b) < TOLERANCE[dtype]


def test_projection_vanishes_outside_the_receptive_field():
    from numpy_lenet.architecture import receptive_field

    params = random_params(11)
    images = random_images(11, 4)
    trace = forward(params, images)
    for layer in ("conv1", "pool1", "conv2", "pool2"):
        c, h, w = LAYER_SHAPES[layer]
        units = [(ch, y, x) for ch in range(c) for y in (0, h // 2, h - 1) for x in (0, w - 1)]
        proj = np_deconv.project(params, trace, layer, "unit", units=units)
        for s, (_, y, x) in enumerate(units):
            top, left, bottom, right = receptive_field(layer, y, x)
            outside = proj[:, s, 0].copy()
            outside[:, top:bottom, left:right] = 0
            assert not np.any(outside), f"{layer} unit {units[s]} leaks outside its field"
    assert is_spatial("pool2") and not is_spatial("fc1")
