"""Whole maps on NumPy's fast path: any layer and channels, any grouping of images."""

from __future__ import annotations

from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_lenet import deconv as np_deconv
from numpy_lenet import fast_deconv as np_fast
from numpy_lenet.model import forward
from numpy_lenet.reference import conv_transpose2d
from numpy_lenet.rules import RULES
from numpy_lenet.selection import plan_selection

from .lenet_factories import random_images, random_params
from .test_fast_deconv import assert_same_projections


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 7),
    layer=st.sampled_from(["conv1", "pool1", "conv2", "pool2"]),
    channels=st.lists(st.integers(0, 15), min_size=1, max_size=5, unique=True),
    group_rows=st.integers(1, 20),
    rule=st.sampled_from(RULES),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_maps_in_any_grouping_equal_the_reference(
    seed, n, layer, channels, group_rows, rule, dtype
):
    """Groups of one image up to all of them, channels in any order: the reference's answer."""
    params = random_params(seed, dtype)
    images = random_images(seed + 1, n, dtype)
    images[seed % n] = 0.0  # an image whose maps may all be dead: no rows of its own
    trace = forward(params, images)
    count = trace.activations[layer].shape[1]
    channels = list(dict.fromkeys(c % count for c in channels))  # conv1/pool1: 6 channels
    plan = plan_selection(layer, "map", channels)
    reference = np_deconv.project_live(params, trace, plan, rule=rule)
    with mock.patch.object(np_fast, "_MAP_ROWS", group_rows):
        fast = np_fast.project_live(params, trace, plan, rule=rule)
    assert_same_projections(fast, reference, dtype)


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    k=st.integers(1, 3),
    s=st.integers(1, 4),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_own_filters_transposed_is_each_maps_own_transposed_convolution(seed, k, s, dtype):
    """Selection j of image i: conv_transpose2d of map (i, j) by filter j alone."""
    rng = np.random.default_rng(seed)
    maps = rng.standard_normal((k, s, 10, 10)).astype(dtype)
    weight = rng.standard_normal((s, 6, 5, 5)).astype(dtype)
    expected = np.stack(
        [
            np.stack(
                [conv_transpose2d(maps[i, j][None, None], weight[j][None])[0] for j in range(s)], -1
            )
            for i in range(k)
        ]
    )
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    got = np_fast._own_filters_transposed(maps, weight)
    assert got.shape == expected.shape == (k, 6, 14, 14, s)
    assert got.dtype == dtype
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance * scale)
