"""One projection step by step: every intermediate signal of the mirror blocks, named.

The deconvnet (numpy_lenet/deconv.py) runs each mirror block as one step; to
teach it, the page shows what the signal looks like entering each block, after
the unpool, after the ReLU step and after the transposed filter. This module
rebuilds that chain from the same public NumPy ops (max_unpool2d, rectify,
conv_transpose2d, linear) in the same order, keeping every signal; the tests
check that its last signal equals ``numpy_lenet.deconv.project``'s result for
every layer, mode and rule, and that each block's input equals what
``backproject`` reports to its ``observe`` hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from numpy_lenet.architecture import MIRROR_BLOCKS as BLOCKS
from numpy_lenet.architecture import POOL_KERNEL, POOL_STRIDE, shape_below
from numpy_lenet.conv import conv_transpose2d
from numpy_lenet.functional import linear
from numpy_lenet.model import Trace
from numpy_lenet.pool import max_unpool2d
from numpy_lenet.rules import check_rule, rectify
from numpy_lenet.selection import SelectionPlan, select


def _operations(block: dict) -> tuple[str, ...]:
    """A mirror block's operations in order: ``relu`` is the rule's step, ``filter`` W^T."""
    if block["kind"] == "pool":
        return ("unpool",)
    return ("relu", "filter") if block["relu"] else ("filter",)


#: The mirror blocks from the top down (architecture.MIRROR_BLOCKS) and the
#: operations of each, in order.
MIRROR_BLOCKS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (str(block["name"]), _operations(block)) for block in BLOCKS
)
_BY_NAME = {block["name"]: block for block in BLOCKS}

#: Shown names of each operation's output.
STAGE_LABELS: dict[str, str] = {
    "in": "entering",
    "unpool": "after unpool",
    "relu": "after ReLU step",
    "filter": "after transposed filter",
}


@dataclass(frozen=True)
class Stage:
    """One signal of the chain: the mirror block it belongs to, the stage, the values."""

    block: str
    stage: str  # "in", "unpool", "relu" or "filter"
    signal: np.ndarray  # one image's signal, shaped as the layer it lives on


def _apply(
    weights: Mapping[str, np.ndarray],
    trace: Trace,
    block: str,
    operation: str,
    signal: np.ndarray,
    rule: str,
) -> np.ndarray:
    """One operation of ``block`` on a (1, 1, *shape) signal, as the deconvnet runs it."""
    row, shape = _BY_NAME[block], shape_below(_BY_NAME[block])
    if operation == "unpool":
        indices = trace.switches[block][:, None]
        return max_unpool2d(signal, indices, POOL_KERNEL, POOL_STRIDE, output_size=shape[1:])
    if operation == "relu":
        return rectify(signal, trace.activations[block], rule)
    weight = weights[f"{block}.weight"]
    if row["kind"] == "conv":
        return conv_transpose2d(signal[:, 0], weight, padding=row["padding"])[:, None]
    return linear(signal, weight.T).reshape(*signal.shape[:2], *shape)  # W^T: transposed fc


def step_through(
    weights: Mapping[str, np.ndarray], trace: Trace, plan: SelectionPlan, rule: str
) -> list[Stage]:
    """Every signal of one selection's projection, from the kept activations to pixels.

    ``weights`` are validated params in the trace's dtype; ``trace`` holds one
    image; ``plan`` one selection. The last stage is the projection (1, 28, 28).
    """
    check_rule(rule)
    if len(trace) != 1 or len(plan) != 1:
        raise ValueError(
            f"step-through takes one image and one selection, got {len(trace)} and {len(plan)}"
        )
    signal = select(trace.activations[plan.layer], plan)  # (1, 1, *shape)
    names = [block for block, _ in MIRROR_BLOCKS]
    stages: list[Stage] = []
    for block, operations in MIRROR_BLOCKS[names.index(plan.layer) :]:
        stages.append(Stage(block, "in", signal[0, 0]))
        for operation in operations:
            signal = _apply(weights, trace, block, operation, signal, rule)
            stages.append(Stage(block, operation, signal[0, 0]))
    return stages
