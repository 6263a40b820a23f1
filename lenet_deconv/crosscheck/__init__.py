"""The end-to-end cross-check of the NumPy and PyTorch backends, and its error measures."""

from .agreement import relative_error, switch_flips
from .check import CrossCheck, crosscheck

__all__ = ["CrossCheck", "crosscheck", "relative_error", "switch_flips"]
