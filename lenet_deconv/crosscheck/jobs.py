"""What the cross-check projects: every layer, in every mode, every channel.

For fc layers a channel is one unit and the three modes coincide: the layer is
projected once (reported as mode ``fc``).
"""

from __future__ import annotations

from collections.abc import Sequence

from numpy_lenet.architecture import (
    LAYER_NAMES,
    LAYER_SHAPES,
    POOL_NAMES,
    SELECTION_MODES,
    check_layer,
    is_spatial,
)
from numpy_lenet.selection import SelectionPlan, plan_selection

FC_MODE = "fc"
Job = tuple[str, str]  # (layer, mode)


def unit_selections(layer: str) -> list[tuple[int, ...]]:
    """The units ``unit`` mode is checked at: every channel's centre unit (conv and pool layers)."""
    channels, height, width = LAYER_SHAPES[layer]
    return [(c, height // 2, width // 2) for c in range(channels)]


def jobs_for(layers: Sequence[str] = LAYER_NAMES) -> list[Job]:
    """Every (layer, mode) to project, bottom to top (fc layers once, as ``fc``); checks names."""
    for layer in layers:
        check_layer(layer)
    return [
        (layer, mode)
        for layer in LAYER_NAMES
        if layer in layers
        for mode in (SELECTION_MODES if is_spatial(layer) else [FC_MODE])
    ]


def plan_for(job: Job) -> SelectionPlan:
    """The selection plan of a job: every channel (unit mode: every channel's centre)."""
    layer, mode = job
    if mode == FC_MODE:
        return plan_selection(layer, "max")
    units = unit_selections(layer) if mode == "unit" else None
    return plan_selection(layer, mode, None, units)


def pools_below(layer: str) -> list[str]:
    """The pools whose switches a projection from ``layer`` goes through."""
    rank = LAYER_NAMES.index(layer)
    return [pool for pool in POOL_NAMES if LAYER_NAMES.index(pool) <= rank]
