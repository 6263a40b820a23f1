"""im2col and its adjoint col2im: convolution as one matrix product.

Column layout (the same as ``torch.nn.functional.unfold``): ``im2col`` of
x (N, C, H, W) is (N, C*kh*kw, Ho*Wo); row ``c*kh*kw + dy*kw + dx`` holds
input channel c at kernel offset (dy, dx), column ``oy*Wo + ox`` is output
position (oy, ox). The rows are ordered like ``weight.reshape(Cout, Cin*kh*kw)``,
so ``weight2d @ cols`` is directly (N, Cout, Ho*Wo), i.e. NCHW, with no
transpose of the output; and it is filled by one strided copy.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import check_float_array, nonnegative_pair, positive_pair

Pair = tuple[int, int]


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Length along one axis of a convolution's or pooling's output (floor mode)."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_transpose_output_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0
) -> int:
    """Length along one axis of a transposed convolution's output."""
    return (size - 1) * stride - 2 * padding + kernel + output_padding


def conv_geometry(
    input_hw: tuple[int, int],
    kernel_size: int | Pair,
    stride: int | Pair,
    padding: int | Pair,
    name: str = "x",
) -> tuple[Pair, Pair, Pair, Pair]:
    """Validated (kernel, stride, padding, output (Ho, Wo)) of a sliding window over input_hw.

    Raises ValueError if the kernel does not fit the padded input.
    """
    kernel = positive_pair(kernel_size, "kernel_size")
    stride_hw = positive_pair(stride, "stride")
    pad = nonnegative_pair(padding, "padding")
    padded = (input_hw[0] + 2 * pad[0], input_hw[1] + 2 * pad[1])
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise ValueError(
            f"kernel_size {kernel} is bigger than the padded input {padded} "
            f"({name} spatial size {tuple(input_hw)}, padding {pad})"
        )
    out = (
        conv_output_size(input_hw[0], kernel[0], stride_hw[0], pad[0]),
        conv_output_size(input_hw[1], kernel[1], stride_hw[1], pad[1]),
    )
    return kernel, stride_hw, pad, out


def im2col(
    x: np.ndarray, kernel_size: int | Pair, stride: int | Pair = 1, padding: int | Pair = 0
) -> np.ndarray:
    """Every kernel-sized patch of x (N, C, H, W) as a column: (N, C*kh*kw, Ho*Wo)."""
    check_float_array(x, "x", ndim=4)
    kernel, stride_hw, pad, out_hw = conv_geometry(x.shape[2:], kernel_size, stride, padding)
    n, c = x.shape[:2]
    # All kh*kw shifted planes as one strided view, copied by a single call.
    cols = patches(pad_spatial(x, pad), kernel, stride_hw, out_hw).copy()
    return cols.reshape(n, c * kernel[0] * kernel[1], out_hw[0] * out_hw[1])


def col2im(
    cols: np.ndarray,
    input_shape: tuple[int, int, int, int],
    kernel_size: int | Pair,
    stride: int | Pair = 1,
    padding: int | Pair = 0,
) -> np.ndarray:
    """The adjoint of im2col: scatter columns back to (N, C, H, W), summing overlaps."""
    check_float_array(cols, "cols", ndim=3)
    if len(input_shape) != 4 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (N, C, H, W) of positive sizes, got {input_shape}")
    n, c, h, w = (int(s) for s in input_shape)
    kernel, stride_hw, pad, out_hw = conv_geometry((h, w), kernel_size, stride, padding, "input")
    expected = (n, c * kernel[0] * kernel[1], out_hw[0] * out_hw[1])
    if cols.shape != expected:
        raise ValueError(
            f"cols has shape {cols.shape}, expected {expected} for input_shape {input_shape}, "
            f"kernel_size {kernel}, stride {stride_hw}, padding {pad}"
        )
    padded = np.zeros((n, c, h + 2 * pad[0], w + 2 * pad[1]), dtype=cols.dtype)
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride_hw, out_hw
    blocks = cols.reshape(n, c, kh, kw, ho, wo)
    # Offsets may overlap one another, so each is its own in-place add; within
    # one offset the strided target positions are distinct.
    for dy in range(kh):
        for dx in range(kw):
            padded[:, :, dy : dy + sh * (ho - 1) + 1 : sh, dx : dx + sw * (wo - 1) + 1 : sw] += (
                blocks[:, :, dy, dx]
            )
    return np.ascontiguousarray(padded[:, :, pad[0] : pad[0] + h, pad[1] : pad[1] + w])


def pad_spatial(x: np.ndarray, padding: Pair, fill: float = 0.0) -> np.ndarray:
    """x with its last two axes padded by ``fill``; x itself when there is no padding."""
    if padding == (0, 0):
        return x
    ph, pw = padding
    h, w = x.shape[-2:]
    padded = np.full((*x.shape[:-2], h + 2 * ph, w + 2 * pw), fill, dtype=x.dtype)
    padded[..., ph : ph + h, pw : pw + w] = x
    return padded


def patches(padded: np.ndarray, kernel: Pair, stride: Pair, out_hw: Pair) -> np.ndarray:
    """Read-only view (N, C, kh, kw, Ho, Wo) of every window of a padded (N, C, Hp, Wp) input."""
    (kh, kw), (sh, sw), (ho, wo) = kernel, stride, out_hw
    windows = sliding_window_view(padded, (kh, kw), axis=(2, 3))
    windows = windows[:, :, : sh * (ho - 1) + 1 : sh, : sw * (wo - 1) + 1 : sw]
    return windows.transpose(0, 1, 4, 5, 2, 3)
