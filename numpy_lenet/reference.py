"""Loop-level reference of every op numpy_lenet implements: the maths, to read and to test against.

Each function states its op in its docstring and computes it with plain Python
loops over images, channels and positions, so that a reader can follow one
output value from its inputs. The network's layers are read from one table,
``architecture.MIRROR_BLOCKS``: ``forward`` walks it bottom up, ``backproject``
top down. The fast ops of the same names (``conv.py``, ``pool.py``,
``functional.py``, ``selection.py``, ``model.py``, ``deconv.py``), which
accept only LeNet's windows, are tested equal to these on them
(tests/test_reference.py, tests/test_selection.py): bit for bit where they
pick, move or copy values (pooling, unpooling, relu, rectify, select), within
rounding where they add the same products in another order. Arguments are not
checked here, but for the rule's name (the fast ops check them all). Pairs
(kernel, stride, padding) are an int or an (h, w) tuple, as in torch.

Slow by design: use them on a few small arrays, as the tests and
docs/tutorial.ipynb do.
"""

from __future__ import annotations

import numpy as np

from .architecture import (
    MIRROR_BLOCKS,
    POOL_KERNEL,
    POOL_STRIDE,
    mirror_blocks_from,
    shape_below,
)
from .model import Trace

RULES: tuple[str, ...] = ("deconvnet", "gradient", "guided")


