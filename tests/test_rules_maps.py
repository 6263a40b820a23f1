"""rule_comparison: each layer's strongest activation by rule, ink share, switched-off share."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet_deconv.backends import make_engine
from lenet_deconv.rule_comparison import (
    RELU_BLOCKS,
    ink_share,
    project_strongest,
    strongest_units,
    switched_off_share,
)
from numpy_lenet.architecture import LAYER_NAMES

from .lenet_factories import random_images, random_params


def test_strongest_units_take_the_first_maximum_in_row_major_order():
    acts = np.zeros((2, 2, 3, 3))
    acts[0, 1, 2, 0] = acts[0, 1, 2, 2] = 5.0
    acts[1] = 1.0  # all tied: the very first unit
    assert strongest_units(acts) == [(1, 2, 0), (0, 0, 0)]
    assert strongest_units(np.array([[0.0, 3.0, 3.0]])) == [(1,)]


def test_ink_share_weighs_magnitudes_on_inked_pixels():
    image = np.zeros((1, 28, 28))
    image[0, :14] = 0.5  # ink on the top half
    projection = np.zeros((1, 28, 28))
    projection[0, 0, 0], projection[0, 27, 0] = -3.0, 1.0
    assert ink_share(projection, image)[0] == 0.75
    assert ink_share(np.zeros((1, 28, 28)), image)[0] == 0.0


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**20), layer=st.sampled_from(LAYER_NAMES))
def test_the_deconvnet_is_guided_backprop_exactly_when_no_signal_crosses_a_switched_off_unit(
    seed, layer
):
    engine = make_engine(random_params(seed), "numpy", np.float64)
    images = random_images(seed + 1, 1)
    trace = engine.trace(images)
    shares = switched_off_share(engine, trace, layer)
    assert set(shares) <= set(RELU_BLOCKS) and all(0 <= v <= 1 for v in shares.values())
    maps = project_strongest(engine, trace, layer)
    same = np.array_equal(maps["deconvnet"], maps["guided"])
    # Guided backprop is the deconvnet with the forward pass's masks: they differ only
    # where positive signal reaches a unit the forward pass switched off.
    assert same == all(v == 0 for v in shares.values()), shares
