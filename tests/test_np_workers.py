"""NumPy's forward pass and deconvnet give the same bits on one thread or several."""

from __future__ import annotations

import numpy as np
import pytest

from numpy_lenet import deconv, forward
from numpy_lenet.functional import linear

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


def test_linear_rows_do_not_depend_on_the_rest_of_the_stack():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((400, 120))
    stack = rng.standard_normal((3000, 120))
    whole = linear(stack, weight)
    np.testing.assert_array_equal(linear(stack[:7], weight), whole[:7])
    np.testing.assert_array_equal(linear(stack[1234:1300], weight), whole[1234:1300])


def test_workers_must_be_positive():
    with pytest.raises(ValueError, match="workers must be at least 1"):
        forward(random_params(1), random_images(1, 2), workers=0)
