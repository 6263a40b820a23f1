"""Zeiler & Fergus's deconvnet on the PyTorch LeNet5, mirror of ``numpy_lenet.deconv``."""

# Built from PyTorch's own layer ops only (F.max_unpool2d, F.conv_transpose2d, F.linear
# with the transposed weight), on the module's own parameters: the torch side stays an
# independent witness of the NumPy one.

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from numpy_lenet.architecture import (
    CONV1_PADDING,
    CONV2_PADDING,
    INPUT_SHAPE,
    LAYER_SHAPES,
    MIRROR_BLOCKS,
    POOL_KERNEL,
    POOL_STRIDE,
    is_spatial,
)
from numpy_lenet.rules import DEFAULT_RULE, check_rule
from numpy_lenet.selection import SelectionPlan, keeps_one_unit, plan_selection

from .model import LeNet5, TorchTrace
from .rules import rectify, rectify_each
from .selection import live_selections, select, selected_units

#: Projections (images x selections) computed at once: bounds the transposed-conv buffers.
DEFAULT_BATCH_SIZE = 1024
#: Live selections projected at once by project_live: bounds its whole-layer buffers.
LIVE_ROWS_PER_CALL = 128

#: The cases where the CPU's transposed convolution runs on channels-last input
#: (benchmarks/bench_crosscheck.py).
_CHANNELS_LAST = {("conv1", torch.float32), ("conv2", torch.float64)}

Step = Callable[[torch.Tensor], torch.Tensor]


def _mirror_steps(
    model: LeNet5,
    switches: Mapping[str, torch.Tensor],
    activations: Mapping[str, torch.Tensor] | None = None,
    rule: str = DEFAULT_RULE,
) -> list[tuple[str, Step]]:
    """(layer, step) pairs from the top down; signals are (n, S, *shape), activations (n, ...)."""

    def forward(layer: str) -> torch.Tensor | None:
        return None if activations is None else activations[layer]

    def conv_t(layer: str, padding: int) -> Step:
        weight = getattr(model, layer).weight

        def step(v: torch.Tensor) -> torch.Tensor:
            n, s = v.shape[:2]
            signal = rectify(v, forward(layer), rule).reshape(n * s, *v.shape[2:])
            if signal.device.type == "cpu" and (layer, signal.dtype) in _CHANNELS_LAST:
                signal = signal.contiguous(memory_format=torch.channels_last)
            out = F.conv_transpose2d(signal, weight, padding=padding)
            return out.reshape(n, s, *out.shape[1:])

        return step

    def fc_t(layer: str) -> Step:
        # F.linear(v, W.t()) applies W^T, the transposed fc filter; W.t() is a view.
        weight_t = getattr(model, layer).weight.t()
        return lambda v: F.linear(rectify(v, forward(layer), rule), weight_t)

    def unpool(pool: str, below: str) -> Step:
        def step(v: torch.Tensor) -> torch.Tensor:
            n, s = v.shape[:2]
            # max_unpool2d wants indices of the input's shape: repeat each image's switches.
            indices = switches[pool][:, None].expand(v.shape).reshape(n * s, *v.shape[2:])
            out = F.max_unpool2d(
                v.reshape(n * s, *v.shape[2:]),
                indices,
                POOL_KERNEL,
                POOL_STRIDE,
                output_size=LAYER_SHAPES[below][1:],
            )
            return out.reshape(n, s, *out.shape[1:])

        return step

    pooled = LAYER_SHAPES["pool2"]
    fc1 = fc_t("fc1")
    return [
        ("fc3", lambda v: F.linear(v, model.fc3.weight.t())),  # no ReLU: W3^T straight away
        ("fc2", fc_t("fc2")),
        ("fc1", lambda v: fc1(v).reshape(*v.shape[:2], *pooled)),
        ("pool2", unpool("pool2", "conv2")),
        ("conv2", conv_t("conv2", CONV2_PADDING)),
        ("pool1", unpool("pool1", "conv1")),
        ("conv1", conv_t("conv1", CONV1_PADDING)),
    ]


