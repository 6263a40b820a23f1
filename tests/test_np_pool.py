"""numpy_lenet.pool against torch: values, switches (ties and NaN included) and unpooling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_lenet.pool import max_pool2d, max_unpool2d

NAN = np.nan


def torch_pool(x, kernel, stride, padding):
    values, indices = F.max_pool2d(
        torch.from_numpy(x), kernel, stride, padding, return_indices=True
    )
    return values.numpy(), indices.numpy()


def assert_pool_matches_torch(x, kernel, stride=None, padding=0):
    values, indices = max_pool2d(x, kernel, stride, padding)
    expected_values, expected_indices = torch_pool(x, kernel, stride, padding)
    assert values.dtype == x.dtype
    assert indices.dtype == np.int64
    np.testing.assert_array_equal(indices, expected_indices)
    # The max is a copy of an input value: exactly equal, NaN included.
    assert values.shape == expected_values.shape
    assert np.array_equal(values, expected_values, equal_nan=True)
    return values, indices


# How a test fills the input: the ways that stress the switch rules.
FILLS = ("normal", "small_ints", "zeros", "nan_some", "nan_many", "inf")


@st.composite
def pool_cases(draw, fills=FILLS):
    """(x, kernel, stride, padding): LeNet's 2x2 stride-2 window, in its accepted spellings."""
    kernel = draw(st.sampled_from([2, (2, 2)]))
    stride = draw(st.sampled_from([None, 2, (2, 2)]))
    padding = draw(st.sampled_from([0, (0, 0)]))
    shape = (
        *([draw(st.integers(1, 3))] if draw(st.booleans()) else []),
        draw(st.integers(1, 3)),
        2 * draw(st.integers(1, 6)),
        2 * draw(st.integers(1, 6)),
    )
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    fill = draw(st.sampled_from(fills))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = make_input(rng, shape, fill).astype(dtype)
    return x, kernel, stride, padding


def make_input(rng: np.random.Generator, shape: tuple[int, ...], fill: str) -> np.ndarray:
    if fill == "normal":
        return rng.standard_normal(shape)
    if fill == "small_ints":  # many ties, including whole constant windows
        return rng.integers(0, 3, shape).astype(np.float64)
    if fill == "zeros":
        return np.zeros(shape)
    x = rng.integers(-2, 3, shape).astype(np.float64)
    if fill == "inf":  # -inf everywhere but a few values
        x[rng.random(shape) < 0.8] = -np.inf
        x[rng.random(shape) < 0.05] = np.inf
        return x
    x[rng.random(shape) < (0.1 if fill == "nan_some" else 0.6)] = NAN
    return x


@settings(max_examples=150, deadline=None)
@given(pool_cases())
def test_max_pool2d_equals_torch(case):
    assert_pool_matches_torch(*case)


