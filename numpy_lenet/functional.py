"""Elementwise and fully connected ops, equal to torch.nn.functional's."""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_bias, check_float_array, check_same_dtype

# Every product in ``linear`` runs as BLAS calls of one fixed shape: row blocks
# of exactly ``row_block(in, out)`` rows, the last block of each matrix padded
# with zero rows. A GEMM computes each output element from its own row and
# column, but which kernel (and summation order) a row gets depends on the call's
# shape and the row's place in it: OpenBLAS's Haswell kernel gives the 7th row
# of a 7-row product other last bits than the 7th row of a 3000-row one. With
# one call shape, a row's bits depend only on its values, the weight and its
# index modulo the block, never on how many rows share the call.
#
# Blocks stay under _ONE_THREAD multiply-adds because OpenBLAS splits a larger
# product over its threads: the split would make the bits depend on the thread
# count, and on a machine shared with other work a split product waits for a
# time slice. At most _MAX_ROW_BLOCK rows, so that padding a short matrix (one
# projection, say) costs little.
_ONE_THREAD = 2**19
_MAX_ROW_BLOCK = 16


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
    # A stack of matrices, each multiplied on its own in fixed row blocks (the
    # deconvnet relies on this: a projection is the same whatever else shares
    # its batch; forward's chunks give the same bits on any number of workers).
    if x.ndim == 1:
        stack = x.reshape(1, 1, -1)
    else:
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


def row_block(in_features: int, out_features: int) -> int:
    """Rows per BLAS call in ``linear`` for a weight of shape (out_features, in_features)."""
    per_row = max(in_features * out_features, 1)
    return max(1, min(_MAX_ROW_BLOCK, (_ONE_THREAD - 1) // per_row))


def _stacked_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (s, r, k) @ b (k, o), every matrix of the stack in zero-padded blocks of row_block rows."""
    s, r, k = a.shape
    o = b.shape[1]
    rows = row_block(k, o)
    out = np.empty((s, r, o), dtype=np.result_type(a, b))
    # matmul makes one BLAS call per matrix of a stack: here, per row block.
    whole = r - r % rows
    if whole:
        blocks = a[:, :whole].reshape(s, whole // rows, rows, k)
        np.matmul(blocks, b, out=out[:, :whole].reshape(s, whole // rows, rows, o))
    if whole < r:
        tail = np.zeros((s, rows, k), dtype=a.dtype)
        tail[:, : r - whole] = a[:, whole:]
        out[:, whole:] = np.matmul(tail, b)[:, : r - whole]
    return out
