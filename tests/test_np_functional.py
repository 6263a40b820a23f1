"""numpy_lenet.functional (relu, linear, log_softmax) against torch.nn.functional."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_lenet.functional import linear, log_softmax, relu

from .conftest import assert_matches

DTYPES = st.sampled_from([np.float32, np.float64])
SHAPES = st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple)


@settings(max_examples=40, deadline=None)
@given(SHAPES, DTYPES, st.integers(0, 2**32 - 1))
def test_relu_equals_torch_including_nan_and_inf(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    x[rng.random(shape) < 0.2] = np.nan
    x[rng.random(shape) < 0.1] = np.inf
    x[rng.random(shape) < 0.1] = -np.inf
    x = x.astype(dtype)
    out = relu(x)
    assert out.dtype == x.dtype
    assert np.array_equal(out, F.relu(torch.from_numpy(x)).numpy(), equal_nan=True)


def test_relu_in_place():
    x = np.array([-1.0, 0.0, 2.0, np.nan], dtype=np.float32)
    out = relu(x, out=x)
    assert out is x
    assert np.array_equal(x, [0.0, 0.0, 2.0, np.nan], equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(SHAPES, st.integers(1, 6), DTYPES, st.booleans(), st.integers(0, 2**32 - 1))
def test_linear_equals_torch(shape, out_features, dtype, with_bias, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    weight = rng.standard_normal((out_features, shape[-1])).astype(dtype)
    bias = rng.standard_normal(out_features).astype(dtype) if with_bias else None
    expected = F.linear(
        torch.from_numpy(x),
        torch.from_numpy(weight),
        None if bias is None else torch.from_numpy(bias),
    ).numpy()
    assert_matches(linear(x, weight, bias), expected)


@settings(max_examples=40, deadline=None)
@given(SHAPES, DTYPES, st.data(), st.sampled_from([1.0, 100.0, 1e4]), st.integers(0, 2**32 - 1))
def test_log_softmax_equals_torch(shape, dtype, data, scale, seed):
    # Large scales would overflow a naive exp(x): the max shift must prevent it.
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)
    out = log_softmax(x, axis=axis)
    assert np.all(np.isfinite(out))
    assert_matches(out, F.log_softmax(torch.from_numpy(x), dim=axis).numpy())
    np.testing.assert_allclose(np.exp(out.astype(np.float64)).sum(axis=axis), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: relu([1.0, -1.0]), TypeError, "numpy.ndarray"),
        (lambda: relu(np.arange(3)), TypeError, "x has dtype int64"),
        (lambda: relu(np.zeros(3), out=np.zeros(4)), ValueError, r"out has shape \(4,\)"),
        (lambda: relu(np.zeros(3), out=np.zeros(3, np.float32)), TypeError, "out has dtype"),
        (lambda: linear(np.zeros((2, 3)), np.zeros((4, 5))), ValueError, r"\(4, 5\).*\(2, 3\)"),
        (lambda: linear(np.zeros((2, 3)), np.zeros(3)), ValueError, "weight must be 2-D"),
        (lambda: linear(np.zeros(()), np.zeros((1, 1))), ValueError, "at least 1"),
        (lambda: linear(np.zeros((2, 3), np.float32), np.zeros((4, 3))), TypeError, "dtype"),
        (lambda: linear(np.zeros((2, 3)), np.zeros((4, 3)), np.zeros(3)), ValueError, "bias"),
        (lambda: log_softmax(np.zeros((2, 3)), axis=2), ValueError, "axis 2"),
        (lambda: log_softmax(np.zeros((2, 3), np.int8)), TypeError, "int8"),
    ],
)
def test_bad_arguments_are_refused_clearly(call, error, words):
    with pytest.raises(error, match=words):
        call()