def _pair(value: int | tuple[int, int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _pad(x: np.ndarray, padding: int | tuple[int, int], fill: float = 0.0) -> np.ndarray:
    """x with ``fill`` added around its last two axes."""
    ph, pw = _pair(padding)
    h, w = x.shape[-2:]
    out = np.full((*x.shape[:-2], h + 2 * ph, w + 2 * pw), fill, dtype=x.dtype)
    out[..., ph : ph + h, pw : pw + w] = x
    return out


def conv2d(x, weight, bias=None, stride=1, padding=0):
    """Cross-correlation of x (N, Cin, H, W) with weight (Cout, Cin, kh, kw), plus bias.

    out[n, o, i, j] = b[o] + sum over (c, dy, dx) of W[o, c, dy, dx] * xp[n, c, i*sh+dy, j*sw+dx],
    with xp the input zero-padded by ``padding`` and (sh, sw) the stride.
    """
    (sh, sw), xp = _pair(stride), _pad(x, padding)
    n, c_out, (kh, kw) = len(x), len(weight), weight.shape[2:]
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros((n, c_out, ho, wo), dtype=x.dtype)
    for b in range(n):
        for o in range(c_out):
            for i in range(ho):
                for j in range(wo):
                    window = xp[b, :, i * sh : i * sh + kh, j * sw : j * sw + kw]
                    out[b, o, i, j] = np.sum(window * weight[o])
    if bias is not None:
        out += bias[:, None, None]
    return out


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0):
    """The adjoint of conv2d: each input value scatters a copy of its filter, scaled.

    out[n, :, i*sh : i*sh+kh, j*sw : j*sw+kw] += x[n, c, i, j] * W[c] for every
    (c, i, j), with weight (Cin, Cout, kh, kw); then ``padding`` rows and columns
    are cropped from each side (``output_padding`` extra zero rows/columns stay
    at the bottom/right), and the bias is added.
    """
    (sh, sw), (ph, pw), (oh, ow) = _pair(stride), _pair(padding), _pair(output_padding)
    n, c_in, h, w = x.shape
    kh, kw = weight.shape[2:]
    full = np.zeros((n, weight.shape[1], (h - 1) * sh + kh + oh, (w - 1) * sw + kw + ow), x.dtype)
    for b in range(n):
        for c in range(c_in):
            for i in range(h):
                for j in range(w):
                    full[b, :, i * sh : i * sh + kh, j * sw : j * sw + kw] += (
                        x[b, c, i, j] * weight[c]
                    )
    out = full[:, :, ph : full.shape[2] - ph, pw : full.shape[3] - pw].copy()
    if bias is not None:
        out += bias[:, None, None]
    return out


def im2col(x, kernel_size, stride=1, padding=0):
    """Every kernel-sized patch of x (N, C, H, W) as a column of (N, C*kh*kw, Ho*Wo).

    cols[n, c*kh*kw + dy*kw + dx, i*Wo + j] = xp[n, c, i*sh+dy, j*sw+dx].
    Then conv2d(x, W) is W.reshape(Cout, Cin*kh*kw) @ cols: one matrix product per image.
    """
    (kh, kw), (sh, sw), xp = _pair(kernel_size), _pair(stride), _pad(x, padding)
    n, c = x.shape[:2]
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    cols = np.zeros((n, c * kh * kw, ho * wo), dtype=x.dtype)
    for b in range(n):
        for ch in range(c):
            for dy in range(kh):
                for dx in range(kw):
                    for i in range(ho):
                        for j in range(wo):
                            row, col = ch * kh * kw + dy * kw + dx, i * wo + j
                            cols[b, row, col] = xp[b, ch, i * sh + dy, j * sw + dx]
    return cols


def col2im(cols, input_shape, kernel_size, stride=1, padding=0):
    """The adjoint of im2col: xp[n, c, i*sh+dy, j*sw+dx] += cols[n, c*kh*kw + dy*kw + dx, i*Wo + j].

    Overlapping patches add up; the padding is cropped off at the end.
    """
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel_size), _pair(stride), _pair(padding)
    n, c, h, w = input_shape
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    for b in range(n):
        for ch in range(c):
            for dy in range(kh):
                for dx in range(kw):
                    for i in range(ho):
                        for j in range(wo):
                            row, col = ch * kh * kw + dy * kw + dx, i * wo + j
                            xp[b, ch, i * sh + dy, j * sw + dx] += cols[b, row, col]
    return xp[:, :, ph : ph + h, pw : pw + w].copy()


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max of each window and its switch: the flat position y*W + x of the max in its (H, W) plane.

    Scanning a window row by row, a value replaces the best so far when it is
    greater or when it is NaN (torch's rule): ties go to the first position, a
    NaN beats any number, the last of several NaNs wins. Padding never wins: the
    first real value of a window always replaces the (empty) best.
    x is ((N,) C, H, W); the stride defaults to the kernel size.
    """
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    h, w = x.shape[-2:]
    ho, wo = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    values = np.zeros((*x.shape[:-2], ho, wo), dtype=x.dtype)
    switches = np.zeros(values.shape, dtype=np.int64)
    for plane in np.ndindex(x.shape[:-2]):
        for i in range(ho):
            for j in range(wo):
                best, switch = None, None
                for y in range(i * sh - ph, i * sh - ph + kh):
                    for xx in range(j * sw - pw, j * sw - pw + kw):
                        if 0 <= y < h and 0 <= xx < w:  # not padding
                            v = x[(*plane, y, xx)]
                            if best is None or v > best or np.isnan(v):
                                best, switch = v, y * w + xx
                values[(*plane, i, j)], switches[(*plane, i, j)] = best, switch
    return values, switches


def max_unpool2d(x, indices, kernel_size, stride=None, padding=0, output_size=None):
    """Each value back at its switch in a zero plane.

    out[..., k // Wo, k % Wo] = x[..., i, j] with k = indices[..., i, j].
    ``indices`` broadcasts to x's shape. Values are placed in row-major order,
    so where two windows share a switch the later one wins. The plane is
    ((H-1)*sh - 2*ph + kh) by ((W-1)*sw - 2*pw + kw), or ``output_size``'s last two entries.
    """
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    h, w = x.shape[-2:]
    if output_size is None:
        output_size = ((h - 1) * sh - 2 * ph + kh, (w - 1) * sw - 2 * pw + kw)
    ho, wo = (int(s) for s in output_size[-2:])
    indices = np.broadcast_to(indices, x.shape)
    out = np.zeros((*x.shape[:-2], ho, wo), dtype=x.dtype)
    for plane in np.ndindex(x.shape[:-2]):
        for i in range(h):
            for j in range(w):
                k = int(indices[(*plane, i, j)])
                out[(*plane, k // wo, k % wo)] = x[(*plane, i, j)]
    return out


def linear(x, weight, bias=None):
    """out[..., o] = b[o] + sum_k x[..., k] * W[o, k]: x (..., in) times W^T, weight (out, in)."""
    out = np.zeros((*x.shape[:-1], weight.shape[0]), dtype=x.dtype)
    for row in np.ndindex(x.shape[:-1]):
        for o in range(weight.shape[0]):
            out[(*row, o)] = np.sum(x[row] * weight[o])
    if bias is not None:
        out += bias
    return out


def relu(x):
    """max(x, 0) elementwise; NaN stays NaN (as torch.relu)."""
    out = x.copy()
    for idx in np.ndindex(x.shape):
        if x[idx] < 0:
            out[idx] = 0
    return out


def log_softmax(x, axis=-1):
    """out_k = x_k - m - log(sum_j exp(x_j - m)) along ``axis``, m the max (which cancels)."""
    moved = np.moveaxis(x, axis, -1)
    out = np.zeros(moved.shape, dtype=x.dtype)
    for row in np.ndindex(moved.shape[:-1]):
        m = np.max(moved[row])
        total = sum(np.exp(v - m) for v in moved[row])
        for k in range(moved.shape[-1]):
            out[(*row, k)] = moved[(*row, k)] - m - np.log(total)
    return np.moveaxis(out, -1, axis)


def select(activations, plan):
    """Keep the selected activations, zero the rest: (N, *shape) -> (N, S, *shape).

    Selection s keeps, of channel c = plan.channels[s] (an fc layer's channel is
    one unit): ``map`` every value; ``max`` only its largest value, the first in
    row-major order among equal ones; ``unit`` the value at plan.positions[s],
    the flat index y * W + x.
    """
    n, shape = len(activations), activations.shape[2:]
    out = np.zeros((n, len(plan), *activations.shape[1:]), dtype=activations.dtype)
    for i in range(n):
        for s, c in enumerate(plan.channels):
            plane = activations[i, c, ...].reshape(-1)
            if plan.mode == "map" or plane.size == 1:
                keep = range(plane.size)
            elif plan.mode == "unit":
                keep = [plan.positions[s]]
            else:
                best = 0
                for k in range(1, plane.size):
                    if plane[k] > plane[best]:
                        best = k
                keep = [best]
            for k in keep:
                at = np.unravel_index(k, shape)
                out[(i, s, c, *at)] = activations[(i, c, *at)]
    return out


def rectify(r, activation, rule="deconvnet"):
    """The ReLU step of a mirror block under ``rule``, on the signal r coming down.

    With z the forward ReLU's input and a = relu(z) the recorded ``activation``
    (broadcast to r's shape), [z > 0] == [a > 0], and the rules are:
    deconvnet relu(r); gradient r * [z > 0]; guided relu(r) * [z > 0].
    At z == 0 the mask is 0. The deconvnet rule does not read ``activation``.
    """
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")
    mask = None if rule == "deconvnet" else np.broadcast_to(activation, r.shape)
    out = np.zeros(r.shape, dtype=r.dtype)
    for idx in np.ndindex(r.shape):
        kept = r[idx] if rule == "gradient" or not r[idx] < 0 else 0  # relu keeps NaN
        if mask is None or mask[idx] > 0:
            out[idx] = kept
    return out


def mirror_step(r, block, weights, switches, activations=None, rule="deconvnet"):
    """One mirror block, a row of architecture.MIRROR_BLOCKS, on r (N, *shape of block's layer).

    ``pool`` rows put r back at the layer's ``switches`` (2x2 windows, stride 2)
    in a zero plane of the ``below`` layer's size. ``conv`` and ``fc`` rows first
    take the rule's ReLU step where the row says ``relu`` (``activations``, by
    layer name, are the trace's post-ReLU outputs, read by the masked rules),
    then the transposed filter with the same weight and no bias:
    conv_transpose2d with the row's padding, or times W for an fc weight
    (reshaped to the ``below`` layer: fc1's 400 values are pool2's 16 x 5 x 5).
    """
    name, shape = block["name"], shape_below(block)
    if block["kind"] == "pool":
        return max_unpool2d(r, switches[name], POOL_KERNEL, POOL_STRIDE, output_size=shape[1:])
    if block["relu"]:
        r = rectify(r, (activations or {}).get(name), rule)
    weight = weights[f"{name}.weight"]
    if block["kind"] == "fc":
        return linear(r, weight.T).reshape(len(r), *shape)
    return conv_transpose2d(r, weight, padding=block["padding"])


def backproject(weights, layer, signal, switches, activations=None, rule="deconvnet"):
    """Project signal (N, *LAYER_SHAPES[layer]) of ``layer`` down to pixels (N, 1, 28, 28).

    Runs the mirror blocks (architecture.MIRROR_BLOCKS) from layer's own row
    down: fc3 at W3^T (no ReLU), fc2/fc1 at their ReLU step, pool2/pool1 at the
    unpool with their switches, conv2/conv1 at their ReLU step (no unpool).
    ``activations`` (the trace's, by layer name) are read by the masked rules.
    """
    r = signal
    for block in mirror_blocks_from(layer):
        r = mirror_step(r, block, weights, switches, activations, rule)
    return r


def forward(params, images):
    """The forward pass of images (N, 1, 28, 28): every named activation and switch, as a Trace.

    Reads architecture.MIRROR_BLOCKS from the bottom up: a ``conv`` row is
    conv2d (stride 1, the row's padding) plus bias, an ``fc`` row is linear on
    the flattened input (C, H, W order, as torch.flatten), each followed by a
    ReLU where the row says ``relu`` (all but fc3, whose logits stay); a
    ``pool`` row is max_pool2d 2x2/2 with its switches. The log-probabilities
    are log_softmax of the logits. Same names, shapes and dtype as
    numpy_lenet.model.forward.
    """
    x, activations, switches = images, {}, {}
    for block in reversed(MIRROR_BLOCKS):
        name = block["name"]
        if block["kind"] == "pool":
            x, switches[name] = max_pool2d(x, POOL_KERNEL, POOL_STRIDE)
        else:
            weight, bias = params[f"{name}.weight"], params[f"{name}.bias"]
            if block["kind"] == "conv":
                x = conv2d(x, weight, bias, 1, block["padding"])
            else:
                x = linear(x.reshape(len(x), -1), weight, bias)
            if block["relu"]:
                x = relu(x)
        activations[name] = x
    return Trace(activations, switches, log_softmax(x, axis=1))
