"""The ReLU step of a mirror block under the three backward rules, in PyTorch.

Mirror of ``numpy_lenet.rules`` (which names the rules and explains them):
deconvnet relu(r); gradient r * [z > 0]; guided relu(r) * [z > 0].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from numpy_lenet.rules import DEFAULT_RULE, RULES, check_rule

__all__ = ["DEFAULT_RULE", "RULES", "check_rule", "rectify", "rectify_each"]


def rectify(signal: torch.Tensor, forward: torch.Tensor | None, rule: str) -> torch.Tensor:
    """The mirror ReLU step of ``rule`` on signal (n, S, *shape); forward is (n, *shape) or None."""
    # [z > 0] == [relu(z) > 0]; one image's mask serves all of its S selections.
    return rectify_each(signal, None if forward is None else forward[:, None], rule)


def rectify_each(signal: torch.Tensor, forward: torch.Tensor | None, rule: str) -> torch.Tensor:
    """``rectify`` where ``forward`` broadcasts to the signal: one activation per value."""
    if rule == "deconvnet":
        return F.relu(signal)
    if forward is None:
        raise ValueError(f"rule {rule!r} needs the forward activations of the projected images")
    return _masked(signal, forward > 0, rule)


def _masked(signal: torch.Tensor, active: torch.Tensor, rule: str) -> torch.Tensor:
    """The masked rules' step, given the forward mask ``active`` broadcast to the signal."""
    kept = F.relu(signal) if rule == "guided" else signal
    return torch.where(active, kept, torch.zeros((), dtype=signal.dtype, device=signal.device))