@pytest.mark.parametrize(
    ("window", "switch"),
    [
        ([[NAN, 1], [NAN, 0]], 2),  # several NaNs: the last one
        ([[1, NAN], [NAN, 0]], 2),
        ([[NAN, NAN], [NAN, NAN]], 3),
        ([[NAN, 5], [0, 7]], 0),  # a NaN beats any number, before or after it
        ([[7, 5], [0, NAN]], 3),
        ([[np.inf, NAN], [0, 0]], 1),
        ([[0, 0], [0, 0]], 0),  # ties: the first position in row-major order
        ([[1, 2], [2, 1]], 1),
        ([[0, 5], [5, 0]], 1),
        ([[-np.inf, -np.inf], [-np.inf, -np.inf]], 0),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_switch_rules_of_the_spec(window, switch, dtype):
    x = np.array(window, dtype=dtype)[None, None]
    _, indices = assert_pool_matches_torch(x, 2)
    assert indices.item() == switch


def test_lenet_pool_shapes():
    rng = np.random.default_rng(3)
    x = np.maximum(rng.standard_normal((20, 6, 28, 28)), 0).astype(np.float32)
    x[:, :, :4] = 0  # all-zero windows, as ReLU makes them
    values, indices = assert_pool_matches_torch(x, 2, 2)
    assert values.shape == indices.shape == (20, 6, 14, 14)


@st.composite
def unpool_cases(draw):
    """Pooled values and switches from torch, and the arguments that made them."""
    x, kernel, stride, padding = draw(pool_cases(fills=("normal", "small_ints")))
    if x.ndim == 3:
        x = x[None]
    values, indices = torch_pool(x, kernel, stride, padding)
    return values, indices, kernel, stride, padding


def torch_unpool(values, indices, kernel, stride, padding):
    return F.max_unpool2d(
        torch.from_numpy(values),
        torch.from_numpy(np.broadcast_to(indices, values.shape).copy()),
        kernel,
        stride,
        padding,
    ).numpy()


@settings(max_examples=80, deadline=None)
@given(unpool_cases())
def test_max_unpool2d_equals_torch(case):
    out = max_unpool2d(*case)
    assert out.dtype == case[0].dtype
    np.testing.assert_array_equal(out, torch_unpool(*case))


@settings(max_examples=60, deadline=None)
@given(unpool_cases(), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_max_unpool2d_with_broadcast_switches(case, signals, seed):
    # The deconvnet's use: one image's switches, many signals to unpool.
    values, indices, kernel, stride, padding = case
    one = indices[:1]
    rng = np.random.default_rng(seed)
    batch = rng.standard_normal((signals, *values.shape[1:])).astype(values.dtype)
    for switches in (one, one[0]):
        out = max_unpool2d(batch, switches, kernel, stride, padding)
        expected = torch_unpool(batch, switches, kernel, stride, padding)
        assert out.dtype == batch.dtype
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("shape", [(5, 6), (7, 5, 6), (2, 3, 4, 6, 8)])
def test_max_unpool2d_any_leading_dims(shape):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((*shape[:-2], 2 * shape[-2], 2 * shape[-1]))
    values, indices = torch_pool(x.reshape(-1, 1, *x.shape[-2:]), 2, 2, 0)
    values, indices = values.reshape(shape), indices.reshape(shape)
    out = max_unpool2d(values, indices, 2)
    expected = F.max_unpool2d(
        torch.from_numpy(values.reshape(-1, 1, *shape[-2:])),
        torch.from_numpy(indices.reshape(-1, 1, *shape[-2:])),
        2,
    )
    np.testing.assert_array_equal(out, expected.numpy().reshape(x.shape))


@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64])
def test_max_unpool2d_with_arbitrary_switches(dtype):
    # Switches outside their own window (legal for torch, never made by pooling)
    # must take the general scatter, not the tiled fast path.
    rng = np.random.default_rng(5)
    values = rng.standard_normal((3, 4, 3, 5)).astype(np.float32)
    indices = np.stack([rng.permutation(6 * 10)[:15] for _ in range(12)]).reshape(3, 4, 3, 5)
    out = max_unpool2d(values, indices.astype(dtype), 2)
    expected = F.max_unpool2d(torch.from_numpy(values), torch.from_numpy(indices), 2)
    np.testing.assert_array_equal(out, expected.numpy())


X = np.zeros((2, 3, 6, 6))
SW = np.zeros((2, 3, 3, 3), dtype=np.int64)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: max_pool2d(X[0, 0], 2), ValueError, r"3-D .* or 4-D .* got shape \(6, 6\)"),
        (lambda: max_pool2d(X[None], 2), ValueError, "3-D"),
        (lambda: max_pool2d(X.astype(np.int64), 2), TypeError, "x has dtype int64"),
        (lambda: max_pool2d(list(X), 2), TypeError, "numpy.ndarray"),
        (lambda: max_pool2d(X, 3), ValueError, r"2x2 windows .* got kernel_size=3"),
        (lambda: max_pool2d(X, (2, 1)), ValueError, r"got kernel_size=\(2, 1\)"),
        (lambda: max_pool2d(X, 2, stride=1), ValueError, "got stride=1"),
        (lambda: max_pool2d(X, 2, padding=1), ValueError, "got padding=1"),
        (lambda: max_pool2d(X[..., :5], 2), ValueError, "even, positive height and width"),
        (lambda: max_unpool2d(X[..., :3, :3], SW.astype(float), 2), TypeError, "indices"),
        (lambda: max_unpool2d(X[..., :3, :3].astype(int), SW, 2), TypeError, "x has dtype"),
        (lambda: max_unpool2d(X[0, 0, 0], SW[0, 0, 0], 2), ValueError, "at least 2"),
        (lambda: max_unpool2d(X[..., :3, :3], SW[..., :2], 2), ValueError, "do not broadcast"),
        (lambda: max_unpool2d(X[..., :3, :3], SW + 36, 2), ValueError, r"\[0, 36\)"),
        (lambda: max_unpool2d(X[..., :3, :3], SW - 1, 2), ValueError, "indices must lie"),
        (lambda: max_unpool2d(X[..., :3, :3], SW, 2, stride=1), ValueError, "got stride=1"),
        (lambda: max_unpool2d(X[..., :3, :3], SW, 3), ValueError, "got kernel_size=3"),
    ],
)
def test_bad_arguments_are_refused_clearly(call, error, words):
    with pytest.raises(error, match=words):
        call()
