"""Selections keep exactly the chosen activations, ties going to the first (docs/deconvnet.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_lenet import reference
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES
from numpy_lenet.selection import plan_selection, select
from torch_lenet.selection import select as torch_select


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(), layer=st.sampled_from(LAYER_NAMES), mode=st.sampled_from(["map", "max", "unit"])
)
def test_select_matches_reference_and_torch(data, layer, mode):
    shape = LAYER_SHAPES[layer]
    # Small integers make ties common: max mode must take the first in row-major order.
    seed = data.draw(st.integers(0, 2**32 - 1))
    acts = np.random.default_rng(seed).integers(0, 3, size=(2, *shape)).astype(np.float64)
    channels = units = None
    if mode == "unit":
        units = data.draw(
            st.lists(st.tuples(*(st.integers(0, k - 1) for k in shape)), min_size=1, max_size=4)
        )
    else:
        channels = data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=4))
    plan = plan_selection(layer, mode, channels, units)
    ours = select(acts, plan)
    np.testing.assert_array_equal(ours, reference.select(acts, plan))
    np.testing.assert_array_equal(ours, torch_select(torch.from_numpy(acts), plan).numpy())


def test_all_channels_by_default():
    assert plan_selection("conv2", "map").channels == tuple(range(16))
    assert len(plan_selection("fc1", "max")) == 120


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("conv9", "map"), "unknown layer 'conv9'"),
        (("conv1", "mean"), "unknown mode 'mean'"),
        (("conv1", "map", [6]), r"channel 6 out of range for layer conv1 \(0..5\)"),
        (("fc3", "max", [-1]), "channel -1 out of range"),
        (("conv1", "unit"), "needs at least one unit"),
        (("conv1", "unit", None, [(0, 28, 0)]), "out of range for layer conv1"),
        (("conv1", "unit", None, [(0, 1)]), r"a unit of layer conv1 is \(c, y, x\)"),
        (("fc1", "unit", None, [(0, 1, 1)]), r"a unit of layer fc1 is \(j,\)"),
        (("conv1", "map", None, [(0, 1, 1)]), "takes channels, not units"),
        (("conv1", "unit", [0], [(0, 1, 1)]), "takes units, not channels"),
    ],
)
def test_bad_selections_are_refused_clearly(args, message):
    with pytest.raises(ValueError, match=message):
        plan_selection(*args)
