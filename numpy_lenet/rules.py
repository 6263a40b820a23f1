"""The ReLU step of a mirror block under the three backward rules (docs/rules.md).

With z the forward ReLU's input and r the signal coming down: ``deconvnet``
relu(r), ``gradient`` r * [z > 0], ``guided`` relu(r) * [z > 0]. The recorded
activations are post-ReLU, a = relu(z), so [z > 0] is [a > 0]: the trace
already holds every mask.
"""

from __future__ import annotations

import numpy as np

from .functional import relu

RULES: tuple[str, ...] = ("deconvnet", "gradient", "guided")
DEFAULT_RULE = "deconvnet"
#: Rules whose ReLU step reads the forward pass (needs the trace's activations).
MASKED_RULES: tuple[str, ...] = ("gradient", "guided")


def check_rule(rule: str) -> None:
    """Raise ValueError unless ``rule`` is one of RULES."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; expected one of {', '.join(RULES)}")


def rectify(signal: np.ndarray, forward: np.ndarray | None, rule: str) -> np.ndarray:
    """The mirror ReLU step of ``rule`` on signal (n, S, *shape); forward is (n, *shape) or None.

    ``forward`` holds the layer's recorded (post-ReLU) activations of the same n
    images; only the masked rules read it.
    """
    # [z > 0] == [relu(z) > 0]; one image's mask serves all of its S selections.
    return rectify_each(signal, None if forward is None else forward[:, None], rule)


def rectify_last(signal: np.ndarray, forward: np.ndarray | None, rule: str) -> np.ndarray:
    """``rectify`` for signals with the selections last: (n, *shape, S); forward is (n, *shape)."""
    return rectify_each(signal, None if forward is None else forward[..., None], rule)


def rectify_each(signal: np.ndarray, forward: np.ndarray | None, rule: str) -> np.ndarray:
    """``rectify`` where ``forward`` broadcasts to the signal: one activation per value."""
    if rule == "deconvnet":
        return relu(signal)
    if forward is None:
        raise ValueError(f"rule {rule!r} needs the forward activations of the projected images")
    return _masked(signal, forward > 0, rule)


def _masked(signal: np.ndarray, active: np.ndarray, rule: str) -> np.ndarray:
    """The masked rules' step, given the forward mask ``active`` broadcast to the signal."""
    kept = relu(signal) if rule == "guided" else signal
    return np.where(active, kept, signal.dtype.type(0))
