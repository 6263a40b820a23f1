"""Zeiler & Fergus's deconvnet on LeNet-5, in NumPy: project chosen activations to pixels.

Each forward block "filter -> [ReLU] -> [pool]" has a mirror block
"[unpool with the switches] -> [ReLU] -> transposed filter" (same weights, no
bias). The deconvnet's mirror ReLU rectifies the reconstruction itself, not a
mask of the forward pass; ``rule=`` swaps that one step for backpropagation's
(``gradient``) or guided backpropagation's (numpy_lenet/rules.py). A projection
from layer L enters the mirror at L's own step and runs down to pixel space.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .architecture import (
    INPUT_SHAPE,
    LAYER_SHAPES,
    MIRROR_BLOCKS,
    POOL_KERNEL,
    POOL_STRIDE,
    shape_below,
)
from .conv import conv_transpose2d
from .functional import linear
from .model import Trace, run_chunks
from .params import cast_params, validate_params
from .pool import max_unpool2d
from .rules import DEFAULT_RULE, MASKED_RULES, check_rule, rectify
from .selection import SelectionPlan, plan_selection, select

#: Projections (images x selections) computed at once: small enough that each
#: chunk's signals stay in cache and that the chunks spread over threads.
DEFAULT_BATCH_SIZE = 256

Step = Callable[[np.ndarray], np.ndarray]


def _mirror_steps(
    w: Mapping[str, np.ndarray],
    switches: Mapping[str, np.ndarray],
    activations: Mapping[str, np.ndarray] | None = None,
    rule: str = DEFAULT_RULE,
) -> list[tuple[str, Step]]:
    """(layer, step) pairs from the top down, one per row of MIRROR_BLOCKS.

    Each step maps its layer's signal to the next one down. Signals are
    (n, S, *shape): n images, S selections each. Switches are (n, C, h, w) and
    broadcast over S, so one image's switches serve all its selections without
    copies. ``activations`` (the trace's, for the same n images) feed the ReLU
    step of the masked rules (numpy_lenet/rules.py).
    """

    def step(block: dict) -> Step:
        name, shape = block["name"], shape_below(block)
        if block["kind"] == "pool":
            indices = switches[name][:, None]
            return lambda v: max_unpool2d(v, indices, POOL_KERNEL, POOL_STRIDE)
        forward = None if activations is None else activations[name]
        weight = w[f"{name}.weight"]

        def relu_step(v: np.ndarray) -> np.ndarray:
            return rectify(v, forward, rule) if block["relu"] else v

        if block["kind"] == "fc":
            # linear(v, W.T) applies W^T: the transposed fc filter.
            return lambda v: linear(relu_step(v), weight.T).reshape(*v.shape[:2], *shape)

        def conv_t(v: np.ndarray) -> np.ndarray:
            n, s = v.shape[:2]
            rectified = relu_step(v).reshape(n * s, *v.shape[2:])
            out = conv_transpose2d(rectified, weight, padding=block["padding"])
            return out.reshape(n, s, *out.shape[1:])

        return conv_t

    return [(block["name"], step(block)) for block in MIRROR_BLOCKS]


def backproject(
    weights: Mapping[str, np.ndarray],
    layer: str,
    signal: np.ndarray,
    switches: Mapping[str, np.ndarray],
    observe: Callable[[str, np.ndarray], None] | None = None,
    *,
    rule: str = DEFAULT_RULE,
    activations: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Run the mirror blocks from ``layer`` down: signal (n, S, *shape) -> (n, S, 1, 28, 28).

    ``weights`` must already be validated and in the signal's dtype. ``observe``,
    if given, sees (name, signal) as the signal enters each mirror block: the
    cross-check uses it to tell which unpool windows a projection passes through.
    ``rule`` picks the ReLU step (deconvnet, gradient, guided); the masked rules
    need ``activations``, the trace's activations (n, *shape) per layer.
    """
    check_rule(rule)
    if signal.shape[2:] != LAYER_SHAPES[layer]:
        raise ValueError(
            f"signal of {layer} must be (n, S, *{LAYER_SHAPES[layer]}), got {signal.shape}"
        )
    if rule in MASKED_RULES and activations is None:
        raise ValueError(f"rule {rule!r} needs the forward activations of the projected images")
    steps = _mirror_steps(weights, switches, activations, rule)
    start = [name for name, _ in steps].index(layer)
    for name, step in steps[start:]:
        if observe is not None:
            observe(name, signal)
        signal = step(signal)
    return signal


def project(
    params: Mapping[str, np.ndarray],
    trace: Trace,
    layer: str,
    mode: str = "max",
    channels: Sequence[int] | None = None,
    units: Sequence[Sequence[int]] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int | None = None,
    rule: str = DEFAULT_RULE,
) -> np.ndarray:
    """Deconvnet projections (N, S, 1, 28, 28) of S selections on ``layer`` for every image.

    ``channels=None`` in ``map``/``max`` mode selects every channel; ``unit``
    mode takes ``units`` as (c, y, x) for conv/pool layers or (j,) for fc ones.
    Computed in the trace's dtype. Chunks of ``batch_size`` projections run on
    ``workers`` threads (None: one per CPU).
    ``rule`` is the backward rule: deconvnet (the default), gradient or guided.
    """
    check_rule(rule)
    plan = plan_selection(layer, mode, channels, units)
    activations = trace.activations[layer]
    weights = cast_params(validate_params(params), activations.dtype)
    n = len(activations)
    out = np.empty((n, len(plan), *INPUT_SHAPE), dtype=activations.dtype)
    per_chunk = max(1, batch_size // len(plan))

    def job(start: int) -> None:
        chunk = slice(start, start + per_chunk)
        signal = select(activations[chunk], plan)
        switches = {k: v[chunk] for k, v in trace.switches.items()}
        forward = {k: v[chunk] for k, v in trace.activations.items()}
        out[chunk] = backproject(weights, layer, signal, switches, rule=rule, activations=forward)

    run_chunks(job, range(0, n, per_chunk), workers)
    return out


@dataclass(frozen=True)
class LiveProjections:
    """Projections of one selection plan over n images, computed only where they can be non-zero.

    ``activations`` (n, *shape) are the layer's activations the ``plan`` selects
    from; ``live`` (n, S) says which selections keep any non-zero value;
    ``values`` (m, 28, 28) are the projections of the live ones, in row-major
    order of ``live``. A selection that keeps only zeros projects to exact zeros
    (every mirror step maps 0 to 0).
    """

    plan: SelectionPlan
    activations: np.ndarray
    live: np.ndarray
    values: np.ndarray


def project_live(
    params: Mapping[str, np.ndarray],
    trace: Trace,
    plan: SelectionPlan,
    *,
    rule: str = DEFAULT_RULE,
) -> LiveProjections:
    """The straightforward reference: each live selection through the mirror blocks on its own."""
    check_rule(rule)
    activations = trace.activations[plan.layer]
    weights = cast_params(validate_params(params), activations.dtype)
    signal = select(activations, plan)
    live = np.any(signal.reshape(*signal.shape[:2], -1) != 0, axis=2)
    images, selections = np.nonzero(live)
    values = np.empty((len(images), *INPUT_SHAPE[1:]), dtype=activations.dtype)
    for start in range(0, len(images), DEFAULT_BATCH_SIZE):
        rows = slice(start, start + DEFAULT_BATCH_SIZE)
        picked = images[rows]
        out = backproject(
            weights,
            plan.layer,
            signal[picked, selections[rows]][:, None],
            {k: v[picked] for k, v in trace.switches.items()},
            rule=rule,
            activations={k: v[picked] for k, v in trace.activations.items()},
        )
        values[rows] = out[:, 0, 0]
    return LiveProjections(plan, activations, live, values)
