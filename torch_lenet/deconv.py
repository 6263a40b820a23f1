"""Zeiler & Fergus's deconvnet on the PyTorch LeNet5, mirror of ``numpy_lenet.deconv``.

Built from ``max_unpool2d``, ``conv_transpose2d`` and transposed linear
weights, reading the module's own parameters (no copies), on whatever device
and dtype the module and trace live.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

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
from numpy_lenet.rules import DEFAULT_RULE, MASKED_RULES, check_rule
from numpy_lenet.selection import SelectionPlan, plan_selection

from .model import LeNet5, TorchTrace
from .rules import rectify
from .selection import select

#: Projections (images x selections) computed at once: bounds the transposed-conv buffers.
DEFAULT_BATCH_SIZE = 1024

Step = Callable[[torch.Tensor], torch.Tensor]


def _mirror_steps(
    model: LeNet5,
    switches: Mapping[str, torch.Tensor],
    activations: Mapping[str, torch.Tensor] | None = None,
    rule: str = DEFAULT_RULE,
) -> list[tuple[str, Step]]:
    """(layer, step) pairs from the top down; signals are (n, S, *shape).

    ``activations`` (the trace's, for the same n images) feed the ReLU step of
    the masked rules (torch_lenet/rules.py).
    """

    def forward(layer: str) -> torch.Tensor | None:
        return None if activations is None else activations[layer]

    def conv_t(layer: str, padding: int) -> Step:
        weight = getattr(model, layer).weight

        def step(v: torch.Tensor) -> torch.Tensor:
            n, s = v.shape[:2]
            signal = rectify(v, forward(layer), rule).reshape(n * s, *v.shape[2:])
            if signal.device.type == "cpu":
                # On the CPU the channels-last layout takes oneDNN's fast transposed
                # convolution: 2-4x faster on LeNet's shapes (benchmarks/bench_backends.py).
                signal = signal.contiguous(memory_format=torch.channels_last)
            out = F.conv_transpose2d(signal, weight, padding=padding)
            return out.contiguous().reshape(n, s, *out.shape[1:])

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
    """Run the mirror blocks from ``layer`` down: signal (n, S, *shape) -> (n, S, 1, 28, 28).

    Same arguments and meaning as ``numpy_lenet.deconv.backproject``.
    """
    check_rule(rule)
    if tuple(signal.shape[2:]) != LAYER_SHAPES[layer]:
        raise ValueError(
            f"signal of {layer} must be (n, S, *{LAYER_SHAPES[layer]}), got {tuple(signal.shape)}"
        )
    if rule in MASKED_RULES and activations is None:
        raise ValueError(f"rule {rule!r} needs the forward activations of the projected images")
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
    """Deconvnet projections (N, S, 1, 28, 28) of S selections on ``layer`` for every image.

    Same arguments and meaning as ``numpy_lenet.deconv.project``; computed in
    the model's dtype on the trace's device.
    """
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

    @property
    def signal(self) -> torch.Tensor:
        """(n, S, *shape): what each selection keeps (built on demand: S copies of the layer)."""
        return select(self.activations, self.plan)


def project_live(
    model: LeNet5,
    trace: TorchTrace,
    plan: SelectionPlan,
    *,
    rule: str = DEFAULT_RULE,
    rows_per_call: int = DEFAULT_BATCH_SIZE,
) -> LiveProjections:
    """The straightforward reference: each live selection through the mirror blocks on its own.

    Same meaning as ``numpy_lenet.deconv.project_live``.
    """
    check_rule(rule)
    activations = trace.activations[plan.layer]
    with torch.no_grad():
        signal = select(activations, plan)
        live = torch.any(signal.reshape(*signal.shape[:2], -1) != 0, dim=2)
        images, selections = torch.nonzero(live, as_tuple=True)
        values = activations.new_empty((len(images), *INPUT_SHAPE[1:]))
        for start in range(0, len(images), rows_per_call):
            rows = slice(start, start + rows_per_call)
            picked = images[rows]
            out = backproject(
                model,
                plan.layer,
                signal[picked, selections[rows]][:, None],
                {k: v[picked] for k, v in trace.switches.items()},
                rule=rule,
                activations={k: v[picked] for k, v in trace.activations.items()},
            )
            values[rows] = out[:, 0, 0]
    return LiveProjections(plan, activations, live, values)
