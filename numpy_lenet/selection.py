"""Which activations of a layer a projection keeps: the ``map``, ``max`` and ``unit`` modes.

A plan is plain Python, so the PyTorch deconvnet reads the very same one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .architecture import LAYER_SHAPES, SELECTION_MODES, check_layer, is_spatial


@dataclass(frozen=True)
class SelectionPlan:
    """S selections on one layer: the channel of each, and for ``unit`` its flat position.

    ``positions[s]`` is the row-major index y * W + x inside channel
    ``channels[s]``; it is None except in ``unit`` mode. For fc layers each
    channel is one unit, so the modes coincide and positions are all 0.
    """

    layer: str
    mode: str
    channels: tuple[int, ...]
    positions: tuple[int, ...] | None

    def __len__(self) -> int:
        return len(self.channels)


def plan_selection(
    layer: str,
    mode: str,
    channels: Sequence[int] | None = None,
    units: Sequence[Sequence[int]] | None = None,
) -> SelectionPlan:
    """Check a selection request; ``channels=None`` in map/max mode means every channel."""
    check_layer(layer)
    if mode not in SELECTION_MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(SELECTION_MODES)}")
    shape = LAYER_SHAPES[layer]
    if mode == "unit":
        if channels is not None:
            raise ValueError("mode 'unit' takes units, not channels")
        if not units:
            raise ValueError(f"mode 'unit' needs at least one unit of layer {layer}")
        coords = [_check_unit(layer, tuple(int(i) for i in unit)) for unit in units]
        # A unit (c, y, x) is at y * W + x in channel c; an fc unit (j,) is channel j alone.
        positions = tuple(c[1] * shape[2] + c[2] if len(c) == 3 else 0 for c in coords)
        return SelectionPlan(layer, mode, tuple(c[0] for c in coords), positions)
    if units is not None:
        raise ValueError(f"mode {mode!r} takes channels, not units")
    if channels is None:
        channels = range(shape[0])
    channels = tuple(int(c) for c in channels)
    if not channels:
        raise ValueError("no channel selected")
    for c in channels:
        if not 0 <= c < shape[0]:
            raise ValueError(f"channel {c} out of range for layer {layer} (0..{shape[0] - 1})")
    return SelectionPlan(layer, mode, channels, None)


def _check_unit(layer: str, unit: tuple[int, ...]) -> tuple[int, ...]:
    shape = LAYER_SHAPES[layer]
    if len(unit) != len(shape):
        want = "(c, y, x)" if is_spatial(layer) else "(j,)"
        raise ValueError(f"a unit of layer {layer} is {want}, got {unit}")
    for i, n, axis in zip(unit, shape, ("channel", "y", "x"), strict=False):
        if not 0 <= i < n:
            raise ValueError(f"unit {unit} out of range for layer {layer} {shape}: {axis} {i}")
    return unit


def select(activations: np.ndarray, plan: SelectionPlan) -> np.ndarray:
    """Activations (N, *shape) -> (N, S, *shape): selection s keeps its entries, zeros the rest."""
    flat = _flat(activations, plan)
    n, size = len(flat), len(plan)
    out = np.zeros((n, size, *flat.shape[1:]), dtype=activations.dtype)
    if keeps_one_unit(plan):
        # The one entry each keeps, where selected_units finds it (its tie rule, nowhere else).
        where, value = selected_units(activations, plan)
        out.reshape(n, size, -1)[np.arange(n)[:, None], np.arange(size), where] = value
    else:
        chan = np.asarray(plan.channels)
        out[:, np.arange(size), chan, :] = flat[:, chan, :]
    return out.reshape(n, size, *LAYER_SHAPES[plan.layer])


def _flat(activations: np.ndarray, plan: SelectionPlan) -> np.ndarray:
    """Activations (N, *shape) checked against the plan, as (N, C, positions per channel)."""
    shape = LAYER_SHAPES[plan.layer]
    if activations.shape[1:] != shape:
        raise ValueError(
            f"activations of {plan.layer} must be (N, *{shape}), got {activations.shape}"
        )
    return activations.reshape(len(activations), shape[0], -1)


def keeps_one_unit(plan: SelectionPlan) -> bool:
    """Whether each selection keeps a single entry (``max``, ``unit``, any fc plan)."""
    return plan.mode != "map" or not is_spatial(plan.layer)


def selected_units(activations: np.ndarray, plan: SelectionPlan) -> tuple[np.ndarray, np.ndarray]:
    """(N, S) flat index into the layer and value of the entry each selection keeps.

    Only for plans whose selections keep one entry (keeps_one_unit): the index
    is c * H * W + y * W + x (fc: the unit), exactly where ``select`` puts it.
    """
    if not keeps_one_unit(plan):
        raise ValueError(f"map mode of {plan.layer} keeps a whole channel, not one unit")
    flat = _flat(activations, plan)
    n, per_channel = len(flat), flat.shape[2]
    chan = np.asarray(plan.channels)
    if per_channel == 1:
        pos = np.zeros((n, len(plan)), dtype=np.intp)
    elif plan.mode == "max":
        # np.argmax returns the first maximum: row-major tie-breaking (docs/deconvnet.md).
        pos = np.argmax(flat[:, chan, :], axis=2)
    else:
        pos = np.broadcast_to(np.asarray(plan.positions, dtype=np.intp), (n, len(plan)))
    value = flat[np.arange(n)[:, None], chan, pos]
    return chan * per_channel + pos, value


def live_selections(activations: np.ndarray, plan: SelectionPlan) -> np.ndarray:
    """(N, S): the selections that keep a non-zero value (the others project to exact zeros)."""
    if keeps_one_unit(plan):
        return selected_units(activations, plan)[1] != 0
    flat = _flat(activations, plan)
    return np.any(flat[:, np.asarray(plan.channels), :] != 0, axis=2)


def selections_differ(plan: SelectionPlan, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, S): where the plan keeps different non-zero entries of activations ``a`` and ``b``.

    The same as comparing ``select(a, plan) != 0`` with ``select(b, plan) != 0``
    entry by entry, without building either.
    """
    if keeps_one_unit(plan):
        where_a, value_a = selected_units(a, plan)
        where_b, value_b = selected_units(b, plan)
        kept_a, kept_b = value_a != 0, value_b != 0
        return (kept_a != kept_b) | (kept_a & (where_a != where_b))
    chan = np.asarray(plan.channels)
    kept_a = _flat(a, plan)[:, chan, :] != 0
    kept_b = _flat(b, plan)[:, chan, :] != 0
    return np.any(kept_a != kept_b, axis=2)
