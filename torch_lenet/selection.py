"""Which activations of a layer a projection keeps, in PyTorch (mirror of numpy_lenet.selection)."""

from __future__ import annotations

import torch

from numpy_lenet.architecture import LAYER_SHAPES
from numpy_lenet.selection import SelectionPlan, keeps_one_unit

# The plan is plain Python shared with NumPy: both backends read the very same request.


def select(activations: torch.Tensor, plan: SelectionPlan) -> torch.Tensor:
    """Activations (N, *shape) -> (N, S, *shape): selection s keeps its entries, zeros the rest."""
    flat = _flat(activations, plan)
    n, size = flat.shape[0], len(plan)
    device = flat.device
    out = flat.new_zeros((n, size, *flat.shape[1:]))
    if keeps_one_unit(plan):
        # The one entry each keeps, where selected_units finds it (its tie rule, nowhere else).
        where, value = selected_units(activations, plan)
        rows = torch.arange(n, device=device)[:, None]
        out.reshape(n, size, -1)[rows, torch.arange(size, device=device), where] = value
    else:
        chan = torch.tensor(plan.channels, device=device)
        out[:, torch.arange(size, device=device), chan, :] = flat[:, chan, :]
    return out.reshape(n, size, *LAYER_SHAPES[plan.layer])


def _flat(activations: torch.Tensor, plan: SelectionPlan) -> torch.Tensor:
    """Activations (N, *shape) checked against the plan, as (N, C, positions per channel)."""
    shape = LAYER_SHAPES[plan.layer]
    if tuple(activations.shape[1:]) != shape:
        raise ValueError(
            f"activations of {plan.layer} must be (N, *{shape}), got {tuple(activations.shape)}"
        )
    return activations.reshape(activations.shape[0], shape[0], -1)


def selected_units(
    activations: torch.Tensor, plan: SelectionPlan
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, S) flat index into the layer and value of the entry each selection keeps (not map)."""
    if not keeps_one_unit(plan):
        raise ValueError(f"map mode of {plan.layer} keeps a whole channel, not one unit")
    flat = _flat(activations, plan)
    n, per_channel = flat.shape[0], flat.shape[2]
    device = flat.device
    chan = torch.tensor(plan.channels, device=device)
    if plan.mode == "unit":
        pos = torch.tensor(plan.positions, device=device).expand(n, len(plan))
    else:
        # torch.argmax returns the first maximum: row-major tie-breaking (0 for an fc unit).
        pos = torch.argmax(flat[:, chan, :], dim=2)
    value = flat[torch.arange(n, device=device)[:, None], chan, pos]
    return chan * per_channel + pos, value


def live_selections(activations: torch.Tensor, plan: SelectionPlan) -> torch.Tensor:
    """(N, S): the selections that keep a non-zero value (the others project to exact zeros)."""
    if keeps_one_unit(plan):
        return selected_units(activations, plan)[1] != 0
    flat = _flat(activations, plan)
    chan = torch.tensor(plan.channels, device=flat.device)
    return torch.any(flat[:, chan, :] != 0, dim=2)
