"""numpy_lenet.im2col against torch's unfold/fold, adjointness, and argument checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from numpy_lenet.im2col import col2im, conv_output_size, conv_transpose_output_size, im2col

from .conftest import assert_matches, pair_arg


@st.composite
def unfold_cases(draw):
    """(x, kernel, stride, padding) with the kernel fitting the padded input."""
    kernel, (kh, kw) = pair_arg(draw, 1, 4)
    stride, _ = pair_arg(draw, 1, 3)
    padding, (ph, pw) = pair_arg(draw, 0, 2)
    n, c = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    return x, kernel, stride, padding, rng


@settings(max_examples=60, deadline=None)
@given(unfold_cases())
def test_im2col_equals_torch_unfold(case):
    x, kernel, stride, padding, _ = case
    cols = im2col(x, kernel, stride, padding)
    expected = F.unfold(torch.from_numpy(x), kernel, stride=stride, padding=padding).numpy()
    # A pure copy: no arithmetic, so exactly equal.
    assert cols.dtype == x.dtype
    np.testing.assert_array_equal(cols, expected)


@settings(max_examples=60, deadline=None)
@given(unfold_cases())
def test_col2im_equals_torch_fold(case):
    x, kernel, stride, padding, rng = case
    cols_shape = im2col(x, kernel, stride, padding).shape
    cols = rng.standard_normal(cols_shape).astype(x.dtype)
    folded = col2im(cols, x.shape, kernel, stride, padding)
    expected = F.fold(
        torch.from_numpy(cols), x.shape[2:], kernel, stride=stride, padding=padding
    ).numpy()
    assert_matches(folded, expected)


@settings(max_examples=60, deadline=None)
@given(unfold_cases())
def test_col2im_is_the_adjoint_of_im2col(case):
    x, kernel, stride, padding, rng = case
    x = x.astype(np.float64)
    cols = rng.standard_normal(im2col(x, kernel, stride, padding).shape)
    left = np.vdot(im2col(x, kernel, stride, padding), cols)
    right = np.vdot(x, col2im(cols, x.shape, kernel, stride, padding))
    assert abs(left - right) <= 1e-12 * (np.linalg.norm(x) * np.linalg.norm(cols))


def test_im2col_layout_is_channel_then_kernel_offset_rows():
    x = np.arange(2 * 3 * 4, dtype=np.float64).reshape(1, 2, 3, 4)
    cols = im2col(x, (2, 3))
    # Row c*kh*kw + dy*kw + dx, column oy*Wo + ox holds x[0, c, oy + dy, ox + dx].
    assert cols.shape == (1, 2 * 2 * 3, 2 * 2)
    assert cols[0, 1 * 6 + 1 * 3 + 2, 1 * 2 + 1] == x[0, 1, 2, 3]
    assert cols[0, 0, 0] == x[0, 0, 0, 0]


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"),
    [(28, 5, 1, 2), (14, 5, 1, 0), (28, 2, 2, 0), (9, 3, 2, 1), (7, 4, 3, 0)],
)
def test_output_size_helpers_match_torch(size, kernel, stride, padding):
    x = torch.zeros(1, 1, size, size)
    w = torch.zeros(1, 1, kernel, kernel)
    out = F.conv2d(x, w, stride=stride, padding=padding)
    assert conv_output_size(size, kernel, stride, padding) == out.shape[-1]
    back = F.conv_transpose2d(out, w, stride=stride, padding=padding)
    assert conv_transpose_output_size(out.shape[-1], kernel, stride, padding) == back.shape[-1]


X = np.zeros((2, 3, 6, 6))


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: im2col(X[0], 3), ValueError, "4-D"),
        (lambda: im2col(X.astype(np.int64), 3), TypeError, "int64"),
        (lambda: im2col(X.tolist(), 3), TypeError, "numpy.ndarray"),
        (lambda: im2col(X, 7), ValueError, "bigger than the padded input"),
        (lambda: im2col(X, (3, 9), padding=1), ValueError, "bigger than the padded input"),
        (lambda: im2col(X, 3, stride=0), ValueError, "stride"),
        (lambda: im2col(X, 3, stride=(1, -2)), ValueError, "stride"),
        (lambda: im2col(X, 3, padding=-1), ValueError, "padding"),
        (lambda: im2col(X, 0), ValueError, "kernel_size"),
        (lambda: im2col(X, 2.5), TypeError, "kernel_size"),
        (lambda: im2col(X, (2, 2, 2)), TypeError, "kernel_size"),
        (lambda: col2im(np.zeros((2, 27, 16)), (2, 3, 6, 6), 2), ValueError, "cols has shape"),
        (lambda: col2im(np.zeros((2, 27, 16)), (3, 6, 6), 3), ValueError, "input_shape"),
        (lambda: col2im(np.zeros((2, 27, 16), np.float16), X.shape, 3), TypeError, "float16"),
    ],
)
def test_bad_arguments_are_refused_clearly(call, error, words):
    with pytest.raises(error, match=words):
        call()
