"""The lenet-deconv tool, where the NumPy and PyTorch backends meet: CLI, cross-check, figures."""

from .shipped import shipped_weights

__all__ = ["shipped_weights"]
