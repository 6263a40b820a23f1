"""Elementwise and fully connected ops, equal to torch.nn.functional's."""

from __future__ import annotations

import numpy as np

from ._checks import check_bias, check_float_array, check_same_dtype


def relu(x: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
    """max(x, 0) elementwise (NaN stays NaN, as in torch); ``out`` may be x for in place."""
    check_float_array(x, "x")
    if out is not None:
        check_float_array(out, "out")
        check_same_dtype(x, "x", out, "out")
        if out.shape != x.shape:
            raise ValueError(f"out has shape {out.shape}, expected x's shape {x.shape}")
    # np.maximum propagates NaN, which is what torch.relu does.
    return np.maximum(x, x.dtype.type(0), out=out)


def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """x (..., in) @ weight.T (weight (out, in)) + bias, like F.linear."""
    check_float_array(x, "x", min_ndim=1)
    check_float_array(weight, "weight", ndim=2)
    check_same_dtype(x, "x", weight, "weight")
    if weight.shape[1] != x.shape[-1]:
        raise ValueError(
            f"weight has shape {weight.shape}: expected {x.shape[-1]} input features "
            f"(dim 1) to match x of shape {x.shape}"
        )
    bias = check_bias(bias, x, weight.shape[0])
    out = x @ weight.T
    if bias is not None:
        out += bias
    return out


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(softmax(x)) along ``axis``, computed stably, like F.log_softmax."""
    check_float_array(x, "x", min_ndim=1)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for x of shape {x.shape}")
    if x.shape[axis] == 0:
        return x.copy()
    # Shifting by the max keeps exp() from overflowing; the result is unchanged.
    shifted = x - np.max(x, axis=axis, keepdims=True)
    shifted -= np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
    return shifted