def backproject(
    model: LeNet5,
    layer: str,
    signal: torch.Tensor,
    switches: Mapping[str, torch.Tensor],
    *,
    rule: str = DEFAULT_RULE,
    activations: Mapping[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """The mirror blocks from ``layer`` down (``numpy_lenet.deconv.backproject``'s meaning)."""
    check_rule(rule)
    if tuple(signal.shape[2:]) != LAYER_SHAPES[layer]:
        raise ValueError(
            f"signal of {layer} must be (n, S, *{LAYER_SHAPES[layer]}), got {tuple(signal.shape)}"
        )
    steps = _mirror_steps(model, switches, activations, rule)
    start = [name for name, _ in steps].index(layer)
    with torch.no_grad():
        for _, step in steps[start:]:
            signal = step(signal)
    return signal


def project(
    model: LeNet5,
    trace: TorchTrace,
    layer: str,
    mode: str = "max",
    channels: Sequence[int] | None = None,
    units: Sequence[Sequence[int]] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    rule: str = DEFAULT_RULE,
) -> torch.Tensor:
    """Projections (N, S, 1, 28, 28) as ``numpy_lenet.deconv.project``, in the model's dtype."""
    check_rule(rule)
    plan = plan_selection(layer, mode, channels, units)
    activations = trace.activations[layer]
    if activations.dtype != model.conv1.weight.dtype:
        raise ValueError(
            f"trace is {activations.dtype} but the model is {model.conv1.weight.dtype}; "
            "trace with the same model"
        )
    n = activations.shape[0]
    out = activations.new_empty((n, len(plan), *INPUT_SHAPE))
    per_chunk = max(1, batch_size // len(plan))
    with torch.no_grad():
        for start in range(0, n, per_chunk):
            chunk = slice(start, start + per_chunk)
            signal = select(activations[chunk], plan)
            switches = {k: v[chunk] for k, v in trace.switches.items()}
            forward = {k: v[chunk] for k, v in trace.activations.items()}
            out[chunk] = backproject(model, layer, signal, switches, rule=rule, activations=forward)
    return out


@dataclass(frozen=True)
class LiveProjections:
    """Mirror of ``numpy_lenet.deconv.LiveProjections``, as tensors on the trace's device."""

    plan: SelectionPlan
    activations: torch.Tensor
    live: torch.Tensor
    values: torch.Tensor


def project_live(
    model: LeNet5,
    trace: TorchTrace,
    plan: SelectionPlan,
    *,
    rule: str = DEFAULT_RULE,
    crop: bool = True,
) -> LiveProjections:
    """``numpy_lenet.deconv.project_live``; ``crop`` runs single units on their windows only."""
    # Only live selections are projected (the others are exact zeros); a single unit's
    # signal is zero outside its receptive field at every step (docs/agreement.md).
    check_rule(rule)
    activations = trace.activations[plan.layer]
    with torch.no_grad():
        live = live_selections(activations, plan)
        images, selections = torch.nonzero(live, as_tuple=True)
        values = activations.new_empty((len(images), *INPUT_SHAPE[1:]))
        one_unit = keeps_one_unit(plan)
        if one_unit:
            where = selected_units(activations, plan)[0][images, selections]
        for start in range(0, len(images), LIVE_ROWS_PER_CALL):
            rows = slice(start, start + LIVE_ROWS_PER_CALL)
            picked = images[rows]
            if crop and one_unit and is_spatial(plan.layer):
                values[rows] = _unit_windows(model, trace, plan.layer, where[rows], picked, rule)
                continue
            if one_unit:
                signal = _keep_each(activations[picked], where[rows], 1)
            else:
                channels = torch.tensor(plan.channels, device=images.device)[selections[rows]]
                per_channel = math.prod(LAYER_SHAPES[plan.layer][1:])
                signal = _keep_each(activations[picked], channels * per_channel, per_channel)
            out = backproject(
                model,
                plan.layer,
                signal[:, None],
                {k: v[picked] for k, v in trace.switches.items()},
                rule=rule,
                activations={k: v[picked] for k, v in trace.activations.items()},
            )
            values[rows] = out[:, 0, 0]
    return LiveProjections(plan, activations, live, values)


def _keep_each(activations: torch.Tensor, start: torch.Tensor, size: int) -> torch.Tensor:
    """Activations (m, *shape) with all but flat entries start[i] to start[i] + size - 1 zeroed."""
    flat = activations.reshape(len(activations), -1)
    offset = torch.arange(flat.shape[1], device=flat.device) - start[:, None]
    return torch.where((offset >= 0) & (offset < size), flat, 0).reshape(activations.shape)


def _unit_windows(
    model: LeNet5,
    trace: TorchTrace,
    layer: str,
    where: torch.Tensor,
    images: torch.Tensor,
    rule: str,
) -> torch.Tensor:
    """Projections (m, 28, 28) of single units of a conv or pool layer, on their windows."""
    # The ops of _mirror_steps on the smallest window holding the signal: 1 x 1, then 2x as
    # large after max_unpool2d, k - 1 larger (moved up-left by the padding) after
    # conv_transpose2d; switches and forward activations are cut to each row's window.
    act = trace.activations
    m = len(where)
    channels, h, w = LAYER_SHAPES[layer]
    rows = torch.arange(m, device=where.device)
    y, x = (where // w) % h, where % w
    signal = act[layer].new_zeros((m, channels, 1, 1))
    signal[rows, where // (h * w), 0, 0] = act[layer][images, where // (h * w), y, x]
    blocks = {block["name"]: block for block in MIRROR_BLOCKS}
    while layer is not None:
        block = blocks[layer]
        size = signal.shape[2:]
        if block["kind"] == "pool":
            # max_unpool2d's indices are flat positions in the whole plane below: make them
            # positions in the window below, which starts at (2y, 2x) and is twice as large.
            switches = _windows(trace.switches[layer], images, y, x, size)
            width = LAYER_SHAPES[block["below"]][2]
            local_y = switches // width - 2 * y[:, None, None, None]
            local_x = switches % width - 2 * x[:, None, None, None]
            local = local_y * (2 * size[1]) + local_x
            out_size = (POOL_STRIDE * size[0], POOL_STRIDE * size[1])
            signal = F.max_unpool2d(signal, local, POOL_KERNEL, POOL_STRIDE, output_size=out_size)
            y, x = POOL_STRIDE * y, POOL_STRIDE * x
        else:
            forward = None if rule == "deconvnet" else _windows(act[layer], images, y, x, size)
            signal = rectify_each(signal, forward, rule)
            signal = F.conv_transpose2d(signal, getattr(model, layer).weight)
            y, x = y - block["padding"], x - block["padding"]
        layer = block["below"]
    # The pixels' window may reach past the image by conv1's padding: a canvas with that margin.
    margin = CONV1_PADDING
    canvas = signal.new_zeros((m, INPUT_SHAPE[1] + 2 * margin, INPUT_SHAPE[2] + 2 * margin))
    hh, ww = signal.shape[2:]
    ys = (y + margin)[:, None, None] + torch.arange(hh, device=y.device)[:, None]
    xs = (x + margin)[:, None, None] + torch.arange(ww, device=x.device)
    canvas[rows[:, None, None], ys, xs] = signal[:, 0]
    return canvas[:, margin : margin + INPUT_SHAPE[1], margin : margin + INPUT_SHAPE[2]]


def _windows(
    planes: torch.Tensor,
    images: torch.Tensor,
    y: torch.Tensor,
    x: torch.Tensor,
    size: Sequence[int],
) -> torch.Tensor:
    """(m, C, *size): row i's window of planes[images[i]] (N, C, H, W) at (y[i], x[i])."""
    channels = torch.arange(planes.shape[1], device=planes.device)
    ys = y[:, None] + torch.arange(size[0], device=y.device)
    xs = x[:, None] + torch.arange(size[1], device=x.device)
    return planes[
        images[:, None, None, None],
        channels[None, :, None, None],
        ys[:, None, :, None],
        xs[:, None, None, :],
    ]
