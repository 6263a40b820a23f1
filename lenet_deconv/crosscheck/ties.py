"""Switches that two traces chose differently, and whether rounding alone explains each.

The bound on the gap is docs/agreement.md's, "Near-ties": (gamma_a + gamma_b) * (A(p) + A(q)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from numpy_lenet.architecture import (
    CONV1_PADDING,
    CONV2_PADDING,
    LAYER_SHAPES,
    POOL_KERNEL,
    POOL_NAMES,
    POOL_STRIDE,
    PRE_POOL,
)
from numpy_lenet.conv import conv2d
from numpy_lenet.model import Trace
from numpy_lenet.pool import max_pool2d

from .agreement import gamma

#: Terms of the rounded sum behind each pre-pool layer: the products and the bias,
#: plus one each for the rounding of the weights and of the inputs to the format.
#: conv2's inputs carry conv1's rounding, so its gamma adds conv1's.
_SUM_TERMS: dict[str, tuple[int, ...]] = {
    "conv1": (1 * 5 * 5 + 1 + 2,),
    "conv2": (1 * 5 * 5 + 1 + 2, 6 * 5 * 5 + 1 + 1),
}


def magnitudes(params: Mapping[str, np.ndarray], images: np.ndarray) -> dict[str, np.ndarray]:
    """A = sum(|w| |x|) + |b| of every conv1 and conv2 value (pre-ReLU), in float64."""
    w = {k: np.abs(np.asarray(v, np.float64)) for k, v in params.items()}
    x = np.abs(np.asarray(images, np.float64)).reshape(len(images), 1, 28, 28)
    conv1 = conv2d(x, w["conv1.weight"], w["conv1.bias"], padding=CONV1_PADDING)
    # An upper bound of every input conv2 sees: the largest magnitude of each window.
    pooled, _ = max_pool2d(conv1, POOL_KERNEL, POOL_STRIDE)
    conv2 = conv2d(pooled, w["conv2.weight"], w["conv2.bias"], padding=CONV2_PADDING)
    return {"conv1": conv1, "conv2": conv2}


@dataclass(frozen=True)
class Flip:
    """One pool window whose switch differs between the reference and the other trace."""

    pool: str
    image: int
    channel: int
    y: int
    x: int
    reference_value: float  # the reference's pre-pool value at its own pick
    other_pick_value: float  # the reference's pre-pool value at the other's pick
    gap: float
    bound: float  # the largest gap rounding explains here
    near_tie: bool
    why: str


def find_flips(
    params: Mapping[str, np.ndarray],
    images: np.ndarray,
    reference: Trace,
    other: Trace,
    first: int = 0,
) -> list[Flip]:
    """Every window whose switch differs between two traces of ``images``, classified.

    ``first`` is the index of images[0] in the whole set, for the report.
    """
    ref_dtype = reference.activations["conv1"].dtype.type
    other_dtype = other.activations["conv1"].dtype.type
    flips: list[Flip] = []
    found = {p: np.argwhere(reference.switches[p] != other.switches[p]) for p in POOL_NAMES}
    if not any(len(w) for w in found.values()):
        return flips
    flipped_images = np.unique(np.concatenate([w[:, 0] for w in found.values()]))
    size = magnitudes(params, images[flipped_images])
    row_of = {int(n): r for r, n in enumerate(flipped_images)}
    for pool in POOL_NAMES:
        layer = PRE_POOL[pool]
        # The gammas that bound both sides' rounding of the layer's values, relative to A.
        factor = sum(gamma(n, t) for t in (ref_dtype, other_dtype) for n in _SUM_TERMS[layer])
        width = LAYER_SHAPES[layer][2]
        ref_plane = reference.activations[layer].reshape(len(images), LAYER_SHAPES[layer][0], -1)
        other_plane = other.activations[layer].reshape(ref_plane.shape)
        for n, c, y, x in found[pool]:
            p = int(reference.switches[pool][n, c, y, x])
            q = int(other.switches[pool][n, c, y, x])
            a_p, a_q = float(ref_plane[n, c, p]), float(ref_plane[n, c, q])
            b_p, b_q = float(other_plane[n, c, p]), float(other_plane[n, c, q])
            mag = size[layer][row_of[int(n)], c]
            bound = factor * float(mag[p // width, p % width] + mag[q // width, q % width])
            gap = abs(a_p - a_q)
            if a_p == a_q and b_p == b_q:
                near, why = False, "exact tie broken differently: the switch rule decides it"
            elif gap <= bound:
                near, why = True, "near-tie: the gap is within rounding"
            else:
                near, why = False, "the gap is beyond rounding"
            flips.append(
                Flip(pool, first + int(n), int(c), int(y), int(x), a_p, a_q, gap, bound, near, why)
            )
    return flips


def flipped_images(reference: Trace, other: Trace) -> dict[str, np.ndarray]:
    """Per pool, (n,) whether any switch of image i differs between the two traces."""
    return {
        p: np.any(reference.switches[p] != other.switches[p], axis=(1, 2, 3)) for p in POOL_NAMES
    }
