"""Selections keep exactly the chosen activations, ties going to the first (docs/deconvnet.md)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_lenet import reference
from numpy_lenet.architecture import LAYER_NAMES, LAYER_SHAPES
from numpy_lenet.selection import (
    keeps_one_unit,
    live_selections,
    plan_selection,
    select,
    selected_units,
    selections_differ,
)
from torch_lenet.selection import live_selections as torch_live_selections
from torch_lenet.selection import select as torch_select
from torch_lenet.selection import selected_units as torch_selected_units


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


def _draw_plan(data, layer, mode):
    shape = LAYER_SHAPES[layer]
    if mode == "unit":
        units = data.draw(
            st.lists(st.tuples(*(st.integers(0, k - 1) for k in shape)), min_size=1, max_size=4)
        )
        return plan_selection(layer, mode, None, units)
    channels = data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=4))
    return plan_selection(layer, mode, channels)


def _tie_heavy(data, shape):
    """(2, *shape) small integers: ties and zeros everywhere, some layers with no positive value."""
    seed = data.draw(st.integers(0, 2**32 - 1))
    high = data.draw(st.sampled_from([1, 3]))  # 1: every value -1 or 0 (max 0, kept nothing)
    return np.random.default_rng(seed).integers(-1, high, size=(2, *shape)).astype(np.float64)


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(), layer=st.sampled_from(LAYER_NAMES), mode=st.sampled_from(["map", "max", "unit"])
)
def test_compact_selections_read_what_select_spells_out(data, layer, mode):
    """live_selections and selected_units give what select's (N, S, *shape) copies hold."""
    acts = _tie_heavy(data, LAYER_SHAPES[layer])
    plan = _draw_plan(data, layer, mode)
    kept = select(acts, plan).reshape(2, len(plan), -1)
    live = live_selections(acts, plan)
    np.testing.assert_array_equal(live, np.any(kept != 0, axis=2))
    np.testing.assert_array_equal(live, torch_live_selections(torch.from_numpy(acts), plan).numpy())
    if not keeps_one_unit(plan):
        with pytest.raises(ValueError, match="keeps a whole channel"):
            selected_units(acts, plan)
        return
    where, value = selected_units(acts, plan)
    expected = np.zeros_like(kept)
    np.put_along_axis(expected, where[..., None], value[..., None], axis=2)
    np.testing.assert_array_equal(expected, kept)
    t_where, t_value = torch_selected_units(torch.from_numpy(acts), plan)
    np.testing.assert_array_equal(t_where.numpy(), where)
    np.testing.assert_array_equal(t_value.numpy(), value)


@settings(max_examples=80, deadline=None)
@given(
    data=st.data(), layer=st.sampled_from(LAYER_NAMES), mode=st.sampled_from(["map", "max", "unit"])
)
def test_selections_differ_compares_the_kept_entries(data, layer, mode):
    """selections_differ says where select(a) and select(b) keep different non-zero entries."""
    a = _tie_heavy(data, LAYER_SHAPES[layer])
    # b: a with each entry redrawn at a rate of its own per image, from none to a third.
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    rate = np.array(data.draw(st.lists(st.sampled_from([0, 0.01, 0.3]), min_size=2, max_size=2)))
    redrawn = rng.random(a.shape) < rate.reshape(2, *[1] * (a.ndim - 1))
    b = np.where(redrawn, rng.integers(-1, int(a.max()) + 1, size=a.shape), a)
    plan = _draw_plan(data, layer, mode)
    kept_a = select(a, plan).reshape(2, len(plan), -1) != 0
    kept_b = select(b, plan).reshape(2, len(plan), -1) != 0
    np.testing.assert_array_equal(selections_differ(plan, a, b), np.any(kept_a != kept_b, axis=2))


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
