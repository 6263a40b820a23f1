"""The mirror ReLU step under the three backward rules, in PyTorch (mirror of numpy_lenet.rules)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rectify(signal: torch.Tensor, forward: torch.Tensor | None, rule: str) -> torch.Tensor:
    """The mirror ReLU step of ``rule`` on signal (n, S, *shape); forward is (n, *shape) or None."""
    # [z > 0] == [relu(z) > 0]; one image's mask serves all of its S selections.
    return rectify_each(signal, None if forward is None else forward[:, None], rule)


def rectify_each(signal: torch.Tensor, forward: torch.Tensor | None, rule: str) -> torch.Tensor:
    """``rectify`` where ``forward`` broadcasts to the signal: one activation per value."""
    # deconvnet relu(r); gradient r * [z > 0]; guided relu(r) * [z > 0].
    if rule == "deconvnet":
        return F.relu(signal)
    if forward is None:
        raise ValueError(f"rule {rule!r} needs the forward activations of the projected images")
    kept = F.relu(signal) if rule == "guided" else signal
    return torch.where(forward > 0, kept, torch.zeros((), dtype=signal.dtype, device=signal.device))
