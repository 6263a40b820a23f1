"""Zeiler & Fergus's deconvnet on the PyTorch LeNet5, mirror of ``numpy_lenet.deconv``.

Built from ``max_unpool2d``, ``conv_transpose2d`` and transposed linear
weights, reading the module's own parameters (no copies), on whatever device
and dtype the module and trace live.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from numpy_lenet.architecture import (
    CONV1_PADDING,
    CONV2_PADDING,
    INPUT_SHAPE,
    LAYER_SHAPES,
    POOL_KERNEL,
    POOL_STRIDE,
)
from numpy_lenet.selection import SelectionPlan, plan_selection

from .model import LeNet5, TorchTrace

#: Projections (images x selections) computed at once: bounds the transposed-conv buffers.
DEFAULT_BATCH_SIZE = 1024

Step = Callable[[torch.Tensor], torch.Tensor]


def select(activations: torch.Tensor, plan: SelectionPlan) -> torch.Tensor:
    """Activations (N, *shape) -> (N, S, *shape): selection s keeps its entries, zeros the rest."""
    shape = LAYER_SHAPES[plan.layer]
    if tuple(activations.shape[1:]) != shape:
        raise ValueError(
            f"activations of {plan.layer} must be (N, *{shape}), got {tuple(activations.shape)}"
        )
    n, size = activations.shape[0], len(plan)
    flat = activations.reshape(n, shape[0], -1)
    out = flat.new_zeros((n, size, *flat.shape[1:]))
    sel = torch.arange(size, device=flat.device)
    chan = torch.tensor(plan.channels, device=flat.device)
    if plan.mode == "map" or flat.shape[2] == 1:
        out[:, sel, chan, :] = flat[:, chan, :]
    else:
        if plan.mode == "max":
            # torch.argmax returns the first maximum: row-major tie-breaking.
            pos = torch.argmax(flat[:, chan, :], dim=2)
        else:
            pos = torch.tensor(plan.positions, device=flat.device).expand(n, size)
        images = torch.arange(n, device=flat.device)[:, None]
        out[images, sel, chan, pos] = flat[images, chan, pos]
    return out.reshape(n, size, *shape)


def _mirror_steps(model: LeNet5, switches: Mapping[str, torch.Tensor]) -> list[tuple[str, Step]]:
    """(layer, step) pairs from the top down; signals are (n, S, *shape)."""

    def conv_t(conv: torch.nn.Conv2d, padding: int) -> Step:
        def step(v: torch.Tensor) -> torch.Tensor:
            n, s = v.shape[:2]
            signal = F.relu(v).reshape(n * s, *v.shape[2:])
            if signal.device.type == "cpu":
                # On the CPU the channels-last layout takes oneDNN's fast transposed
                # convolution: 2-4x faster on LeNet's shapes (benchmarks/bench_backends.py).
                signal = signal.contiguous(memory_format=torch.channels_last)
            out = F.conv_transpose2d(signal, conv.weight, padding=padding)
            return out.contiguous().reshape(n, s, *out.shape[1:])

        return step

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
    # F.linear(v, W.t()) applies W^T, the transposed fc filter; W.t() is a view.
    return [
        ("fc3", lambda v: F.linear(v, model.fc3.weight.t())),
        ("fc2", lambda v: F.linear(F.relu(v), model.fc2.weight.t())),
        ("fc1", lambda v: F.linear(F.relu(v), model.fc1.weight.t()).reshape(*v.shape[:2], *pooled)),
        ("pool2", unpool("pool2", "conv2")),
        ("conv2", conv_t(model.conv2, CONV2_PADDING)),
        ("pool1", unpool("pool1", "conv1")),
        ("conv1", conv_t(model.conv1, CONV1_PADDING)),
    ]


def backproject(
    model: LeNet5, layer: str, signal: torch.Tensor, switches: Mapping[str, torch.Tensor]
) -> torch.Tensor:
    """Run the mirror blocks from ``layer`` down: signal (n, S, *shape) -> (n, S, 1, 28, 28)."""
    if tuple(signal.shape[2:]) != LAYER_SHAPES[layer]:
        raise ValueError(
            f"signal of {layer} must be (n, S, *{LAYER_SHAPES[layer]}), got {tuple(signal.shape)}"
        )
    steps = _mirror_steps(model, switches)
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
) -> torch.Tensor:
    """Deconvnet projections (N, S, 1, 28, 28) of S selections on ``layer`` for every image.

    Same arguments and meaning as ``numpy_lenet.deconv.project``; computed in
    the model's dtype on the trace's device.
    """
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
            out[chunk] = backproject(model, layer, signal, switches)
    return out
