"""Whole conv2/pool2 maps on the fast path: any channels, any grouping of images, both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lenet_deconv.backends import torch_model, trace_to_torch
from numpy_lenet import deconv as np_deconv
from numpy_lenet import fast_deconv as np_fast
from numpy_lenet.model import forward
from numpy_lenet.reference import conv_transpose2d
from numpy_lenet.rules import RULES
from numpy_lenet.selection import plan_selection
from torch_lenet import deconv as torch_deconv
from torch_lenet import fast_deconv as torch_fast

from .lenet_factories import random_images, random_params
from .test_fast_deconv import assert_same_projections


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 7),
    layer=st.sampled_from(["conv2", "pool2"]),
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
    plan = plan_selection(layer, "map", channels)
    reference = np_deconv.project_live(params, trace, plan, rule=rule)
    model, tensors = torch_model(params, dtype), trace_to_torch(trace)
    with (
        mock.patch.object(np_fast, "_MAP_ROWS", group_rows),
        mock.patch.object(torch_fast, "_MAP_ROWS", group_rows),
    ):
        assert_same_projections(
            np_fast.project_live(params, trace, plan, rule=rule), reference, dtype
        )
        with torch.inference_mode():
            theirs = torch_deconv.project_live(model, tensors, plan, rule=rule)
            fast = torch_fast.project_live(model, tensors, plan, rule=rule)
    assert_same_projections(fast, theirs, dtype)


@settings(max_examples=10, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    k=st.integers(1, 3),
    s=st.integers(1, 4),
    dtype=st.sampled_from([np.float64, np.float32]),
)
def test_own_filters_transposed_is_each_maps_own_transposed_convolution(seed, k, s, dtype):
    """Selection j of image i: conv_transpose2d of map (i, j) by filter j alone, both backends."""
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
    for got in (
        np_fast._own_filters_transposed(maps, weight),
        torch_fast._own_filters_transposed(
            torch.from_numpy(maps), torch.from_numpy(weight)
        ).numpy(),
    ):
        assert got.shape == expected.shape == (k, 6, 14, 14, s)
        assert got.dtype == dtype
        scale = np.abs(expected).max()
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance * scale)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), k=st.integers(1, 3), c=st.integers(1, 4))
def test_unpool_is_max_unpool2d(seed, k, c):
    """The torch fast path's scatter puts each pooled value at its switch, as F.max_unpool2d."""
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((k, c, 10, 10)))
    x[x < 0] = 0.0  # ties (exact zeros) as in post-ReLU maps
    values, switches = torch.nn.functional.max_pool2d(x, 2, 2, return_indices=True)
    expected = torch.nn.functional.max_unpool2d(values, switches, 2, 2, output_size=(10, 10))
    got = torch_fast._unpool(values, switches, (10, 10))
    assert torch.equal(got, expected)


def test_the_fast_path_never_imports_sympy():
    """F.max_unpool2d imports sympy on its first call (a third of a second); no fast job does."""
    script = """
import sys
import numpy as np
import torch
from lenet_deconv.backends import torch_model, trace_to_torch
from lenet_deconv.crosscheck.jobs import jobs_for, plan_for
from numpy_lenet.model import forward
from tests.lenet_factories import random_images, random_params
from torch_lenet import fast_deconv
params = random_params(3)
trace = forward(params, random_images(4, 2))
before = "sympy" in sys.modules
with torch.inference_mode():
    model, tensors = torch_model(params, np.float64), trace_to_torch(trace)
    for job in jobs_for():
        fast_deconv.project_live(model, tensors, plan_for(job))
print(before, "sympy" in sys.modules)
"""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=root,
        env=env,
    )
    before, after = done.stdout.split()
    assert after == before
