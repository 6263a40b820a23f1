"""NumPy's forward pass and deconvnet give the same bits on one thread or several."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_lenet import deconv, forward
from numpy_lenet.functional import linear, row_block

from .lenet_factories import random_images, random_params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_project_do_not_depend_on_threads(dtype):
    params, images = random_params(11, dtype), random_images(11, 70, dtype)
    one = forward(params, images, batch_size=16, workers=1)
    many = forward(params, images, batch_size=16, workers=3)
    for name, values in one.activations.items():
        np.testing.assert_array_equal(many.activations[name], values, err_msg=name)
    for name, values in one.switches.items():
        np.testing.assert_array_equal(many.switches[name], values, err_msg=name)
    for layer in ("pool2", "fc1"):
        a = deconv.project(params, one, layer, "max", batch_size=64, workers=1)
        b = deconv.project(params, one, layer, "max", batch_size=64, workers=3)
        np.testing.assert_array_equal(b, a, err_msg=layer)


# (in, out) of every product LeNet's forward pass and deconvnet make.
LENET_PRODUCTS = [(400, 120), (120, 84), (84, 10), (120, 400), (84, 120), (10, 84)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("k", "o"), LENET_PRODUCTS)
def test_linear_rows_do_not_depend_on_how_many_rows_share_the_call(dtype, k, o):
    """Short and long matrices (the chunk tails of forward, one projection or 256) agree."""
    rng = np.random.default_rng(k * o)
    weight = rng.standard_normal((o, k)).astype(dtype)
    stack = rng.standard_normal((3000, k)).astype(dtype)
    whole = linear(stack, weight)
    block = row_block(k, o)
    for start, stop in [(0, 1), (0, 7), (0, 17), (block * 123, block * 123 + 66), (0, 2999)]:
        np.testing.assert_array_equal(
            linear(stack[start:stop], weight), whole[start:stop], err_msg=f"rows {start}:{stop}"
        )
    # A single vector is a block's first row.
    np.testing.assert_array_equal(linear(stack[block * 7], weight), whole[block * 7])


@settings(max_examples=30, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    product=st.sampled_from(LENET_PRODUCTS),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 40)),
    pick=st.data(),
)
def test_linear_row_depends_only_on_itself_and_its_place_in_the_block(dtype, product, shape, pick):
    """Any matrix of a stack, cut at a block boundary, gives the bits the whole stack gave."""
    k, o = product
    rng = np.random.default_rng(shape)
    weight = rng.standard_normal((o, k)).astype(dtype)
    stack = rng.standard_normal((*shape, k)).astype(dtype)
    whole = linear(stack, weight)
    matrix = pick.draw(st.integers(0, shape[0] - 1))
    block = row_block(k, o)
    start = block * pick.draw(st.integers(0, (shape[1] - 1) // block))
    stop = pick.draw(st.integers(start + 1, shape[1]))
    np.testing.assert_array_equal(linear(stack[matrix], weight), whole[matrix])
    np.testing.assert_array_equal(
        linear(stack[matrix, start:stop], weight), whole[matrix, start:stop]
    )
    # Other rows' values never matter: change them all and the row stays the same.
    other = rng.standard_normal(stack.shape).astype(dtype)
    other[matrix, start] = stack[matrix, start]
    np.testing.assert_array_equal(linear(other, weight)[matrix, start], whole[matrix, start])


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be at least 1"):
        forward(random_params(1), random_images(1, 2), workers=0)
