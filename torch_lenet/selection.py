"""Which activations of a layer a projection keeps, in PyTorch: mirror of ``numpy_lenet.selection``.

The plan itself (``plan_selection``) is plain Python and shared with NumPy, so
both backends read the very same request; ``select`` applies it to tensors.
"""

from __future__ import annotations

import torch

from numpy_lenet.architecture import LAYER_SHAPES
from numpy_lenet.selection import SelectionPlan, plan_selection

__all__ = ["SelectionPlan", "plan_selection", "select"]


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
