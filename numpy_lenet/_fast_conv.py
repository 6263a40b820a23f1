"""The kernels behind conv.py: blocked im2col products and stride-1 shifted adds.

Private: conv.py validates the arguments; these functions only compute, into an
``out`` array the caller allocated. Their loop-level twins are
numpy_lenet.reference.conv2d and .conv_transpose2d. For LeNet's shapes every
matrix product is small enough that OpenBLAS runs it on the calling thread
(functional.py says why that matters).
"""

from __future__ import annotations

import numpy as np

from .im2col import Pair, patches

# Images are processed in blocks whose column (or product) matrix is about this
# big: large enough that the per-block Python and BLAS-call overhead is small,
# small enough that what im2col writes is still in the L2 cache when the matrix
# product reads it.
BLOCK_BYTES = 2 * 2**20


def block_size(bytes_per_image: int, n: int) -> int:
    """How many images one block holds (at least 1, at most n)."""
    return max(1, min(n, BLOCK_BYTES // max(bytes_per_image, 1)))


def conv2d_blocked(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    stride: Pair,
    pad: Pair,
    out: np.ndarray,
) -> None:
    """conv2d into ``out`` (n >= 1): per block of images, weight matrix @ im2col columns."""
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    ho, wo = out.shape[2:]
    k = c_in * kh * kw
    w2d = np.ascontiguousarray(weight.reshape(c_out, k))
    block = block_size(k * ho * wo * x.itemsize, n)
    cols = np.empty((block, c_in, kh, kw, ho, wo), dtype=x.dtype)
    if pad != (0, 0):
        # Only the interior is rewritten per block; the zero border stays.
        padded = np.zeros((block, c_in, h + 2 * pad[0], w + 2 * pad[1]), dtype=x.dtype)
    # The window view is built once and sliced per block (im2col).
    windows = patches(padded if pad != (0, 0) else x, (kh, kw), stride, (ho, wo))
    for start in range(0, n, block):
        stop = min(start + block, n)
        m = stop - start
        if pad != (0, 0):
            padded[:m, :, pad[0] : pad[0] + h, pad[1] : pad[1] + w] = x[start:stop]
            np.copyto(cols[:m], windows[:m])
        else:
            np.copyto(cols[:m], windows[start:stop])
        target = out[start:stop].reshape(m, c_out, ho * wo)
        np.matmul(w2d, cols[:m].reshape(m, k, ho * wo), out=target)
        if bias is not None:
            target += bias[:, None]


def conv_transpose2d_unit_stride(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, pad: Pair, out: np.ndarray
) -> None:
    """conv_transpose2d with stride 1 into ``out``: the products scatter as whole-block shifts.

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
    block = block_size(k * plane * x.itemsize, n)
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
        cropped = planes[:, :, pad[0] : pad[0] + ho, pad[1] : pad[1] + wo].transpose(1, 0, 2, 3)
        if bias is None:
            np.copyto(out[start:stop], cropped)
        else:
            np.add(cropped, bias[:, None, None], out=out[start:stop])
