"""2-D convolution and transposed convolution, equal to torch.nn.functional's.

conv2d is the weights times the im2col columns of the input, one matrix product
per image; conv_transpose2d, its adjoint, is the transposed weights times the
input, scattered back with col2im. The loop-level maths of both is in
numpy_lenet/reference.py; the blocked kernels are in _fast_conv.py.
"""

from __future__ import annotations

import numpy as np

from . import _fast_conv
from ._checks import check_bias, check_float_array, check_same_dtype, nonnegative_pair
from .im2col import Pair, conv_geometry, conv_transpose_output_size


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
) -> np.ndarray:
    """Cross-correlate x (N, Cin, H, W) with weight (Cout, Cin, kh, kw), like F.conv2d."""
    check_float_array(x, "x", ndim=4)
    check_float_array(weight, "weight", ndim=4)
    check_same_dtype(x, "x", weight, "weight")
    n, c_in, h, w = x.shape
    c_out = weight.shape[0]
    if weight.shape[1] != c_in:
        raise ValueError(
            f"weight has shape {weight.shape}: expected {c_in} input channels "
            f"(dim 1) to match x of shape {x.shape}"
        )
    bias = check_bias(bias, x, c_out)
    _, stride_hw, pad, (ho, wo) = conv_geometry((h, w), weight.shape[2:], stride, padding)
    out = np.empty((n, c_out, ho, wo), dtype=x.dtype)
    if n:
        # weight.reshape(Cout, Cin*kh*kw) @ im2col(x)[image], for blocks of images.
        _fast_conv.conv2d_blocked(x, weight, bias, stride_hw, pad, out)
    return out


def conv_transpose2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
    output_padding: int | Pair = 0,
) -> np.ndarray:
    """Transposed conv of x (N, Cin, H, W) by weight (Cin, Cout, kh, kw): F.conv_transpose2d."""
    check_float_array(x, "x", ndim=4)
    check_float_array(weight, "weight", ndim=4)
    check_same_dtype(x, "x", weight, "weight")
    n, c_in, h, w = x.shape
    if weight.shape[0] != c_in:
        raise ValueError(
            f"weight has shape {weight.shape}: expected {c_in} input channels "
            f"(dim 0) to match x of shape {x.shape}"
        )
    c_out, kh, kw = weight.shape[1:]
    bias = check_bias(bias, x, c_out)
    # conv_geometry validates kernel/stride/padding; the transposed op has no
    # "kernel fits the input" constraint, so it gets an input it always fits.
    kernel, stride_hw, pad, _ = conv_geometry((kh, kw), (kh, kw), stride, padding, "weight")
    out_pad = nonnegative_pair(output_padding, "output_padding")
    if out_pad[0] >= stride_hw[0] or out_pad[1] >= stride_hw[1]:
        raise ValueError(f"output_padding {out_pad} must be smaller than stride {stride_hw}")
    ho = conv_transpose_output_size(h, kh, stride_hw[0], pad[0], out_pad[0])
    wo = conv_transpose_output_size(w, kw, stride_hw[1], pad[1], out_pad[1])
    if ho < 1 or wo < 1:
        raise ValueError(
            f"output size ({ho}, {wo}) is not positive for x of shape {x.shape}, "
            f"kernel_size {kernel}, stride {stride_hw}, padding {pad}, "
            f"output_padding {out_pad}"
        )
    out = np.empty((n, c_out, ho, wo), dtype=x.dtype)
    if n == 0:
        return out
    if stride_hw != (1, 1):
        # The strided op is the stride-1 one of x with stride - 1 zeros between its
        # values, and output_padding zero rows and columns after them.
        (sh, sw), (oh, ow) = stride_hw, out_pad
        spread = np.zeros((n, c_in, (h - 1) * sh + 1 + oh, (w - 1) * sw + 1 + ow), x.dtype)
        spread[:, :, : (h - 1) * sh + 1 : sh, : (w - 1) * sw + 1 : sw] = x
        x = spread
    _fast_conv.conv_transpose2d_unit_stride(x, weight, bias, pad, out)
    return out
