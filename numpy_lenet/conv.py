"""LeNet's stride-1 convolution and transposed convolution, equal to torch.nn.functional's.

Their loop-level twins, in torch's generality, are numpy_lenet.reference.conv2d
and .conv_transpose2d. For LeNet's shapes every matrix product is small enough
that OpenBLAS runs it on the calling thread (functional.py says why that matters).
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import check_bias, check_float_array, check_same_dtype


def _check_geometry(op: str, kernel: tuple[int, ...], padding: int) -> None:
    """Refuse a padding that is not a non-negative int, or an empty kernel."""
    if not isinstance(padding, numbers.Integral) or padding < 0:
        raise ValueError(f"{op} takes LeNet's padding, a non-negative int, got {padding!r}")
    if min(kernel) < 1:
        raise ValueError(f"{op} needs a kernel of positive size, got {tuple(kernel)}")


def conv2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    padding: int = 0,
) -> np.ndarray:
    """Cross-correlate x (N, Cin, H, W) with weight (Cout, Cin, kh, kw), like F.conv2d."""
    check_float_array(x, "x", ndim=4)
    check_float_array(weight, "weight", ndim=4)
    check_same_dtype(x, "x", weight, "weight")
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    if weight.shape[1] != c_in:
        raise ValueError(
            f"weight has shape {weight.shape}: expected {c_in} input channels "
            f"(dim 1) to match x of shape {x.shape}"
        )
    bias = check_bias(bias, x, c_out)
    _check_geometry("conv2d", (kh, kw), padding)
    padded = (h + 2 * padding, w + 2 * padding)
    if kh > padded[0] or kw > padded[1]:
        raise ValueError(
            f"kernel_size {(kh, kw)} is bigger than the padded input {padded} "
            f"(x spatial size {(h, w)}, padding {padding})"
        )
    out = np.empty((n, c_out, padded[0] - kh + 1, padded[1] - kw + 1), dtype=x.dtype)
    if n:
        # weight.reshape(Cout, Cin*kh*kw) @ im2col(x)[image], for blocks of images.
        _conv2d_blocked(x, weight, bias, padding, out)
    return out


def conv_transpose2d(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    padding: int = 0,
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
    _check_geometry("conv_transpose2d", (kh, kw), padding)
    ho, wo = h - 1 - 2 * padding + kh, w - 1 - 2 * padding + kw
    if ho < 1 or wo < 1:
        raise ValueError(
            f"output size ({ho}, {wo}) is not positive for x of shape {x.shape}, "
            f"kernel_size {(kh, kw)}, padding {padding}"
        )
    out = np.empty((n, c_out, ho, wo), dtype=x.dtype)
    if n:
        _conv_transpose2d_blocked(x, weight, bias, padding, out)
    return out


# Images are processed in blocks whose column (or product) matrix is about this
# big: large enough that the per-block Python and BLAS-call overhead is small,
# small enough that what im2col writes is still in the L2 cache when the matrix
# product reads it.
BLOCK_BYTES = 2 * 2**20


def _block_size(bytes_per_image: int, n: int) -> int:
    """How many images one block holds (at least 1, at most n)."""
    return max(1, min(n, BLOCK_BYTES // max(bytes_per_image, 1)))


def _conv2d_blocked(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, pad: int, out: np.ndarray
) -> None:
    """conv2d into ``out`` (n >= 1): per block of images, weight matrix @ im2col columns."""
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    ho, wo = out.shape[2:]
    k = c_in * kh * kw
    w2d = np.ascontiguousarray(weight.reshape(c_out, k))
    block = _block_size(k * ho * wo * x.itemsize, n)
    cols = np.empty((block, c_in, kh, kw, ho, wo), dtype=x.dtype)
    if pad:
        # Only the interior is rewritten per block; the zero border stays.
        padded = np.zeros((block, c_in, h + 2 * pad, w + 2 * pad), dtype=x.dtype)
    # The window view is built once and sliced per block (im2col).
    windows = sliding_window_view(padded if pad else x, (kh, kw), axis=(2, 3))
    windows = windows.transpose(0, 1, 4, 5, 2, 3)  # (n, Cin, kh, kw, Ho, Wo)
    for start in range(0, n, block):
        stop = min(start + block, n)
        m = stop - start
        if pad:
            padded[:m, :, pad : pad + h, pad : pad + w] = x[start:stop]
            np.copyto(cols[:m], windows[:m])
        else:
            np.copyto(cols[:m], windows[start:stop])
        target = out[start:stop].reshape(m, c_out, ho * wo)
        np.matmul(w2d, cols[:m].reshape(m, k, ho * wo), out=target)
        if bias is not None:
            target += bias[:, None]


def _conv_transpose2d_blocked(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, pad: int, out: np.ndarray
) -> None:
    """conv_transpose2d into ``out``: the products scatter as whole-block shifts.

    Each input row is widened with zeros to the full (uncropped) output width
    fw, so kernel offset (dy, dx) moves every product by one flat distance,
    dy * fw + dx. Products are laid out per output channel and offset as one
    long row over all images of a block, each image taking one full output
    plane (the part past its input stays zero): then col2im is kh*kw adds of
    long contiguous rows rather than many adds of Wo-element rows.
    """
    n, c_in, h, w = x.shape
    c_out, kh, kw = weight.shape[1:]
    ho, wo = out.shape[2:]
    full_h, full_w = h + kh - 1, w + kw - 1
    span, plane = h * full_w, full_h * full_w
    k = c_out * kh * kw
    w2d_t = weight.reshape(c_in, k).T
    block = _block_size(k * plane * x.itemsize, n)
    widened = np.zeros((block, c_in, h, full_w), dtype=x.dtype)
    products = np.zeros((k, block, plane), dtype=x.dtype)
    # Zero products past each image's input spill into the next plane (harmless)
    # and, after the last image, into this tail.
    tail = (kh - 1) * full_w + kw - 1
    acc = np.empty((c_out, block * plane + tail), dtype=x.dtype)
    for start in range(0, n, block):
        stop = min(start + block, n)
        m = stop - start
        length = m * plane
        widened[:m, :, :, :w] = x[start:stop]
        # One small GEMM per image, writing its rows straight into the strided layout.
        np.matmul(
            w2d_t,
            widened[:m].reshape(m, c_in, span),
            out=products[:, :m, :span].transpose(1, 0, 2),
        )
        rows = products.reshape(c_out, kh, kw, block * plane)
        acc[:, :length] = rows[:, 0, 0, :length]
        acc[:, length : length + tail] = 0
        for dy in range(kh):
            for dx in range(kw):
                if dy or dx:
                    shift = dy * full_w + dx
                    acc[:, shift : shift + length] += rows[:, dy, dx, :length]
        planes = acc[:, :length].reshape(c_out, m, full_h, full_w)
        cropped = planes[:, :, pad : pad + ho, pad : pad + wo].transpose(1, 0, 2, 3)
        if bias is None:
            np.copyto(out[start:stop], cropped)
        else:
            np.add(cropped, bias[:, None, None], out=out[start:stop])
