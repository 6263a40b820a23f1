"""numpy_lenet.conv against torch.nn.functional, on random geometry and both float dtypes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from numpy_lenet import conv
from numpy_lenet.conv import conv2d, conv_transpose2d

from .conftest import assert_matches


def torch_args(*arrays):
    return [None if a is None else torch.from_numpy(a) for a in arrays]


@st.composite
def conv_cases(draw):
    """Arguments of a stride-1 conv2d whose kernel fits the padded input."""
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = draw(st.integers(0, 3))
    n, c_in, c_out = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    h = draw(st.integers(max(1, kh - 2 * padding), 12))
    w = draw(st.integers(max(1, kw - 2 * padding), 12))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
    weight = rng.standard_normal((c_out, c_in, kh, kw)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype) if draw(st.booleans()) else None
    return x, weight, bias, padding


@st.composite
def conv_transpose_cases(draw):
    """Arguments of a stride-1 conv_transpose2d with a positive output size."""
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = draw(st.integers(0, 2))
    n, c_in, c_out = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 5))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    assume(h - 1 - 2 * padding + kh >= 1 and w - 1 - 2 * padding + kw >= 1)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c_in, h, w)).astype(dtype)
    weight = rng.standard_normal((c_in, c_out, kh, kw)).astype(dtype)
    bias = rng.standard_normal(c_out).astype(dtype) if draw(st.booleans()) else None
    return x, weight, bias, padding


@settings(max_examples=80, deadline=None)
@given(conv_cases())
def test_conv2d_equals_torch(case):
    x, weight, bias, padding = case
    expected = F.conv2d(*torch_args(x, weight, bias), padding=padding).numpy()
    assert_matches(conv2d(x, weight, bias, padding=padding), expected)


@settings(max_examples=80, deadline=None)
@given(conv_transpose_cases())
def test_conv_transpose2d_equals_torch(case):
    x, weight, bias, padding = case
    expected = F.conv_transpose2d(*torch_args(x, weight, bias), padding=padding).numpy()
    assert_matches(conv_transpose2d(x, weight, bias, padding=padding), expected)


@settings(max_examples=40, deadline=None)
@given(conv_cases(), st.integers(0, 2**32 - 1))
def test_conv_transpose2d_is_the_adjoint_of_conv2d(case, seed):
    x, weight, _, padding = case
    x, weight = x.astype(np.float64), weight.astype(np.float64)
    y = np.random.default_rng(seed).standard_normal(conv2d(x, weight, padding=padding).shape)
    back = conv_transpose2d(y, weight, padding=padding)
    left = np.vdot(conv2d(x, weight, padding=padding), y)
    right = np.vdot(x, back)
    assert abs(left - right) <= 1e-12 * np.linalg.norm(x) * np.linalg.norm(y) * np.abs(weight).sum()


@pytest.mark.parametrize("block_bytes", [1, 3 * 4 * 6 * 25 * 64])
def test_blocked_batches_give_the_same_result(monkeypatch, block_bytes):
    # Small blocks force several blocks and a partial last one (11 images).
    monkeypatch.setattr(conv, "BLOCK_BYTES", block_bytes)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((11, 3, 8, 8)).astype(np.float32)
    weight = rng.standard_normal((6, 3, 5, 5)).astype(np.float32)
    bias = rng.standard_normal(6).astype(np.float32)
    tx, tw, tb = torch_args(x, weight, bias)
    assert_matches(conv2d(x, weight, bias, 2), F.conv2d(tx, tw, tb, padding=2).numpy())
    y = rng.standard_normal((11, 6, 8, 8)).astype(np.float32)
    bias = bias[:3]
    # The conv's weight (6, 3, 5, 5) maps 6 channels back to 3 when transposed.
    expected = F.conv_transpose2d(*torch_args(y, weight, bias), padding=2).numpy()
    assert_matches(conv_transpose2d(y, weight, bias, 2), expected)


def test_lenet_shapes_in_float32():
    rng = np.random.default_rng(1)
    x = rng.random((50, 1, 28, 28), dtype=np.float32)
    w1 = rng.standard_normal((6, 1, 5, 5), dtype=np.float32)
    b1 = rng.standard_normal(6, dtype=np.float32)
    w2 = rng.standard_normal((16, 6, 5, 5), dtype=np.float32)
    c1 = conv2d(x, w1, b1, padding=2)
    assert_matches(c1, F.conv2d(*torch_args(x, w1, b1), padding=2).numpy())
    p1 = c1[:, :, ::2, ::2].copy()
    c2 = conv2d(p1, w2)
    assert_matches(c2, F.conv2d(*torch_args(p1, w2)).numpy())
    assert_matches(conv_transpose2d(c2, w2), F.conv_transpose2d(*torch_args(c2, w2)).numpy())
    assert_matches(
        conv_transpose2d(c1, w1, padding=2),
        F.conv_transpose2d(*torch_args(c1, w1), padding=2).numpy(),
    )


def test_non_contiguous_inputs_are_accepted():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 9, 9)).transpose(0, 1, 3, 2)
    weight = rng.standard_normal((3, 5, 3, 3))[:, :, ::-1]
    expected = F.conv2d(
        torch.from_numpy(x.copy()), torch.from_numpy(weight.copy().transpose(1, 0, 2, 3))
    )
    assert_matches(conv2d(x, weight.transpose(1, 0, 2, 3)), expected.numpy())
    expected = F.conv_transpose2d(torch.from_numpy(x.copy()), torch.from_numpy(weight.copy()))
    assert_matches(conv_transpose2d(x, weight), expected.numpy())


X = np.zeros((2, 3, 6, 6))
W = np.zeros((4, 3, 3, 3))
WT = np.zeros((3, 4, 3, 3))


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: conv2d(X[0], W), ValueError, r"x must be 4-D, got shape \(3, 6, 6\)"),
        (lambda: conv2d(X, W[0]), ValueError, "weight must be 4-D"),
        (lambda: conv2d(X.astype(np.int32), W), TypeError, "x has dtype int32"),
        (lambda: conv2d(X, W.astype(np.float32)), TypeError, "weight has dtype float32"),
        (lambda: conv2d(X.tolist(), W), TypeError, "numpy.ndarray"),
        (lambda: conv2d(X, np.zeros((4, 2, 3, 3))), ValueError, r"\(4, 2, 3, 3\).*\(2, 3, 6, 6\)"),
        (lambda: conv2d(X, np.zeros((4, 3, 7, 3))), ValueError, "bigger than the padded input"),
        (lambda: conv2d(X, W, padding=(1, 2)), ValueError, r"non-negative int, got \(1, 2\)"),
        (lambda: conv2d(X, np.zeros((4, 3, 0, 3))), ValueError, "kernel of positive size"),
        (lambda: conv2d(X, W, padding=-1), ValueError, "padding, a non-negative int, got -1"),
        (lambda: conv2d(X, W, np.zeros(3)), ValueError, r"bias has shape \(3,\)"),
        (lambda: conv2d(X, W, np.zeros(4, np.float32)), TypeError, "bias has dtype"),
        (lambda: conv_transpose2d(X, W), ValueError, r"\(4, 3, 3, 3\).*\(2, 3, 6, 6\)"),
        (lambda: conv_transpose2d(X[0], WT), ValueError, "x must be 4-D"),
        (lambda: conv_transpose2d(X.astype(bool), WT), TypeError, "x has dtype bool"),
        (lambda: conv_transpose2d(X, WT, padding=-1), ValueError, "a non-negative int, got -1"),
        (lambda: conv_transpose2d(X[:, :, :1, :1], WT, padding=2), ValueError, "not positive"),
        (lambda: conv_transpose2d(X, WT, np.zeros(3)), ValueError, r"bias has shape \(3,\)"),
    ],
)
def test_bad_arguments_are_refused_clearly(call, error, words):
    with pytest.raises(error, match=words):
        call()
