"""Elementwise and fully connected ops, equal to torch.nn.functional's."""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_bias, check_float_array, check_same_dtype

# OpenBLAS splits a matrix product of more than about 2**20 multiply-adds over
# its threads. On a small machine shared with other work (2 cores here) a split
# product then waits for a time slice: measured 12-16 ms for any (24..256 x 120)
# @ (120 x 400) product (the deconvnet's fc1 step), which takes 0.03-0.25 ms on
# the calling thread, and the threads left spinning slowed the next ops 2x. Products
# of matrices up to _SMALL_PRODUCT multiply-adds (a few ms of work; LeNet's are
# all smaller) gain little from threads, so such matrices run as stacks of row
# blocks of at most _ONE_THREAD multiply-adds each, kept on the calling thread.
_ONE_THREAD = 2**19
_SMALL_PRODUCT = 2**26


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
    if x.ndim == 1:
        out = x @ weight.T
    else:
        # A stack of matrices, each multiplied on its own as by ``x @ weight.T``:
        # one matrix's result never depends on the others (the deconvnet relies
        # on this: a projection is the same whatever else shares its batch).
        stack = x.reshape(math.prod(x.shape[:-2]), *x.shape[-2:])
        out = _stacked_matmul(stack, weight.T).reshape(*x.shape[:-1], weight.shape[0])
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


def _stacked_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (s, r, k) @ b (k, o), small matrices of the stack in single-threaded row blocks."""
    s, r, k = a.shape
    o = b.shape[1]
    rows = _ONE_THREAD // max(k * o, 1)
    # Decided per matrix, never on the stack size: results do not depend on it.
    if rows < 1 or r <= rows or r * k * o > _SMALL_PRODUCT:
        return a @ b
    out = np.empty((s, r, o), dtype=np.result_type(a, b))
    # matmul makes one BLAS call per matrix of a stack: here, per row block.
    whole = r - r % rows
    blocks = a[:, :whole].reshape(s, whole // rows, rows, k)
    np.matmul(blocks, b, out=out[:, :whole].reshape(s, whole // rows, rows, o))
    if whole < r:
        np.matmul(a[:, whole:], b, out=out[:, whole:])
    return out
